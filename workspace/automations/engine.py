"""Running an automation run: the handler of the ``automation.run`` job.

A run checks its automation against the record type as it is now (a field deleted since
disables the automation with a notice and stops the run: no crash loop), waits its turn under
the workspace's rate cap (the excess is queued, never dropped), tests the conditions once,
then does its steps from where it is. Each step's effects and its log line commit together
(``steps``); a step that raises is logged with its error and the job retried with backoff
from that step; after ``WORKSPACE_AUTOMATION_ATTEMPTS`` the run is dead, in the dead letter,
until replayed from the failed step or dismissed.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import traceback
import weakref
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pluggy
from sqlalchemy import bindparam, func, select, update

from workspace import models as m
from workspace.access import workspaces
from workspace.automations import checks, conditions, steps
from workspace.automations.context import StepContext
from workspace.automations.kinds import RecordGone, StepFailed, StepRefused, registries
from workspace.cache import TtlCache
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import WorkspaceError
from workspace.jobs import queue
from workspace.jobs.kinds import Job
from workspace.leases import LeaseLost
from workspace.principal import Access, Principal
from workspace.runtime import Runtime
from workspace.schema.record_values import load_records
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types

log = logging.getLogger(__name__)
R, A, U, W = m.automation_runs, m.automations, m.users, m.workspaces
LIVE = ("queued", "running", "waiting", "retrying")
# Statements of every run, built once (building one costs more than running it on SQLite).
LOAD = (
    select(R, *(c.label(f"a_{c.name}") for c in A.c))
    .join(A, A.c.id == R.c.automation_id)
    .where(R.c.id == bindparam("run_id"))
)
MAKER = (
    select(U.c.email, W.c.time_zone)
    .select_from(U.join(W, W.c.id == bindparam("workspace")))
    .where(U.c.id == bindparam("user"))
)
STARTED = select(func.count()).where(
    R.c.workspace_id == bindparam("workspace"),
    R.c.started_at >= bindparam("since", type_=R.c.started_at.type),
)
#: Definitions checked against the record type, per plugin manager, by automation id and
#: version and the type's id and schema version: a check is a dozen lookups, and what it
#: reads of this type cannot change without one of those changing. Kept a few minutes, so a
#: change to another type an action names is seen soon; its writes are checked by the
#: records service in any case.
CHECKED_SECONDS = 120
_checked: weakref.WeakKeyDictionary[pluggy.PluginManager, TtlCache[checks.Definition]] = (
    weakref.WeakKeyDictionary()
)


@dataclass
class Prepared:
    """What a run needs, loaded and checked."""

    acc: Access
    rt: RecordTypeDef
    definition: checks.Definition
    zone: dt.tzinfo


def handle(runtime: Runtime, job: Job) -> None:
    """The job handler: one run, from its current step to its end (or a wait)."""
    run, automation = _load(runtime, job.payload["run"])
    if run is None or automation is None or run["state"] not in LIVE:
        return
    if not automation["enabled"]:
        _end(runtime, job, run["id"], "stopped", "the automation was turned off")
        return
    if run["started_at"] is None and _over_cap(runtime, run["workspace_id"], job):
        return
    try:
        prepared = prepare(runtime, automation, run["chain"], run["record_id"])
    except WorkspaceError as exc:
        notice = f"turned off: {exc.message}"
        disable(runtime, automation["id"], notice)
        _end(runtime, job, run["id"], "stopped", f"the automation was {notice}")
        return
    record = load_record(runtime, prepared, run["record_id"])
    trigger = run["trigger"]
    if run["started_at"] is None and not conditions.hold(
        runtime,
        prepared.acc,
        prepared.rt,
        prepared.definition.conditions,
        run["record_id"],
        trigger.get("changes") or [],
    ):
        _end(runtime, job, run["id"], "skipped", "the conditions were not met")
        return
    _steps(runtime, job, run, automation, prepared, record)


def _steps(
    runtime: Runtime,
    job: Job,
    run: Mapping[str, Any],
    automation: Mapping[str, Any],
    prepared: Prepared,
    record: dict[str, Any] | None,
) -> None:
    actions = prepared.definition.actions
    regs = registries(runtime.pm)
    for position in range(run["step"], len(actions)):
        action = actions[position]
        place = steps.Place(
            run["id"], job, position, len(actions), action["type"], config_of(action), utcnow()
        )
        step = step_for(
            runtime, prepared, action, record, names(automation, run, record, prepared.zone), place
        )
        try:
            output = regs.actions.get(place.action).run(step) or {}
        except LeaseLost:
            raise
        except RecordGone as exc:
            _end(runtime, job, run["id"], "stopped", str(exc))
            return
        except Exception as exc:
            if _failed(runtime, job, place, exc, last=isinstance(exc, StepRefused)):
                return
            raise
        if not step.committed or step.ends is not None:
            _commit(runtime, job, place, step, output)
        if step.ends is not None:
            return
        if position + 1 < len(actions):
            record = load_record(runtime, prepared, run["record_id"])


def config_of(action: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in action.items() if k != "type"}


def step_for(
    runtime: Runtime,
    prepared: Prepared,
    action: Mapping[str, Any],
    record: dict[str, Any] | None,
    names: dict[str, Any],
    place: steps.Place | None,
) -> StepContext:
    """The step an action runs in (a dry one without ``place``)."""
    return StepContext(
        runtime,
        prepared.acc,
        prepared.rt,
        config=config_of(action),
        record=record,
        names=names,
        place=place,
        zone=prepared.zone,
    )


def _commit(
    runtime: Runtime, job: Job, place: steps.Place, step: StepContext, output: dict[str, Any]
) -> None:
    """The log line of a step with no effect inside the workspace (or one that ends the run
    or makes it wait), in a transaction of its own."""
    with transaction(runtime.control, write=True) as conn:
        over = steps.done(conn, place, output, ends=step.ends)
        if step.ends == "waiting" and not over:
            queue.reschedule(conn, job, dt.datetime.fromisoformat(output["until"]))


def _failed(runtime: Runtime, job: Job, place: steps.Place, exc: Exception, *, last: bool) -> bool:
    """Log the failed attempt; past the last one (or when retrying cannot help) the run is
    dead (returns True) and its job done, so only a replay brings it back."""
    error = _error_text(exc)
    dead = last or job.attempts >= runtime.settings.automation_attempts
    with transaction(runtime.control, write=True) as conn:
        steps.log(conn, place, "failed", error=error)
        steps.ended(conn, place.run_id, "dead" if dead else "retrying", error)
        if not dead:
            conn.execute(update(R).where(R.c.id == place.run_id).values(finished_at=None))
        else:
            queue.finish(conn, job, result={"dead": True})
    log.warning("automation run %s step %s: %s", place.run_id, place.position, error)
    return dead


def _error_text(exc: Exception) -> str:
    """What a user reads of a failed step: the engine's own failures say what went wrong in
    words meant for them; anything else keeps its class, the clue to a bug."""
    if isinstance(exc, StepFailed):
        return str(exc) or type(exc).__name__
    return "".join(traceback.format_exception_only(exc)).strip()


def _end(runtime: Runtime, job: Job, run_id: int, state: str, reason: str) -> None:
    with transaction(runtime.control, write=True) as conn:
        steps.ended(conn, run_id, state, reason)
        queue.finish(conn, job)


def _over_cap(runtime: Runtime, workspace_id: int, job: Job) -> bool:
    """Past the workspace's runs per minute, the run waits (a little randomly, so a burst
    spreads out) instead of starting."""
    cap = runtime.settings.automation_runs_per_minute
    if cap <= 0:
        return False
    now = max(utcnow(), job.claimed_at)
    since = now - dt.timedelta(minutes=1)
    with transaction(runtime.control) as conn:
        started = conn.execute(STARTED, {"workspace": workspace_id, "since": since}).scalar_one()
    if started < cap:
        return False
    later = now + dt.timedelta(seconds=random.uniform(5, 60))
    with transaction(runtime.control, write=True) as conn:
        queue.reschedule(conn, job, later)
    return True


# ---- loading -----------------------------------------------------------------------------


def _load(runtime: Runtime, run_id: int) -> tuple[Any, Any]:
    """The run and its automation, in one read (None, None when either is gone)."""
    with transaction(runtime.control) as conn:
        row = conn.execute(LOAD, {"run_id": run_id}).mappings().first()
    if row is None:
        return None, None
    run = {c.name: row[c.name] for c in R.c}
    return run, {c.name: row[f"a_{c.name}"] for c in A.c}


def prepare(
    runtime: Runtime, automation: Mapping[str, Any], chain: Any, record_id: int | None
) -> Prepared:
    """The maker's access as the automation (its chain extended by this run), the record
    type, and the definition checked against the type as it is now."""
    params = {"user": automation["created_by"], "workspace": automation["workspace_id"]}
    with transaction(runtime.control) as conn:
        row = conn.execute(MAKER, params).first()
    if row is None:
        raise WorkspaceError("its maker's account is gone")
    links = tuple((int(a), int(r)) for a, r in chain or [])
    principal = Principal(
        automation["created_by"],
        row.email,
        source="automation",
        source_ref=f"automation:{automation['id']}",
        chain=(*links, (automation["id"], record_id or 0)),
    )
    acc = workspaces.access(runtime, principal, automation["workspace_id"])
    rt = record_types.get_type(runtime, acc, automation["record_type_id"])
    key = f"{automation['id']}:{automation['version']}:{rt.id}:{rt.schema_version}"
    cache = _checked.setdefault(runtime.pm, TtlCache(CHECKED_SECONDS))
    definition = cache.get(key)
    if definition is None:
        body = definition_body(automation)
        definition = checks.check(runtime, acc, registries(runtime.pm), body)
        cache.put(key, definition)
    return Prepared(acc, rt, definition, zone_of(row.time_zone))


def definition_body(automation: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "record_type": automation["record_type_id"],
        "trigger": automation["trigger"],
        "conditions": automation["conditions"],
        "actions": automation["actions"],
    }


def zone_of(name: str | None) -> dt.tzinfo:
    if not name:
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def load_record(
    runtime: Runtime, prepared: Prepared, record_id: int | None
) -> dict[str, Any] | None:
    """The record as it is now; a deleted one too (with ``deleted_at``: its values are what
    a deleted trigger's templates read, and steps that change it stop the run); None when
    there is none."""
    if record_id is None:
        return None
    rt = prepared.rt
    with transaction(runtime.data_engine(prepared.acc.workspace_id)) as conn:
        row = conn.execute(rt.select_by_id, {"record_id": record_id}).mappings().first()
        if row is None:
            return None
        record = load_records(conn, rt, [row])[0]
    return record


def names(
    automation: Mapping[str, Any],
    run: Mapping[str, Any],
    record: dict[str, Any] | None,
    zone: dt.tzinfo,
) -> dict[str, Any]:
    """What templates may name."""
    now = dt.datetime.now(zone)
    fields = dict(record["fields"]) if record else {}
    if record:
        fields["id"] = record["id"]
    return {
        "record": fields,
        "trigger": run["trigger"],
        "automation": {"id": automation["id"], "name": automation["name"]},
        "run": {"id": run["id"]},
        "now": now.isoformat(timespec="seconds"),
        "today": now.date().isoformat(),
    }


def disable(runtime: Runtime, automation_id: int, notice: str) -> None:
    """Turn an automation off with a notice saying why (shown with it)."""
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(A)
            .where(A.c.id == automation_id)
            .values(enabled=False, notice=notice[:1000], updated_at=utcnow())
        )
    log.warning("automation %s %s", automation_id, notice)
