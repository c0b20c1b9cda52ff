"""The protocol every change to a record table follows, so metadata and table never disagree.

MySQL commits each DDL statement on its own, so "write the metadata and ALTER in one
transaction" is impossible. Instead a change is written down first (``pending_change`` on the
record type, with a lease), then the idempotent DDL runs, then the metadata is finalised and
the schema version bumped in one transaction. If the process dies anywhere in between, the
next schema change on that type (or the next server start) finds the expired lease and
finishes or undoes the change from what was written down.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, delete, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import gate
from workspace.db import transaction
from workspace.errors import Conflict
from workspace.runtime import Runtime
from workspace.schema import ddl, definitions
from workspace.types import choice_edits

log = logging.getLogger(__name__)
RT, F = m.record_types, m.fields
LEASE = dt.timedelta(minutes=5)


def begin(runtime: Runtime, record_type_id: int, op: dict[str, Any], *, pause: bool) -> None:
    """Claim the record type for one change. ``pause`` stops record writes until ``finish``.

    Taking the row lock waits for in-flight record writes (they hold it shared), so after this
    commits no write is using the old definition.
    """
    for attempt in (1, 2):
        with transaction(runtime.control, write=True) as conn:
            gate.refuse_type_change(conn, record_type_id)
            row = conn.execute(select(RT).where(RT.c.id == record_type_id).with_for_update()).one()
            stale = row.pending_change is not None and row.lease_until < utcnow()
            if row.pending_change is None:
                values: dict[str, Any] = {"pending_change": op, "lease_until": utcnow() + LEASE}
                if pause:
                    values.update(state="changing", schema_version=row.schema_version + 1)
                conn.execute(update(RT).where(RT.c.id == record_type_id).values(values))
                # Where the records live is read afresh for the change's DDL: a move may
                # have switched the workspace since this process cached it.
                runtime.data_engines.forget(row.workspace_id)
                return
        if not stale or attempt == 2:
            raise Conflict("another change to this record type is in progress; retry shortly")
        recover(runtime, record_type_id)


def publish(conn: Connection, record_type_id: int, **values: Any) -> None:
    """Inside the caller's metadata transaction: bump the schema version (and set ``values``).

    The exclusive row lock waits for in-flight record writes, which hold it shared, so once
    this commits every writer uses the new definition. Refused while the workspace's records
    are being moved.
    """
    gate.refuse_type_change(conn, record_type_id)
    current = conn.execute(
        select(RT.c.schema_version).where(RT.c.id == record_type_id).with_for_update()
    ).scalar_one()
    conn.execute(
        update(RT).where(RT.c.id == record_type_id).values(schema_version=current + 1, **values)
    )


def finish(conn: Connection, record_type_id: int, **values: Any) -> None:
    """Publish the change and release the claim ``begin`` took."""
    values.setdefault("state", "ready")
    publish(conn, record_type_id, pending_change=None, lease_until=None, **values)


def release(runtime: Runtime, record_type_id: int) -> None:
    """Give up a claim without changing anything (a change refused after ``begin``)."""
    with transaction(runtime.control, write=True) as conn:
        finish(conn, record_type_id)


def note_progress(conn: Connection, record_type_id: int, op: dict[str, Any]) -> None:
    """Write down how far a change got, so whoever completes it goes on from there."""
    conn.execute(update(RT).where(RT.c.id == record_type_id).values(pending_change=op))


def renew(runtime: Runtime, record_type_id: int) -> None:
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(RT).where(RT.c.id == record_type_id).values(lease_until=utcnow() + LEASE)
        )


@contextmanager
def undo_on_error(runtime: Runtime, record_type_id: int) -> Iterator[None]:
    """Run a change's steps; if one fails, undo what the written-down change allows."""
    try:
        yield
    except BaseException:
        try:
            complete(runtime, record_type_id)
        except Exception:
            log.exception("could not undo the failed change of record type %s", record_type_id)
        raise


# ---- recovery --------------------------------------------------------------------------


def complete(runtime: Runtime, record_type_id: int) -> None:
    """Finish or undo the written-down change of a record type, from any process.

    Changes end through here in the normal case too: the code that cleans up after a crash
    is the code that runs every day.
    """
    with transaction(runtime.control) as conn:
        row = conn.execute(select(RT).where(RT.c.id == record_type_id)).first()
    if row is None or row.pending_change is None:
        return
    op = row.pending_change
    COMPLETION[op["op"]](runtime, row._mapping, op)


def recover(runtime: Runtime, record_type_id: int) -> None:
    log.warning("recovering record type %s from an unfinished schema change", record_type_id)
    complete(runtime, record_type_id)


def recover_all(runtime: Runtime) -> None:
    """At startup: recover every record type whose change lease has run out."""
    with transaction(runtime.control) as conn:
        ids = conn.execute(
            select(RT.c.id).where(RT.c.pending_change.is_not(None), RT.c.lease_until < utcnow())
        ).scalars()
        stale = list(ids)
    for record_type_id in stale:
        recover(runtime, record_type_id)


def _data(runtime: Runtime, row: Any) -> Any:
    return runtime.data_engine(row["workspace_id"])


def _def_with(runtime: Runtime, conn: Connection, row: Any, states: tuple[str, ...]) -> Any:
    fields = [f for s in states for f in definitions.field_rows(conn, row["id"], s)]
    return definitions.def_from_rows(row, fields, runtime.field_types)


def _undo_create_type(runtime: Runtime, row: Any, op: dict[str, Any]) -> None:
    with transaction(runtime.control) as conn:
        rt = _def_with(runtime, conn, row, ("ready", "pending"))
    with transaction(_data(runtime, row), write=True) as data:
        ddl.drop_record_table(data, rt)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(RT).where(RT.c.id == row["id"]))


def _finish_delete_type(runtime: Runtime, row: Any, op: dict[str, Any]) -> None:
    with transaction(runtime.control) as conn:
        rt = _def_with(runtime, conn, row, ("ready", "pending", "deleting"))
        inbound = [
            (definitions.field_def(f, runtime.field_types), f["record_type_id"])
            for f in conn.execute(select(F).where(F.c.id.in_(op.get("inbound", []))))
            .mappings()
            .all()
        ]
    with transaction(_data(runtime, row), write=True) as data:
        for f, _owner in inbound:
            ddl.drop_field(data, rt, f)
        ddl.drop_record_table(data, rt)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(F).where(F.c.id.in_(op.get("inbound", []))))
        conn.execute(delete(RT).where(RT.c.id == row["id"]))
        # Types that lost a relation field: if the change died before it marked them, their
        # definition changes only now, and every process must notice.
        for owner in sorted({owner for _, owner in inbound} - {row["id"]}):
            publish(conn, owner)


def _undo_add_field(runtime: Runtime, row: Any, op: dict[str, Any]) -> None:
    _drop_fields(runtime, row, [op["field"]], ("pending",))


def _finish_delete_field(runtime: Runtime, row: Any, op: dict[str, Any]) -> None:
    _drop_fields(runtime, row, [op["field"]], ("deleting",))


def _drop_fields(runtime: Runtime, row: Any, field_ids: list[int], states: tuple[str, ...]) -> None:
    with transaction(runtime.control) as conn:
        rt = _def_with(runtime, conn, row, ("ready",))
        doomed = [
            definitions.field_def(f, runtime.field_types)
            for s in states
            for f in definitions.field_rows(conn, row["id"], s)
            if f["id"] in field_ids
        ]
    with transaction(_data(runtime, row), write=True) as data:
        for f in doomed:
            ddl.drop_field(data, rt, f)
        ddl.reconcile_indexes(data, rt)
    with transaction(runtime.control, write=True) as conn:
        # Only the rows whose columns were dropped above: a field still "ready" (the change
        # died before marking it) keeps its row, and the change is undone instead.
        conn.execute(delete(F).where(F.c.id.in_([f.id for f in doomed])))
        finish(conn, row["id"])


def _reconcile_indexes(runtime: Runtime, row: Any, op: dict[str, Any]) -> None:
    """Index changes: make the table's indexes match the definition, then release."""
    with transaction(runtime.control) as conn:
        rt = _def_with(runtime, conn, row, ("ready",))
    with transaction(_data(runtime, row), write=True) as data:
        ddl.reconcile_indexes(data, rt)
    with transaction(runtime.control, write=True) as conn:
        finish(conn, row["id"])


def _undo_or_finish_convert(runtime: Runtime, row: Any, op: dict[str, Any]) -> None:
    """A conversion is done once the field row points at the new column; else undo it."""
    with transaction(runtime.control) as conn:
        rt = _def_with(runtime, conn, row, ("ready",))
        field_row = conn.execute(select(F).where(F.c.id == op["field"])).mappings().first()
    switched = field_row is not None and field_row["column_name"] == op["new_column"]
    leftover = dict(op["new"] if not switched else op["old"])
    leftover_def = definitions.field_def(leftover, runtime.field_types)
    with transaction(_data(runtime, row), write=True) as data:
        ddl.drop_field(data, rt, leftover_def)
    with transaction(runtime.control, write=True) as conn:
        finish(conn, row["id"])


def _finish_choices(runtime: Runtime, row: Any, op: dict[str, Any]) -> None:
    """Choice edits carry themselves out; this module keeps their books."""
    if not choice_edits.apply(runtime, row, op, note_progress=note_progress, finish=finish):
        release(runtime, row["id"])


def _undo_dedupe_rule(runtime: Runtime, row: Any, op: dict[str, Any]) -> None:
    """A rule being added: its keys are garbage unless its config row made it in."""
    with transaction(runtime.control) as conn:
        rt = _def_with(runtime, conn, row, ("ready",))
        saved = conn.execute(
            select(m.dedupe_rules.c.rule, m.dedupe_rules.c.field_ids).where(
                m.dedupe_rules.c.record_type_id == row["id"]
            )
        ).all()
    signatures = {f"{rule}:" + "-".join(str(i) for i in ids) for rule, ids in saved}
    if op["signature"] not in signatures:
        with transaction(_data(runtime, row), write=True) as data:
            if rt.keys_table.name in ddl.existing_tables(data):
                keys = rt.keys_table
                data.execute(delete(keys).where(keys.c.signature == op["signature"]))
    with transaction(runtime.control, write=True) as conn:
        finish(conn, row["id"])


COMPLETION = {
    "dedupe_rule": _undo_dedupe_rule,
    "create_type": _undo_create_type,
    "delete_type": _finish_delete_type,
    "add_field": _undo_add_field,
    "delete_field": _finish_delete_field,
    "indexes": _reconcile_indexes,
    "convert_field": _undo_or_finish_convert,
    "choices": _finish_choices,
}
