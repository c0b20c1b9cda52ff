"""The Alembic migrations build exactly the control schema of workspace/models.py, and every
one of them can be undone, on SQLite and on MySQL."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from workspace import migrate
from workspace import models as m


def _downgrade_to_base(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
            conn.commit()
    finally:
        engine.dispose()


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": _other_ddl})
            return list(compare_metadata(context, m.metadata))
    finally:
        engine.dispose()


def _other_ddl(context: Any, _inspected: Any, _column: Any, found: Any, wanted: Any) -> bool | None:
    """Types spelled the same by the database are the same (Alembic's own check calls
    LargeBinary(2**24) and the LONGBLOB MySQL makes of it different); otherwise Alembic's
    check decides (None)."""
    dialect = context.dialect
    return False if found.compile(dialect=dialect) == wanted.compile(dialect=dialect) else None


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_the_migrations_build_the_models_and_undo_cleanly(fresh_url):
    engine = create_engine(fresh_url)
    migrate.upgrade(engine)
    engine.dispose()
    assert _differences(fresh_url) == []
    _downgrade_to_base(fresh_url)
    assert _tables(fresh_url) == set()
    engine = create_engine(fresh_url)
    migrate.upgrade(engine)
    engine.dispose()
    assert _tables(fresh_url) == set(m.metadata.tables)
