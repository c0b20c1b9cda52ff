"""The built-in email action: a message through the workspace's own mail server (set with
``PUT /api/v1/workspaces/{ws}/automations/mail``), its recipient, subject and text templates
of the record and the trigger. Its Message-ID comes from the step's idempotency key, so a
retried step sends the same Message-ID and a receiver can drop the repeat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workspace import Action, Checks, Step, StepFailed, ValidationFailed, hookimpl


class Email(Action):
    """``{"to": "{{ record.email }}", "subject": "Welcome", "text": "Hello {{ record.name }}"}``"""

    name = "email"
    label = "Send an email"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        checks.only(config, {"to", "subject", "text"}, where)
        to = config.get("to")
        if isinstance(to, str) and "{{" in to:
            checks.template(to, f"{where}.to")
        else:
            checks.address(to, f"{where}.to")
        out = {"to": to}
        for key, most in (("subject", 200), ("text", 50_000)):
            value = config.get(key)
            if not isinstance(value, str) or not value.strip() or len(value) > most:
                reason = f"must be text of 1 to {most} characters"
                raise ValidationFailed.single(f"{where}.{key}", reason)
            out[key] = checks.template(value, f"{where}.{key}")
        return out

    def run(self, step: Step) -> dict[str, Any] | None:
        c = step.config
        to = str(step.render(c["to"])).strip()
        if "@" not in to:
            raise StepFailed(f"the recipient template gave {to!r}, not an email address")
        subject = " ".join(str(step.render(c["subject"])).split())[:200]
        return step.send_email(to, subject, str(step.render(c["text"])))


@hookimpl
def register_automation_actions(register: Any) -> None:
    register(Email)
