"""Alembic environment: migrates the control schema, never the record tables.

Record data tables (``rt_*``, ``lnk_*``) belong to the schema engine; ``include_name`` keeps
autogenerate from proposing to drop them.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from workspace.models import metadata
from workspace.schema.naming import is_record_table


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and name is not None and is_record_table(name))


def run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as conn:
            _configure_and_run(conn)
        return
    _configure_and_run(connection)


def _configure_and_run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=include_name,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
