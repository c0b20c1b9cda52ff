"""The schema engine: record types as real tables. Imports only SQLAlchemy, Alembic and db."""
