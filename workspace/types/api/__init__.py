"""The API of record types, fields and adopted tables."""
