"""A test run on a chosen record: what each step would do, with nothing done.

The definition is checked as for a real run, the conditions' filter is tested against the
record, and every action runs against a dry step whose effect methods only say what they
would write. "Changed" conditions need a triggering change and are reported as not tested.
"""

from __future__ import annotations

from typing import Any

from workspace.automations import automations, conditions, engine
from workspace.automations.kinds import registries
from workspace.errors import NotFound
from workspace.principal import Access
from workspace.runtime import Runtime


def rehearse(runtime: Runtime, acc: Access, automation_id: int, record_id: Any) -> dict[str, Any]:
    acc.require("member")
    row = automations.load(runtime, acc, automation_id)
    record_id = (
        record_id if isinstance(record_id, int) and not isinstance(record_id, bool) else None
    )
    prepared = engine.prepare(runtime, row, [], record_id)
    record = engine.load_record(runtime, prepared, record_id) if record_id else None
    if record_id is not None and record is None:
        raise NotFound("record not found")
    cond = prepared.definition.conditions
    met = conditions.record_matches(
        runtime, prepared.acc, prepared.rt, record_id, cond.get("filter")
    )
    run = {"id": 0, "trigger": {"kind": "dry_run", "changes": [], "data": {}}}
    names = engine.names(row, run, record, prepared.zone)
    regs = registries(runtime.pm)
    found = []
    for position, action in enumerate(prepared.definition.actions):
        step = engine.step_for(runtime, prepared, action, record, names, None)
        entry: dict[str, Any] = {"position": position, "action": action["type"]}
        try:
            entry["would"] = regs.actions.get(action["type"]).run(step) or {}
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        found.append(entry)
        if "would_stop" in entry.get("would", {}):
            break
    return {
        "automation": automation_id,
        "record": record_id,
        "conditions_met": met,
        "changed_tested": not cond.get("changed"),
        "steps": found,
    }
