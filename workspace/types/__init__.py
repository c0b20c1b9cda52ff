"""Record types and their fields: create, change and delete them while records exist, and
adopt a customer's existing table as a record type."""
