"""Connectors: connections to SaaS tools, which tool owns which field, mappings of remote
objects to record types, the external-id map, pulls and pushes with every payload kept."""
