"""Built-in actions that add work to a record: a task (assignee, due in N days) and a
comment. Both are templates of the record and the trigger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from workspace import Action, Checks, Step, StepFailed, ValidationFailed, hookimpl


def _text(value: Any, checks: Checks, where: str, *, most: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > most:
        raise ValidationFailed.single(where, f"must be text of 1 to {most} characters")
    return str(checks.template(value, where))


class CreateTask(Action):
    """``{"title": "Call {{ record.name }}", "assignee": "{{ record.owner }}",
    "due_in_days": 2}``: the assignee is a member's user id, or a template giving one
    (empty: nobody)."""

    name = "create_task"
    label = "Create a task on the record"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        checks.only(config, {"title", "assignee", "due_in_days"}, where)
        title = _text(config.get("title"), checks, f"{where}.title", most=200)
        assignee = config.get("assignee")
        if isinstance(assignee, str):
            checks.template(assignee, f"{where}.assignee")
        elif assignee is not None and (isinstance(assignee, bool) or not isinstance(assignee, int)):
            raise ValidationFailed.single(f"{where}.assignee", "must be a user id or a template")
        due = config.get("due_in_days")
        if due is not None:
            checks.integer(due, f"{where}.due_in_days", low=0, high=3650)
        return {"title": title, "assignee": assignee, "due_in_days": due}

    def run(self, step: Step) -> dict[str, Any] | None:
        c = step.config
        assignee = step.render(c["assignee"])
        if isinstance(assignee, str):
            assignee = assignee.strip()
            if assignee and not assignee.isdigit():
                raise StepFailed(f"the assignee template gave {assignee!r}, not a user id")
            assignee = int(assignee) if assignee else None
        due = None
        if c["due_in_days"] is not None:
            due = step.today() + dt.timedelta(days=c["due_in_days"])
        return step.create_task(str(step.render(c["title"]))[:200], assignee=assignee, due=due)


class AddComment(Action):
    name = "add_comment"
    label = "Add a comment to the record"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        checks.only(config, {"text"}, where)
        return {"text": _text(config.get("text"), checks, f"{where}.text", most=10_000)}

    def run(self, step: Step) -> dict[str, Any] | None:
        return step.add_comment(str(step.render(step.config["text"])))


@hookimpl
def register_automation_actions(register: Any) -> None:
    register(CreateTask)
    register(AddComment)
