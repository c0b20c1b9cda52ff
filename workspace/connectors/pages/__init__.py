"""The connectors' pages: Connections under a workspace's settings (connect, test, map,
sync, runs with every payload, conflicts) and each record type's ownership map."""
