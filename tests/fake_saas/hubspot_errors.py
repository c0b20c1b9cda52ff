"""HubSpot's error answers, and the checks on request bodies that produce them.

Documented behaviour (developers.hubspot.com "Error handling"): errors are JSON with
``status: "error"``, ``message``, ``correlationId`` and ``category`` (VALIDATION_ERROR,
OBJECT_NOT_FOUND, CONFLICT, INVALID_AUTHENTICATION, RATE_LIMITS...), sometimes ``errors`` and
``context``; the docs tell clients to treat every field as optional. Messages the docs do not
show are the fake's own wording.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.fake_saas.hubspot_crm import Conflict, CrmError, Objects, Record
from tests.fake_saas.server import RecordedRequest, Refusal, Reply

INVALID = "VALIDATION_ERROR"


def error(status: int, message: str, category: str, **extra: Any) -> Reply:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4())}
    return Reply(status, {**body, "category": category, **extra})


def refuse(message: str, category: str = INVALID, status: int = 400, **extra: Any) -> Refusal:
    return Refusal(error(status, message, category, **extra))


def missing(object_id: str) -> Refusal:
    return refuse("Object not found.", "OBJECT_NOT_FOUND", 404, context={"id": [object_id]})


def json_body(request: RecordedRequest) -> dict[str, Any]:
    body = request.json
    if not isinstance(body, dict):
        raise refuse("Invalid input JSON on line 1, column 1")
    return body


def checked(objects: Objects, properties: Any, record: Record | None = None) -> dict[str, str]:
    """``properties`` as stored, or the 400 / 409 HubSpot answers for them."""
    try:
        return objects.check(properties if properties is not None else {}, record)
    except CrmError as exc:
        raise refuse(exc.message, errors=exc.errors) from None
    except Conflict as exc:
        label = objects.schema.singular.capitalize()
        message = f"{label} already exists. Existing ID: {exc.existing_id}"
        raise refuse(message, "CONFLICT", 409) from None


def distinct_unique(objects: Objects, rows: list[dict[str, str]]) -> None:
    """Refuse a batch that would give two new records the same unique value (e-mail)."""
    for name in objects.schema.unique:
        values = [row[name].lower() for row in rows if row.get(name)]
        if len(values) != len(set(values)):
            raise refuse(f"Duplicate {name} values in batch input")
