"""The review queue as people read it: two records side by side, what differs marked, the
score as a percentage with a verdict, and the rule's reasons split into what speaks for and
what speaks against "the same customer"."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workspace.dedupe import merges
from workspace.dedupe import queue as duplicates
from workspace.principal import Access
from workspace.records import labels
from workspace.records.pages.refs import refs_for
from workspace.runtime import Runtime
from workspace.schema.definitions import get_type
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

#: The queue's filters, in the order the tabs show them.
STATUSES = (
    ("open", "To review"),
    ("skipped", "Skipped"),
    ("not_duplicate", "Not duplicates"),
    ("merged", "Merged"),
)
PAGE = 20
#: A fuzzy rule's reason ends with its weight: "email equal (+5.0)".
WEIGHT = re.compile(r"^(?P<text>.*?)\s*\((?P<sign>[+-])(?P<points>\d+(?:\.\d+)?)\)$")


@dataclass(frozen=True)
class Reason:
    text: str
    weighs: str  # "for", "against" or "" (an exact rule's reason)


@dataclass(frozen=True)
class Row:
    f: FieldDef
    a: Any
    b: Any
    differs: bool


def status_of(value: str | None) -> str:
    """A known queue status, else the open queue (a hand-typed URL does not fail)."""
    return value if value in dict(STATUSES) else "open"


def queue(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, status: str, after: str | None
) -> dict[str, Any]:
    """One page of the queue in ``status``, ready for ``duplicates/_queue.html``."""
    page = duplicates.list_pairs(runtime, acc, rt, status=status, limit=PAGE, after=after)
    shown = [r for p in page["items"] for r in (p["a"], p["b"]) if r is not None]
    rule_labels = {n: runtime.dedupe_rules.get(n).label for n in runtime.dedupe_rules.names()}
    types = _types_of(runtime, acc, rt, page["items"])
    pairs = [pair_view(rt, p, rule_labels, types) for p in page["items"]]
    if status == "merged":
        for view in pairs:
            view["merge"] = merges.find_merge(runtime, acc, rt, view["a_id"], view["b_id"])
    return {
        "status": status,
        "statuses": STATUSES,
        "pairs": pairs,
        "next_after": page["next_after"],
        "after": after,
        "refs": refs_for(runtime, acc, rt, shown),
    }


def pair_view(
    rt: RecordTypeDef,
    pair: Mapping[str, Any],
    rule_labels: Mapping[str, str],
    types: Mapping[int, RecordTypeDef] | None = None,
) -> dict[str, Any]:
    """A pair with its rows (fields empty in both left out), verdict and reasons. A pair
    across types names each side's type, links each record in its own type, and compares the
    fields both types have by key; it offers no merge (that takes a conversion)."""
    a, b = pair["a"], pair["b"]
    types = types or {}
    rt_a = types.get(a["record_type"], rt) if a and "record_type" in a else rt
    rt_b = types.get(b["record_type"], rt) if b and "record_type" in b else rt
    rows = []
    b_keys = {f.key for f in rt_b.fields}
    shown = [*rt_a.fields, *(f for f in rt_b.fields if rt_a.field_by_key(f.key) is None)]
    for f in shown:
        va = a["fields"].get(f.key) if a and rt_a.field_by_key(f.key) else None
        vb = b["fields"].get(f.key) if b and f.key in b_keys else None
        if f.type.is_empty(va) and f.type.is_empty(vb):
            continue
        rows.append(Row(f, va, vb, f.key in pair["differences"]))
    cross = bool(pair.get("cross_type"))
    base = f"/w/{rt.workspace_id}/t"
    return {
        "id": pair["id"],
        "status": pair["status"],
        "score": round(pair["score"] * 100),
        "verdict": verdict(pair["score"]),
        "found_by": rule_labels.get(pair["found_by"], pair["found_by"]),
        "reasons": [reason(r) for r in pair["reasons"]],
        "a": a,
        "b": b,
        "a_id": a["id"] if a else None,
        "b_id": b["id"] if b else None,
        "a_title": _title(rt_a, a),
        "b_title": _title(rt_b, b),
        "a_href": f"{base}/{rt_a.id}/r/{a['id']}" if a else None,
        "b_href": f"{base}/{rt_b.id}/r/{b['id']}" if b else None,
        "a_type": rt_a.name,
        "b_type": rt_b.name,
        "cross": cross,
        "rows": rows,
        "differ_count": sum(r.differs for r in rows),
        "complete": a is not None and b is not None and not _gone(a) and not _gone(b),
        "merge": None,
    }


def _types_of(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, pairs: list[dict[str, Any]]
) -> dict[int, RecordTypeDef]:
    """The record types of the pairs' records (a pair across types has two)."""
    found = {rt.id: rt}
    for side in (s for p in pairs for s in (p["a"], p["b"]) if s is not None):
        type_id = side.get("record_type", rt.id)
        if type_id not in found:
            found[type_id] = get_type(runtime, acc, type_id)
    return found


def verdict(score: float) -> str:
    if score >= 0.99:
        return "Almost certainly the same"
    if score >= 0.9:
        return "Very likely the same"
    if score >= 0.75:
        return "Likely the same"
    return "Possibly the same"


def reason(text: str) -> Reason:
    """ "email equal (+5.0)" -> a reason for; "names differ (-4.0)" -> one against."""
    m = WEIGHT.match(text)
    if m is None:
        return Reason(text, "")
    if float(m["points"]) == 0:
        return Reason(m["text"], "")
    return Reason(m["text"], "for" if m["sign"] == "+" else "against")


def _gone(record: Mapping[str, Any]) -> bool:
    return "deleted_at" in record and record["deleted_at"] is not None


def _title(rt: RecordTypeDef, record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "A deleted record"
    return labels.title_of(rt, dict(record))
