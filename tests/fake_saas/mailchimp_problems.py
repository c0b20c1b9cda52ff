"""Mailchimp's answers to bad requests, and the checks that produce them.

Mailchimp reports errors as RFC 7807 problem documents (mailchimp.com/developer "Errors" and
the error glossary): ``type`` (a link to the glossary), ``title`` (e.g. "Invalid Resource",
"Member Exists", "Resource Not Found"), ``status``, ``detail``, ``instance``, and for
"Invalid Resource" an ``errors`` list of ``field``/``message``, served as
``application/problem+json``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.fake_saas.clock import parse_instant
from tests.fake_saas.mailchimp_audience import STATUSES
from tests.fake_saas.server import RecordedRequest, Refusal, Reply

PROBLEM_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def problem(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> Reply:
    """Mailchimp's error document (RFC 7807)."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE, "title": title, "status": status}
    body |= {"detail": detail, "instance": str(uuid.uuid4())}
    if errors:
        body["errors"] = errors
    return Reply(status, body, {"Content-Type": "application/problem+json; charset=utf-8"})


def invalid(field: str, message: str) -> Refusal:
    detail = (
        "The resource submitted could not be validated."
        " For field-specific details, see the 'errors' array."
    )
    errors = [{"field": field, "message": message}]
    return Refusal(problem(400, "Invalid Resource", detail, errors))


def not_found() -> Reply:
    return problem(404, "Resource Not Found", "The requested resource could not be found.")


def json_body(request: RecordedRequest) -> dict[str, Any]:
    body = request.json
    if not isinstance(body, dict):
        detail = "We encountered an unspecified JSON parsing error."
        raise Refusal(problem(400, "JSON Parse Error", detail))
    return body


def check_email(email: str) -> None:
    if not _EMAIL.fullmatch(email):
        raise invalid("email_address", "Please provide a valid email address.")


def check_status(status: str) -> None:
    if status not in STATUSES:
        raise invalid("status", f"Value is not one of enum list: {status}")


def number(request: RecordedRequest, name: str, default: int, maximum: int | None) -> int:
    raw = request.arg(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = -1
    if value < 0 or (maximum is not None and value > maximum):
        raise invalid(name, f"{name} must be between 0 and {maximum or 'the total'}, got {raw}")
    return value


def instant(request: RecordedRequest, name: str) -> int | None:
    raw = request.arg(name)
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        raise invalid(name, f"Please provide a valid ISO 8601 date-time: {raw}") from None
