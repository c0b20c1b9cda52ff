"""Sync runs and every payload they took in or sent out, with its outcome.

Like an import's rows and a form's submissions: nothing a tool sends is lost. Each remote row
pulled, each webhook received and each change pushed is kept (size-capped) with what became
of it: created, linked (matched to a record already on file), updated, unchanged, conflict,
rejected (with the reason), deleted (in the tool), pushed, or pending (a webhook waiting for
a running sync). Rows are written in the transaction that writes their records, so the kept
outcome and the data never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import NotFound, ValidationFailed
from workspace.principal import Access
from workspace.runtime import Runtime

RUNS, ROWS, CN = m.sync_runs, m.sync_rows, m.connections
OUTCOMES = (
    "pending",
    "created",
    "linked",
    "updated",
    "unchanged",
    "conflict",
    "rejected",
    "deleted",
    "pushed",
)
#: Largest payload kept as it came (bytes of its JSON); larger ones keep their start.
PAYLOAD_BYTES = 64 * 1024


def capped(payload: Any) -> Any:
    """The payload as kept: as it came when small (it is JSON already: a vendor's answer or
    a webhook's body), otherwise its first bytes as text and its size (a 1 MB field value
    is a reason to refuse, not to store)."""
    text = json.dumps(payload, default=str, ensure_ascii=False)
    if len(text) <= PAYLOAD_BYTES // 4:  # small whatever its characters
        return payload
    size = len(text.encode())
    if size <= PAYLOAD_BYTES:
        return json.loads(text)
    head = text.encode()[:PAYLOAD_BYTES].decode("utf-8", "ignore")
    return {"truncated": True, "bytes": size, "start": head}


def start(
    conn: Connection,
    workspace_id: int,
    connection_id: int,
    *,
    kind: str,
    trigger: str,
    by: int | None,
    state: str = "running",
) -> int:
    return inserted_id(
        conn.execute(
            insert(RUNS).values(
                workspace_id=workspace_id,
                connection_id=connection_id,
                kind=kind,
                trigger=trigger,
                state=state,
                progress={},
                started_by=by,
                started_at=utcnow(),
                finished_at=None if state == "running" else utcnow(),
            )
        )
    )


def keep(conn: Connection, run_id: int, connection_id: int, rows: Sequence[dict[str, Any]]) -> None:
    """Store rows ``{remote_object, remote_id, payload, outcome, record_id, detail}``."""
    if not rows:
        return
    now = utcnow()
    conn.execute(
        insert(ROWS),
        [
            {
                "run_id": run_id,
                "connection_id": connection_id,
                "remote_object": r["remote_object"],
                "remote_id": r.get("remote_id"),
                "payload": capped(r.get("payload")),
                "outcome": r["outcome"],
                "record_id": r.get("record_id"),
                "detail": r.get("detail"),
                "at": now,
            }
            for r in rows
        ],
    )


def decide(conn: Connection, row_id: int, outcome: str, record_id: int | None, detail: Any) -> bool:
    """Set a pending row's outcome; False if another process decided it first."""
    done = conn.execute(
        update(ROWS)
        .where(ROWS.c.id == row_id, ROWS.c.outcome == "pending")
        .values(outcome=outcome, record_id=record_id, detail=detail, at=utcnow())
    )
    return bool(done.rowcount == 1)


def progress(conn: Connection, run_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(progress=values))


def finish(runtime: Runtime, run_id: int, state: str, error: str | None = None) -> None:
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(RUNS)
            .where(RUNS.c.id == run_id)
            .values(state=state, error=(error or None) and error[:2000], finished_at=utcnow())
        )


def counts(conn: Connection, run_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Rows per outcome (every outcome listed) of each run, in one query."""
    found = {run_id: dict.fromkeys(OUTCOMES, 0) for run_id in run_ids}
    if run_ids:
        query = (
            select(ROWS.c.run_id, ROWS.c.outcome, func.count())
            .where(ROWS.c.run_id.in_(list(run_ids)))
            .group_by(ROWS.c.run_id, ROWS.c.outcome)
        )
        for run_id, outcome, n in conn.execute(query):
            found[run_id][outcome] = n
    return found


def public(row: Any, counted: dict[str, int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "connection": row.connection_id,
        "kind": row.kind,
        "trigger": row.trigger,
        "state": row.state,
        "progress": row.progress,
        "error": row.error,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "rows": sum(counted.values()),
        "counts": counted,
    }


def summary(runtime: Runtime, run_id: int) -> dict[str, Any]:
    """A run with its counts (for the code that ran it)."""
    with transaction(runtime.control) as conn:
        row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).one()
        return public(row, counts(conn, [run_id])[run_id])


def _connection(conn: Connection, acc: Access, connection_id: int) -> None:
    found = conn.execute(
        select(CN.c.id).where(CN.c.id == connection_id, CN.c.workspace_id == acc.workspace_id)
    ).first()
    if found is None:
        raise NotFound("connection not found")


def list_runs(
    runtime: Runtime, acc: Access, connection_id: int, *, limit: int = 20
) -> list[dict[str, Any]]:
    """The connection's runs, newest first, counted by outcome."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        _connection(conn, acc, connection_id)
        rows = conn.execute(
            select(RUNS)
            .where(RUNS.c.connection_id == connection_id)
            .order_by(RUNS.c.id.desc())
            .limit(limit)
        ).all()
        counted = counts(conn, [r.id for r in rows])
    return [public(r, counted[r.id]) for r in rows]


def get_run(runtime: Runtime, acc: Access, connection_id: int, run_id: int) -> dict[str, Any]:
    acc.require("admin")
    with transaction(runtime.control) as conn:
        _connection(conn, acc, connection_id)
        row = conn.execute(
            select(RUNS).where(RUNS.c.id == run_id, RUNS.c.connection_id == connection_id)
        ).first()
        if row is None:
            raise NotFound("sync run not found")
        return public(row, counts(conn, [run_id])[run_id])


def run_rows(
    runtime: Runtime,
    acc: Access,
    connection_id: int,
    run_id: int,
    *,
    outcome: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> dict[str, Any]:
    """A run's payloads in the order they came, optionally of one outcome."""
    get_run(runtime, acc, connection_id, run_id)
    if outcome is not None and outcome not in OUTCOMES:
        raise ValidationFailed.single("outcome", "must be one of " + ", ".join(OUTCOMES))
    if not 1 <= limit <= 1000:
        raise ValidationFailed.single("limit", "must be from 1 to 1000")
    query = select(ROWS).where(ROWS.c.run_id == run_id, ROWS.c.id > after)
    if outcome is not None:
        query = query.where(ROWS.c.outcome == outcome)
    with transaction(runtime.control) as conn:
        found = conn.execute(query.order_by(ROWS.c.id).limit(limit + 1)).all()
    items = [
        {
            "id": r.id,
            "object": r.remote_object,
            "remote_id": r.remote_id,
            "outcome": r.outcome,
            "record": r.record_id,
            "detail": r.detail,
            "payload": r.payload,
            "at": r.at,
        }
        for r in found[:limit]
    ]
    more = len(found) > limit
    return {"items": items, "next_after": items[-1]["id"] if more else None}
