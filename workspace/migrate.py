"""Run Alembic migrations of the control database, safely from several processes at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

import migrations

LOCK_NAME = "workspace_migrate"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s_%%(rev)s")
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the control schema to ``revision``; concurrent callers wait for each other."""
    with engine.connect() as conn, _migration_lock(conn):
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    # Two servers starting together must not both create the same tables. SQLite serialises
    # writers itself; MySQL gets a named lock held by this connection.
    if conn.dialect.name not in {"mysql", "mariadb"}:
        yield
        return
    got = conn.execute(text("SELECT GET_LOCK(:name, 120)"), {"name": LOCK_NAME}).scalar()
    if got != 1:
        raise SystemExit("could not get the migration lock within 120 s")
    try:
        yield
    finally:
        conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
