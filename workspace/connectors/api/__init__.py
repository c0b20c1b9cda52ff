"""The connectors API: connections, mappings, runs and conflicts; field owners, the
ownership map and retiring; and the address vendor webhooks are sent to."""
