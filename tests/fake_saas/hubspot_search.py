"""HubSpot CRM search: ``POST /crm/v3/objects/{type}/search`` bodies, parsed and run.

Documented behaviour (developers.hubspot.com "CRM API | Search"; the ``Filter`` and
``PublicObjectSearchRequest`` models of github.com/HubSpot/hubspot-api-python): ``filterGroups``
are ORed and the filters inside a group ANDed; operators EQ, NEQ, LT, LTE, GT, GTE, BETWEEN,
IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN; at most 5 groups,
6 filters per group and 18 in all; one sort (an object, or a string as the SDK models it); date
values as epoch milliseconds or ISO 8601; ``after`` is an offset and ``limit`` at most 200;
without a sort, results come in creation (id) order.

A search whose filters are all ranges on the last-modified property, sorted by it, is served
from a sorted index in O(log N + page); any other search scans the object type (fine for test
data, slow at 10^5). Offsets count into the live order, so a record modified while a client
pages moves to the end and shifts the offsets, as on HubSpot.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from tests.fake_saas.clock import parse_instant
from tests.fake_saas.hubspot_crm import CrmError, Objects, ObjectSchema, Record

SEARCH_MAX_LIMIT = 200
OPERATORS = frozenset(
    {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
     "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
)  # fmt: skip
_RANGE = frozenset({"GT", "GTE", "LT", "LTE", "BETWEEN"})


@dataclass
class Search:
    groups: list[list[dict[str, Any]]]
    sort: tuple[str, bool] | None  # (property, descending)
    query: str
    properties: list[str] | None
    limit: int
    offset: int


def parse_search(body: Any, schema: ObjectSchema) -> Search:
    if not isinstance(body, dict):
        raise CrmError("Invalid input JSON on line 1")
    groups = body.get("filterGroups") or []
    if len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups):
        raise CrmError("Too many filter groups or filters: at most 5 groups of 6 filters")
    if sum(len(g.get("filters") or []) for g in groups) > 18:
        raise CrmError("Too many filters: at most 18 filters in all groups")
    for group in groups:
        for item in group.get("filters") or []:
            if item.get("operator") not in OPERATORS:
                raise CrmError(f"Unknown operator: {item.get('operator')}")
            if item.get("propertyName") not in schema.known:
                name = item.get("propertyName")
                raise CrmError(f"There was a problem with the request: no property {name!r}")
    sorts = body.get("sorts") or []
    if len(sorts) > 1:
        raise CrmError("Only one sort is allowed")
    sort = None
    if sorts:
        item = sorts[0]
        if isinstance(item, str):  # the SDK models sorts as strings: "-createdate"
            sort = (item.lstrip("-"), item.startswith("-"))
        else:
            sort = (item.get("propertyName", ""), item.get("direction") == "DESCENDING")
    limit = _integer(body.get("limit", 10), "limit")
    if not 1 <= limit <= SEARCH_MAX_LIMIT:
        raise CrmError(f"limit must be between 1 and {SEARCH_MAX_LIMIT}, got {limit}")
    return Search(
        groups=[list(g.get("filters") or []) for g in groups],
        sort=sort,
        query=str(body.get("query") or ""),
        properties=body.get("properties") or None,
        limit=limit,
        offset=_integer(body.get("after") or 0, "after"),
    )


def _integer(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CrmError(f"{name} must be an integer, got {value!r}") from None


def run_search(objects: Objects, search: Search) -> tuple[int, list[Record]]:
    """``(total matches, the page)``."""
    span = _modified_span(objects, search)
    if span is not None:
        start, stop = span
        first, last = search.offset, search.offset + search.limit
        if search.sort and search.sort[1]:  # newest first: count back from the end
            keys = objects.by_modified.slice(max(stop - last, start), stop - first)
            keys.reverse()
        else:
            keys = objects.by_modified.slice(start + first, min(start + last, stop))
        return max(stop - start, 0), [objects.records[key[1]] for key in keys]
    records = (objects.records[i] for i in objects.live)
    hits = [r for r in records if _matches(r, search, objects.schema)]
    if search.sort:
        name, descending = search.sort
        present = [r for r in hits if _value(r, name, objects.schema) is not None]
        missing = [r for r in hits if _value(r, name, objects.schema) is None]
        present.sort(key=lambda r: (_value(r, name, objects.schema), r.id), reverse=descending)
        hits = present + missing
    return len(hits), hits[search.offset : search.offset + search.limit]


def _modified_span(objects: Objects, search: Search) -> tuple[int, int] | None:
    """Index positions ``[start, stop)`` when the search is a pure last-modified range."""
    schema = objects.schema
    if search.query or len(search.groups) > 1:
        return None
    if search.sort and search.sort[0] != schema.modified:
        return None
    if not search.sort:  # unsorted results come in id order, not from this index
        return None
    filters = search.groups[0] if search.groups else []
    if any(f["propertyName"] != schema.modified or f["operator"] not in _RANGE for f in filters):
        return None
    low, high = 0, 2**63
    for item in filters:
        value = parse_instant(str(item.get("value")))
        if item["operator"] == "GT":
            low = max(low, value + 1)
        elif item["operator"] in ("GTE", "BETWEEN"):
            low = max(low, value)
        if item["operator"] == "LT":
            high = min(high, value - 1)
        elif item["operator"] == "LTE":
            high = min(high, value)
        elif item["operator"] == "BETWEEN":
            high = min(high, parse_instant(str(item.get("highValue"))))
    # Keys are (modified_ms, id): (low,) sorts before every key of that millisecond.
    return objects.by_modified.left((low,)), objects.by_modified.left((high + 1,))


def _value(record: Record, name: str, schema: ObjectSchema) -> Any:
    if name == "createdate":
        return record.created_ms
    if name == schema.modified:
        return record.updated_ms
    if name == "hs_object_id":
        return _comparable(name, record.id)
    return _comparable(name, record.properties.get(name))


def _comparable(name: str, value: Any) -> Any:
    if value is None:
        return None
    text = str(value)
    if name in ("createdate", "lastmodifieddate", "hs_lastmodifieddate"):
        return parse_instant(text)
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text.lower())


def _matches(record: Record, search: Search, schema: ObjectSchema) -> bool:
    if search.query and not _text_match(record, search.query):
        return False
    if not search.groups:
        return True
    return any(all(_test(record, f, schema) for f in group) for group in search.groups)


def _text_match(record: Record, query: str) -> bool:
    needle = query.lower().strip("*")
    fields = ("email", "firstname", "lastname", "phone", "company", "name", "domain", "website")
    return any(needle in record.properties.get(f, "").lower() for f in fields)


def _test(record: Record, item: dict[str, Any], schema: ObjectSchema) -> bool:
    name, operator = item["propertyName"], item["operator"]
    have = _value(record, name, schema)
    if operator == "HAS_PROPERTY":
        return have is not None
    if operator == "NOT_HAS_PROPERTY":
        return have is None
    if operator in ("IN", "NOT_IN"):
        wanted = {_comparable(name, v) for v in item.get("values") or []}
        return (have in wanted) == (operator == "IN")
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        text = record.properties.get(name, "").lower()
        pattern = str(item.get("value", "")).lower()
        tokens = [text, *re.split(r"[^a-z0-9]+", text)]
        found = any(fnmatch.fnmatchcase(t, pattern) for t in tokens)
        return found == (operator == "CONTAINS_TOKEN")
    want = _comparable(name, item.get("value"))
    if operator == "EQ":
        return have == want
    if operator == "NEQ":
        return have != want
    if have is None or want is None:
        return False
    if operator == "BETWEEN":
        return want <= have <= _comparable(name, item.get("highValue"))
    return {
        "LT": have < want,
        "LTE": have <= want,
        "GT": have > want,
        "GTE": have >= want,
    }[operator]
