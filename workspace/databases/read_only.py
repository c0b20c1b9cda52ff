"""The old copy a move leaves behind, made read-only by its database, not only by this server.

After a switch nothing in this server writes to the old copy, but another system or a person
with SQL still could, and a retired copy that drifts is what the users' method warns
against. So each of its tables gets triggers that refuse INSERT, UPDATE and DELETE with a
message naming where the live records are and since when. They go with the tables: retiring
the old copy drops them, and a move back onto that database drops the stale tables before
copying into fresh ones.

What this cannot stop, said in the UI and README: a user with the TRIGGER privilege (root,
the customer's DBA) can drop the triggers, and DDL such as TRUNCATE or DROP TABLE does not
fire them. Where the server's user lacks TRIGGER (or binary logging asks for SUPER), the copy
is kept read-only by this server alone, and the move says why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from workspace.db import is_mysql, transaction
from workspace.errors import WorkspaceError
from workspace.schema import ddl

#: The only tables a move copies (data_move_tables): records, links, dedupe keys.
_MOVED_TABLE = re.compile(r"^(rt|lnk|dk)_[0-9]+$")
_EVENTS = (("ins", "INSERT"), ("upd", "UPDATE"), ("del", "DELETE"))
#: MySQL's limit on a SIGNAL message.
_LONGEST = 128
#: The value of ``data_moves.old_copy_guard`` when every table has its triggers.
ENFORCED = "triggers"


def refuse_writes(engine: Engine, names: Sequence[str], message: str) -> str:
    """Give each of the tables ``names`` triggers that refuse every row change with
    ``message``. Returns :data:`ENFORCED`, or why the database would not take them (then none
    are left behind: a copy half guarded would mislead)."""
    text = _literal(message)
    try:
        with transaction(engine, write=True) as conn:
            mysql = is_mysql(conn)
            present = ddl.existing_tables(conn)
            for name in names:
                if name not in present:
                    continue
                for trigger, event in _triggers(name):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
                    conn.exec_driver_sql(_create(mysql, trigger, event, name, text))
    except (DBAPIError, WorkspaceError) as exc:
        allow_writes(engine, names)
        return f"not enforced by the database: {_reason(exc)}"
    return ENFORCED


def allow_writes(engine: Engine, names: Sequence[str]) -> None:
    """Drop the triggers :func:`refuse_writes` made (if any) on the tables ``names``."""
    try:
        with transaction(engine, write=True) as conn:
            for name in names:
                for trigger, _ in _triggers(name):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
    except (DBAPIError, WorkspaceError):
        pass  # none were made, or they are on tables this server no longer uses


def _triggers(table: str) -> list[tuple[str, str]]:
    if not _MOVED_TABLE.match(table):  # names come from data_move_tables; never user text
        raise ValueError(f"not a table a move copies: {table!r}")
    return [(f"ro_{table}_{suffix}", event) for suffix, event in _EVENTS]


def _create(mysql: bool, trigger: str, event: str, table: str, text: str) -> str:
    if mysql:
        return (
            f"CREATE TRIGGER {trigger} BEFORE {event} ON {table} FOR EACH ROW "
            f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{text}'"
        )
    return (
        f"CREATE TRIGGER {trigger} BEFORE {event} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{text}'); END"
    )


def _literal(message: str) -> str:
    """The message as a safe SQL string body: plain characters only (a location may hold
    a host or database name an admin typed), at most MySQL's length."""
    return re.sub(r"[^A-Za-z0-9 .,:;_@/()#+-]", "?", message)[:_LONGEST]


def _reason(exc: Exception) -> str:
    if isinstance(exc, WorkspaceError):
        return exc.message
    orig = getattr(exc, "orig", None)
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    return str(args[1]) if len(args) > 1 else str(orig or exc)
