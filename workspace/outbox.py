"""The transactional outbox: every change that others may react to, written in the same
transaction as the change.

A crash can then neither lose the event of a committed change nor deliver the event of a
rolled-back one: the row commits or rolls back with the change. The worker
(``workspace.jobs.dispatch``) later hands each row to the event consumers and marks it
dispatched. Record changes reach this module through ``activity.write``, the one funnel of
record history; merges, form outcomes and queued duplicates write their events where they
happen. ``record.converted`` is kept for converting a lead into a contact, written by that
service when it exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert

from workspace import models as m
from workspace.clock import utcnow
from workspace.principal import Principal

OUTBOX = m.event_outbox
INSERT = insert(OUTBOX)

KINDS = (
    "record.created",
    "record.updated",
    "record.deleted",
    "record.restored",
    "record.merged",
    "record.converted",
    "form.submitted",
    "duplicate.queued",
)
#: Activity actions that are record changes, and the event each one is.
ACTION_KINDS = {
    "create": "record.created",
    "update": "record.updated",
    "delete": "record.deleted",
    "restore": "record.restored",
}


@dataclass(frozen=True)
class OutboxEvent:
    """A change as consumers see it. ``changes`` are the activity history's
    ``[{"field", "old", "new"}]``; ``data`` holds what a kind adds (a merge's survivor and
    loser, a form's outcome); ``chain`` the (automation id, record id) pairs of the
    automation runs that led to this change (the loop guard reads it)."""

    workspace_id: int
    kind: str
    record_type_id: int | None = None
    record_id: int | None = None
    actor_user_id: int | None = None
    source: str = "system"
    source_ref: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    chain: tuple[tuple[int, int], ...] = ()
    at: dt.datetime | None = None
    #: The outbox row's id once stored (0 before).
    id: int = 0

    def changed(self, key: str) -> dict[str, Any] | None:
        """The change of field ``key`` (with its old and new value), if this event has one."""
        return next((c for c in self.changes if c.get("field") == key), None)


def by(principal: Principal, workspace_id: int, kind: str, **values: Any) -> OutboxEvent:
    """An event of ``kind`` made by ``principal`` (who, through what, in which chain)."""
    return OutboxEvent(
        workspace_id=workspace_id,
        kind=kind,
        actor_user_id=principal.user_id,
        source=principal.source,
        source_ref=principal.source_ref,
        chain=principal.chain,
        **values,
    )


def write(conn: Connection, events: Sequence[OutboxEvent]) -> None:
    """Store ``events`` in the caller's transaction, in one statement."""
    if not events:
        return
    now = utcnow()
    conn.execute(INSERT, [_row(e, now) for e in events])


def _row(e: OutboxEvent, now: dt.datetime) -> dict[str, Any]:
    assert e.kind in KINDS, e.kind
    return {
        "workspace_id": e.workspace_id,
        "kind": e.kind,
        "record_type_id": e.record_type_id,
        "record_id": e.record_id,
        "actor_user_id": e.actor_user_id,
        "source": e.source,
        "source_ref": e.source_ref,
        "changes": e.changes,
        "data": e.data,
        "chain": [list(link) for link in e.chain],
        "at": e.at or now,
    }


def from_row(row: Mapping[str, Any]) -> OutboxEvent:
    """An event as stored, for the dispatcher."""
    return OutboxEvent(
        workspace_id=row["workspace_id"],
        kind=row["kind"],
        record_type_id=row["record_type_id"],
        record_id=row["record_id"],
        actor_user_id=row["actor_user_id"],
        source=row["source"],
        source_ref=row["source_ref"],
        changes=list(row["changes"] or []),
        data=dict(row["data"] or {}),
        chain=tuple((int(a), int(r)) for a, r in row["chain"] or []),
        at=row["at"],
        id=row["id"],
    )
