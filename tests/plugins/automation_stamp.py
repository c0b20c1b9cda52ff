"""A third-party automation action, registered through ``register_automation_actions`` and
using only the public API: it stamps a text field, and refuses while the record is not
``ready`` (so runs can fail, retry, die and be replayed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workspace import Action, Checks, Step, StepFailed, hookimpl


class Stamp(Action):
    name = "test_stamp"
    label = "Stamp a field (test plugin)"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        f = checks.field(config.get("field"), f"{where}.field")
        return {
            "field": f.key,
            "text": checks.template(config.get("text", "stamped"), f"{where}.text"),
        }

    def run(self, step: Step) -> dict[str, Any] | None:
        record = step.record or {}
        if not record.get("fields", {}).get("ready"):
            raise StepFailed("the record is not ready")
        return step.update_record({step.config["field"]: step.render(step.config["text"])})


@hookimpl
def register_automation_actions(register: Any) -> None:
    register(Stamp)
