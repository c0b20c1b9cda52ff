"""The built-in outbound webhook action: a JSON body (templates of the record and the
trigger) posted to a URL, signed with HMAC-SHA256 over the timestamp and the body when the
action has a secret, with an ``Idempotency-Key`` that is the same for every attempt of the
step. The host is checked against the same rules as storage and database hosts on every
attempt, the connection goes to the address that was checked, redirects are followed only
within the same site, and the receiver has 10 seconds to answer.

A receiver checks ``X-Workspace-Signature`` (``sha256=<hex>``) as
``HMAC-SHA256(secret, X-Workspace-Timestamp + "." + body)`` and drops a repeated
``Idempotency-Key``: a step is retried after a timeout or an error answer, so it may arrive
more than once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workspace import Action, Checks, Step, ValidationFailed, hookimpl

MIN_SECRET = 16


class Webhook(Action):
    """``{"url": "https://hooks.example.com/x", "body": {"email": "{{ record.email }}"},
    "secret": "at least 16 characters"}``; without ``body`` the record and the trigger are
    sent. The secret is sealed on save and never shown again."""

    name = "webhook"
    label = "Call a webhook"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        checks.only(config, {"url", "body", "secret", "secret_sealed"}, where)
        out: dict[str, Any] = {"url": checks.url(config.get("url"), f"{where}.url")}
        if config.get("body") is not None:
            out["body"] = _templates(config["body"], checks, f"{where}.body")
        secret = config.get("secret")
        if secret is not None:
            if not isinstance(secret, str) or len(secret) < MIN_SECRET:
                reason = f"must be text of at least {MIN_SECRET} characters"
                raise ValidationFailed.single(f"{where}.secret", reason)
            out["secret_sealed"] = checks.seal(secret)
        elif config.get("secret_sealed") is not None:
            checks.unseal(config["secret_sealed"], f"{where}.secret")
            out["secret_sealed"] = config["secret_sealed"]
        return out

    def run(self, step: Step) -> dict[str, Any] | None:
        c = step.config
        if "body" in c:
            payload = step.render(c["body"])
        else:
            payload = {"record": step.record, "trigger": step.trigger}
        sealed = c.get("secret_sealed")
        secret = step.unseal(sealed) if sealed else None
        return step.post_json(c["url"], payload, secret=secret)


def _templates(value: Any, checks: Checks, where: str) -> Any:
    """Every template in ``value`` (an object, a list or a string) parses."""
    if isinstance(value, dict):
        return {k: _templates(v, checks, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_templates(v, checks, f"{where}[{i}]") for i, v in enumerate(value)]
    return checks.template(value, where)


@hookimpl
def register_automation_actions(register: Any) -> None:
    register(Webhook)
