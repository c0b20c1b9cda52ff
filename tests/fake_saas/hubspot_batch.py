"""HubSpot's batch endpoints: ``POST /crm/v3/objects/{type}/batch/{action}``.

Documented behaviour (developers.hubspot.com "CRM API | Objects", batch section, and the
``BatchResponse*`` models of github.com/HubSpot/hubspot-api-python): at most 100 inputs;
``read`` (``properties``, ``idProperty``), ``create`` (201), ``update``, ``upsert`` (by a
unique ``idProperty`` such as ``email``; each result says whether it is ``new``) and
``archive`` (204). Every input is validated before anything is written, so one bad property
fails the whole batch with 400, and a taken e-mail with 409; unknown ids do not fail the batch:
the others are processed and the answer is 207 with an ``OBJECT_NOT_FOUND`` error listing them.
Duplicate ids in one batch are refused with 400.
"""

from __future__ import annotations

from typing import Any

from tests.fake_saas.clock import iso_millis
from tests.fake_saas.hubspot_crm import Crm, Objects, Record
from tests.fake_saas.hubspot_errors import checked, distinct_unique, json_body, refuse
from tests.fake_saas.server import RecordedRequest, Reply

BATCH_MAX_INPUTS = 100
SOURCE = "INTEGRATION"  # HubSpot's changeSource for writes through the API


def batch(crm: Crm, objects: Objects, request: RecordedRequest, action: str) -> Reply:
    body = json_body(request)
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise refuse("Invalid input JSON: inputs must be a list of objects")
    if len(inputs) > BATCH_MAX_INPUTS:
        raise refuse(f"Batch input has {len(inputs)} inputs; the limit is {BATCH_MAX_INPUTS}")
    keys = [str(i.get("id", "")).lower() for i in inputs if "id" in i]
    if duplicates := sorted({k for k in keys if keys.count(k) > 1}):
        raise refuse(f"Duplicate IDs found in batch input: {duplicates}")
    started = crm.clock.now_ms()
    operation = f"{request.method} {request.path}"
    missing: list[str] = []
    status = 200
    if action == "read":
        results = _read(objects, body, inputs, missing)
    elif action == "create":
        results, status = _create(crm, objects, inputs, operation), 201
    elif action == "upsert":
        results = _upsert(crm, objects, inputs, operation)
    else:
        results = _update_or_archive(crm, objects, inputs, operation, action, missing)
    if action == "archive":
        return Reply(204)
    answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
    answer |= {"startedAt": iso_millis(started), "completedAt": iso_millis(crm.clock.now_ms())}
    if missing:
        name = objects.schema.singular.upper()
        message = (
            f"Could not get some {name} objects, they may be deleted or not exist."
            " Check that ids are valid."
        )
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": message,
                "context": {"ids": missing},
            }
        ]
        status = 207
    return Reply(status, answer)


def _read(
    objects: Objects, body: dict[str, Any], inputs: list[dict[str, Any]], missing: list[str]
) -> list[dict[str, Any]]:
    results = []
    for item in inputs:
        record = objects.find(str(item.get("id", "")), body.get("idProperty"))
        if record is None:
            missing.append(str(item.get("id")))
        else:
            results.append(objects.render(record, body.get("properties")))
    return results


def _create(
    crm: Crm, objects: Objects, inputs: list[dict[str, Any]], operation: str
) -> list[dict[str, Any]]:
    rows = [checked(objects, item.get("properties")) for item in inputs]
    distinct_unique(objects, rows)
    records = [crm.insert(objects, row, SOURCE, operation) for row in rows]
    return [objects.render(record, list(row)) for record, row in zip(records, rows, strict=True)]


def _update_or_archive(
    crm: Crm,
    objects: Objects,
    inputs: list[dict[str, Any]],
    operation: str,
    action: str,
    missing: list[str],
) -> list[dict[str, Any]]:
    found: list[tuple[Record, dict[str, str]]] = []
    for item in inputs:  # check everything first: one bad input fails the whole batch
        record = objects.find(str(item.get("id", "")), item.get("idProperty"))
        if record is None:
            missing.append(str(item.get("id")))
        elif action == "archive":
            found.append((record, {}))
        else:
            found.append((record, checked(objects, item.get("properties"), record)))
    results = []
    for record, values in found:
        if action == "archive":
            crm.archive(objects, record, SOURCE, operation)
        else:
            crm.change(objects, record, values, SOURCE, operation)
            results.append(objects.render(record, list(values)))
    return results


def _upsert(
    crm: Crm, objects: Objects, inputs: list[dict[str, Any]], operation: str
) -> list[dict[str, Any]]:
    plan: list[tuple[Record | None, dict[str, str]]] = []
    for item in inputs:
        id_property = item.get("idProperty") or "hs_object_id"
        if id_property not in objects.schema.unique:
            raise refuse(f"{id_property} is not a unique property; it cannot be the idProperty")
        record = objects.find(str(item.get("id", "")), id_property)
        values = dict(item.get("properties") or {})
        if record is None:
            values.setdefault(id_property, str(item.get("id", "")))
        plan.append((record, checked(objects, values, record)))
    distinct_unique(objects, [values for record, values in plan if record is None])
    results = []
    for record, values in plan:
        new = record is None
        if record is None:
            record = crm.insert(objects, values, SOURCE, operation)
        else:
            crm.change(objects, record, values, SOURCE, operation)
        results.append(objects.render(record, list(values)) | {"new": new})
    return results
