"""Alembic migrations of the control database (record data tables are not managed here)."""
