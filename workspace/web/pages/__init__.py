"""The web UI: server-rendered pages with htmx, on the same services as the API."""
