"""Built-in actions that steer a run: wait (durably: the run's job is put back until then,
so a restart loses nothing) and stop if (a condition in the records API's filter language,
tested on the record as it is at that step)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from workspace import Action, Checks, Step, ValidationFailed, hookimpl

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


class Wait(Action):
    """``{"minutes": 30}``, ``{"hours": 2}`` or ``{"days": 3}``."""

    name = "wait"
    label = "Wait"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        given = [unit for unit in UNITS if unit in config]
        if len(given) != 1 or set(config) - set(UNITS):
            raise ValidationFailed.single(where, "give one of minutes, hours or days")
        unit = given[0]
        amount = checks.integer(
            config[unit], f"{where}.{unit}", low=1, high=366 * 86400 // UNITS[unit]
        )
        return {unit: amount}

    def run(self, step: Step) -> dict[str, Any] | None:
        ((unit, amount),) = step.config.items()
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=amount * UNITS[unit])
        return step.wait_until(until)


class StopIf(Action):
    """``{"filter": {"field": "status", "op": "eq", "value": "Lost"}}``: end the run here
    when the record matches."""

    name = "stop_if"
    label = "Stop if"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        if set(config) != {"filter"}:
            raise ValidationFailed.single(f"{where}.filter", "is required (and alone)")
        return {"filter": checks.filter(config["filter"], f"{where}.filter")}

    def run(self, step: Step) -> dict[str, Any] | None:
        if step.matches(step.config["filter"]):
            return step.stop("the record matched the stop condition")
        return {"continued": True}


@hookimpl
def register_automation_actions(register: Any) -> None:
    register(Wait)
    register(StopIf)
