"""Time triggers: a date field reached, a schedule. A periodic task of the worker fires
every automation whose ``next_fire_at`` has come: one run per record the trigger picks (and
the conditions' filter lets through), at most ``MAX_RECORDS`` per firing, then the next
firing is set. The update of ``next_fire_at`` is a compare-and-set, so a firing starts its
runs once however many workers look.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import and_, select, update

from workspace import models as m
from workspace.automations import engine, runs
from workspace.automations.kinds import registries
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import WorkspaceError
from workspace.jobs.kinds import PeriodicTask
from workspace.runtime import Runtime
from workspace.schema import queries
from workspace.schema.fields import ValueContext

log = logging.getLogger(__name__)
A = m.automations
MAX_RECORDS = 1000


def fire_due(runtime: Runtime, now: dt.datetime | None = None) -> int:
    """Fire every automation that is due at ``now``; returns how many runs were started."""
    now = now or utcnow()
    with transaction(runtime.control) as conn:
        due = [
            dict(r)
            for r in conn.execute(
                select(A).where(A.c.enabled.is_(True), A.c.next_fire_at <= now)
            ).mappings()
        ]
    return sum(_fire(runtime, automation, now) for automation in due)


def _fire(runtime: Runtime, automation: dict[str, Any], now: dt.datetime) -> int:
    regs = registries(runtime.pm)
    try:
        prepared = engine.prepare(runtime, automation, [], None)
    except WorkspaceError as exc:
        engine.disable(runtime, automation["id"], f"turned off: {exc.message}")
        return 0
    trigger = regs.triggers.get(automation["trigger_type"])
    config = {k: v for k, v in automation["trigger"].items() if k != "type"}
    fired_at = automation["next_fire_at"]
    ids = _records(runtime, prepared, trigger.records_due(config, fired_at, prepared.zone))
    following = trigger.next_fire(config, max(now, fired_at), prepared.zone)
    with transaction(runtime.control, write=True) as conn:
        moved = conn.execute(
            update(A)
            .where(A.c.id == automation["id"], A.c.next_fire_at == fired_at)
            .values(next_fire_at=following)
        ).rowcount
        if not moved:
            return 0
        cause = {"kind": automation["trigger_type"], "fired_at": fired_at.isoformat()}
        for record_id in ids:
            runs.start(conn, automation, record_id, cause)
    if len(ids) == MAX_RECORDS:
        log.warning(
            "automation %s fired on its first %s records only", automation["id"], MAX_RECORDS
        )
    return len(ids)


def _records(runtime: Runtime, prepared: engine.Prepared, tree: Any) -> list[int]:
    rt, acc = prepared.rt, prepared.acc
    ctx = ValueContext(acc.phone_region)
    wanted = [tree, prepared.definition.conditions.get("filter")]
    where = and_(*(queries.parse_filter(rt, t, runtime.field_types, ctx) for t in wanted))
    query = (
        queries.base_select(rt, "exclude")
        .with_only_columns(rt.table.c.id)
        .where(where)
        .order_by(rt.table.c.id)
        .limit(MAX_RECORDS)
    )
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        return list(conn.execute(query).scalars())


def _tick(runtime: Runtime) -> None:
    fire_due(runtime)


TASK = PeriodicTask("automations.timers", dt.timedelta(minutes=1), _tick)
