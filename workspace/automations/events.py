"""From outbox events to runs: the automations' consumer of the event outbox.

It runs inside the worker's dispatch transaction, so the runs it starts (and their jobs)
commit exactly when the event is marked dispatched: an event leads to its runs once. It only
reads the automations table and the event; conditions need the record and are tested when
the run starts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from workspace import models as m
from workspace.automations import runs
from workspace.automations.kinds import registries
from workspace.outbox import OutboxEvent
from workspace.runtime import Runtime

A = m.automations


class Consumer:
    """``consumer(conn, event)`` for ``register_event_consumers``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        #: The automations read for one dispatch batch (its connection), by workspace and
        #: event kind: a batch of a hundred events of one workspace reads them once.
        self._batch: tuple[Connection | None, dict[tuple[int, str], list[dict[str, Any]]]] = (
            None,
            {},
        )

    def __call__(self, conn: Connection, event: OutboxEvent) -> None:
        regs = registries(self.runtime.pm)
        for automation in self._candidates(conn, event, regs.triggers_for(event.kind)):
            trigger = regs.triggers.get(automation["trigger_type"])
            config = {k: v for k, v in automation["trigger"].items() if k != "type"}
            if automation["record_type_id"] != event.record_type_id:
                continue
            if not trigger.matches(config, event):
                continue
            record_id = trigger.record_id(config, event)
            runs.start(conn, automation, record_id, described(event), event.chain)

    def _candidates(
        self, conn: Connection, event: OutboxEvent, types: list[str]
    ) -> list[dict[str, Any]]:
        if not types:
            return []
        if self._batch[0] is not conn:
            self._batch = (conn, {})
        known = self._batch[1]
        key = (event.workspace_id, event.kind)
        if key not in known:
            query = select(A).where(
                A.c.workspace_id == event.workspace_id,
                A.c.trigger_type.in_(types),
                A.c.enabled.is_(True),
            )
            known[key] = [dict(r) for r in conn.execute(query).mappings()]
        return known[key]


def described(event: OutboxEvent) -> dict[str, Any]:
    """The event as a run keeps it (and templates read it as ``trigger``)."""
    return {
        "kind": event.kind,
        "event": event.id,
        "record": event.record_id,
        "changes": event.changes,
        "data": event.data,
        "source": event.source,
        "source_ref": event.source_ref,
        "actor": event.actor_user_id,
        "at": event.at.isoformat() if event.at else None,
    }
