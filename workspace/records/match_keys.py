"""Dedupe on every write: match keys, and what each rule's mode does with a match.

Called by ``record_writes.write_batch`` for every entry path (API, bulk, UI, forms,
imports), so a rule holds everywhere or nowhere. The keys of exact rules that refuse or
merge duplicates are *enforced* by a unique index: two writers racing with the same email
cannot both win, whatever this module read a moment earlier (the loser's transaction fails
and is retried, and then sees the winner).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from workspace import models as m
from workspace import outbox
from workspace.clock import utcnow
from workspace.db import inserted_id
from workspace.errors import DuplicateFound
from workspace.matching import RuleContext
from workspace.principal import Principal
from workspace.schema.record_values import record_out, with_links
from workspace.schema.tables import RecordTypeDef, RuleDef

#: Fuzzy rules queue a pair for review from this score up, unless configured otherwise.
DEFAULT_THRESHOLD = 0.85
#: Keys longer than this are stored as a digest (the column holds 255 characters).
KEY_CHARS = 200
#: Most candidates a fuzzy rule scores for one record (blocking keeps it far below).
CANDIDATES = 50


@dataclass(frozen=True)
class Candidate:
    """A record that may be the same customer, and why."""

    record_id: int
    rule: str
    score: float
    reasons: list[str]
    #: The record's type when it differs from the written record's (a rule across types).
    record_type_id: int | None = None

    def public(self) -> dict[str, Any]:
        found = {
            "record": self.record_id,
            "rule": self.rule,
            "score": round(self.score, 3),
            "reasons": self.reasons,
        }
        if self.record_type_id is not None:
            found["record_type"] = self.record_type_id
        return found


@dataclass(frozen=True)
class Override:
    """How one entry path (a public form) wants duplicates handled, whatever the rules say
    for other paths: ``mode`` replaces each rule's mode on create; ``policy`` ("overwrite" or
    "fill_empty") replaces the merge policy; ``protect`` fields are never overwritten. It
    can never weaken a rule that refuses or merges duplicates (the database enforces those)."""

    mode: str
    policy: str | None = None
    protect: frozenset[str] = frozenset()
    #: Fields whose incoming value always wins a merge (a connector's own fields).
    overwrite: frozenset[str] = frozenset()
    #: Leave rules an admin turned off alone (a connector matches only through rules in use).
    keep_off: bool = False

    def apply(self, rt: RecordTypeDef) -> tuple[RuleDef, ...]:
        rules = []
        for rd in rt.dedupe:
            mode = self.mode
            if self.keep_off and rd.on_create == "off":
                mode = "off"
            if rd.enforced and mode in {"off", "warn"}:
                mode = rd.on_create
            if rd.rule.fuzzy and mode not in {"off", "warn"}:
                mode = "warn"
            policy = dict(rd.merge_policy)
            if self.policy is not None:
                policy = {f.id: self.policy for f in rt.fields}
            policy.update({f.id: "overwrite" for f in rt.fields if f.key in self.overwrite})
            policy.update({f.id: "ignore" for f in rt.fields if f.key in self.protect})
            rules.append(replace(rd, on_create=mode, merge_policy=policy))
        return tuple(rules)


#: An entry path's duplicate policy (a form's, an import's) -> Override mode and merge policy.
POLICY_MODES: dict[str, tuple[str, str | None]] = {
    "create": ("off", None),
    "review": ("warn", None),
    "update": ("update", "overwrite"),
    "fill_empty": ("update", "fill_empty"),
    "refuse": ("block", None),
}


def policy_override(policy: str, protect: frozenset[str] = frozenset()) -> Override:
    """The Override for an entry path's duplicate policy (a key of POLICY_MODES)."""
    mode, merge = POLICY_MODES[policy]
    return Override(mode, policy=merge, protect=protect)


@dataclass
class Verdict:
    """What dedupe decided for one write item."""

    #: Create turned into an update of this existing record (mode "update").
    merged_into: int | None = None
    #: Create folded into an earlier item of the same batch (its index).
    follows: int | None = None
    #: The rule whose merge policy decides which incoming values a merge keeps.
    merge_rule: RuleDef | None = None
    #: Possible duplicates to queue for review (mode "warn").
    candidates: list[Candidate] = field(default_factory=list)


def values_for(rt: RecordTypeDef, rd: RuleDef, values: Mapping[str, Any]) -> list[Any]:
    """One value per configured position (rules read fields by position; a skipped
    position, id 0, reads as empty)."""
    fields = [rt.field_by_id(fid) for fid in rd.field_ids]
    return [values.get(f.key) if f is not None else None for f in fields]


def keys_for(
    rt: RecordTypeDef, rd: RuleDef, values: Mapping[str, Any], ctx: RuleContext
) -> set[str]:
    """The stored form of a record's match keys under one rule (empty values: no keys)."""
    raw = rd.rule.keys(values_for(rt, rd, values), ctx)
    return {stored_key(k) for k in raw if k}


def stored_key(key: str) -> str:
    if len(key) <= KEY_CHARS:
        return key
    return "h:" + hashlib.sha256(key.encode()).hexdigest()


def holders(
    conn: Connection, rt: RecordTypeDef, rd: RuleDef, keys: Iterable[str]
) -> dict[str, set[int]]:
    """Which records hold each of ``keys`` under ``rd``: one indexed lookup per 500 keys."""
    table = rt.keys_table
    wanted = sorted(set(keys))
    found: dict[str, set[int]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(
            select(table.c.key, table.c.record_id).where(
                table.c.signature == rd.signature, table.c.key.in_(chunk)
            )
        )
        for key, record_id in rows:
            found.setdefault(key, set()).add(record_id)
    gone = _gone(conn, rt, {i for ids in found.values() for i in ids})
    return {key: ids - gone for key, ids in found.items() if ids - gone}


def _gone(conn: Connection, rt: RecordTypeDef, ids: set[int]) -> set[int]:
    """Of ``ids``, the records of an adopted table whose rows other systems
    deleted in SQL: their keys stay behind, and must neither match nor block anyone."""
    if rt.source is None or not ids:
        return set()
    query = select(rt.table.c.id).where(rt.table.c.id.in_(sorted(ids)))
    return ids - set(conn.execute(query).scalars())


def score_candidates(
    conn: Connection,
    rt: RecordTypeDef,
    rd: RuleDef,
    values: Mapping[str, Any],
    candidate_ids: Iterable[int],
    ctx: RuleContext,
) -> list[Candidate]:
    """Fuzzy rules: score the records that share a blocking key; keep those over the bar."""
    ids = sorted(candidate_ids)[:CANDIDATES]
    if not ids:
        return []
    rows = (
        conn.execute(
            select(rt.table).where(rt.table.c.id.in_(ids), rt.table.c.deleted_at.is_(None))
        )
        .mappings()
        .all()
    )
    mine = values_for(rt, rd, values)
    threshold = rd.threshold if rd.threshold is not None else DEFAULT_THRESHOLD
    found = []
    for record in (record_out(rt, row) for row in with_links(conn, rt, rows)):
        score = rd.rule.score(mine, values_for(rt, rd, record["fields"]), ctx)
        if score.value >= threshold:
            found.append(Candidate(record["id"], rd.rule.name, score.value, score.reasons))
    return found


def find(
    conn: Connection,
    rt: RecordTypeDef,
    values: Mapping[str, Any],
    ctx: RuleContext,
    *,
    exclude: int | None = None,
    op: str = "create",
) -> list[tuple[RuleDef, list[Candidate]]]:
    """Every rule active for ``op`` and the records it matches: the "would this create a
    duplicate?" check, and the read half of each write's check."""
    results = []
    for rd in rt.dedupe:
        mode = rd.on_create if op == "create" else rd.on_update
        if mode == "off":
            continue
        keys = keys_for(rt, rd, values, ctx)
        held = holders(conn, rt, rd, keys)
        ids = {rid for rids in held.values() for rid in rids} - {exclude}
        if rd.rule.fuzzy:
            matches = score_candidates(conn, rt, rd, values, ids, ctx)
        else:
            reason = f"same {rd.rule.label.lower()}"
            matches = [Candidate(rid, rd.rule.name, 1.0, [reason]) for rid in sorted(ids)]
        if matches:
            results.append((rd, matches))
    return results


def duplicate_error(rt: RecordTypeDef, rd: RuleDef, match: Candidate) -> DuplicateFound:
    names = [f.name for fid in rd.field_ids if (f := rt.field_by_id(fid)) is not None]
    keys = [f.key for fid in rd.field_ids if (f := rt.field_by_id(fid)) is not None]
    reason = f"matches record {match.record_id} ({rd.rule.label})"
    return DuplicateFound(
        f"{', '.join(names)} {reason}: this customer is already on file",
        fields={key: reason for key in keys},
        details={"record": match.record_id, "rule": rd.rule.name},
    )


def merged_values(
    rt: RecordTypeDef, rd: RuleDef, incoming: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, Any]:
    """The incoming values a merge keeps, by each field's policy (default: fill empty, so an
    update never loses what is already on file). A restrictive field's value always goes on
    to the write path (unless its policy is ignore), which takes it when it tightens and
    keeps (and reports) the value on file when it would loosen: an opt-out or a Blacklisted
    sent by a form must land."""
    kept = {}
    for f in rt.fields:
        if f.key not in incoming:
            continue
        policy = rd.merge_policy.get(f.id, "fill_empty")
        if f.config.get("restrictive") and policy != "ignore":
            kept[f.key] = incoming[f.key]
            continue
        empty = f.type.is_empty(f.type.from_row(f, current))
        if policy == "overwrite" or (policy == "fill_empty" and empty):
            kept[f.key] = incoming[f.key]
    return kept


# ---- keeping the keys table current ----------------------------------------------------


def write_keys(
    conn: Connection,
    rt: RecordTypeDef,
    records: Sequence[dict[str, Any]],
    ctx: RuleContext,
    *,
    created: Iterable[int] = (),
    lenient: bool = False,
) -> None:
    """Replace the stored keys of ``records`` (API-shaped, as now stored) under every rule.

    New keys of enforced rules go in enforced, so the unique index referees a race between
    two writers of the same customer; ``decide`` has already refused or merged what it could
    see. Only where a duplicate is allowed in (an edit under a rule that does not block
    edits) is a key someone else holds stored unenforced; a key a record already had keeps
    its flag, so editing a duplicate from before the rule never trips the index.
    ``lenient`` stores every key someone else holds unenforced (undoing a merge).
    """
    if not rt.dedupe or not records:
        return
    table = rt.keys_table
    ids = [r["id"] for r in records]
    before = {
        (row.record_id, row.signature, row.key): row.enforced
        for row in conn.execute(
            select(table.c.record_id, table.c.signature, table.c.key, table.c.enforced).where(
                table.c.record_id.in_(ids)
            )
        )
    }
    conn.execute(delete(table).where(table.c.record_id.in_(ids)))
    strict = set(created)
    rows = []
    for record in records:
        for rd in rt.dedupe:
            for key in keys_for(rt, rd, record["fields"], ctx):
                known = (record["id"], rd.signature, key)
                enforced = before.get(known, True if rd.enforced else None)
                rows.append(
                    {
                        "signature": rd.signature,
                        "key": key,
                        "record_id": record["id"],
                        "enforced": enforced,
                        "_strict": not lenient
                        and (record["id"] in strict or rd.on_update == "block"),
                    }
                )
    rows = _unique_rows(rows)
    _drop_gone_holders(conn, rt, rows)
    taken = _enforced_elsewhere(conn, rt, [r for r in rows if r["enforced"] and not r["_strict"]])
    for row in rows:
        if not row.pop("_strict") and (row["signature"], row["key"]) in taken:
            row["enforced"] = None
    if rows:
        conn.execute(insert(table), rows)


def _enforced_elsewhere(
    conn: Connection, rt: RecordTypeDef, rows: list[dict[str, Any]]
) -> set[tuple[str, str]]:
    if not rows:
        return set()
    table = rt.keys_table
    query = select(table.c.signature, table.c.key).where(
        table.c.enforced.is_(True),
        table.c.key.in_(sorted({r["key"] for r in rows})),
        table.c.record_id.not_in(sorted({r["record_id"] for r in rows})),
    )
    return {(signature, key) for signature, key in conn.execute(query)}


def _drop_gone_holders(conn: Connection, rt: RecordTypeDef, rows: list[dict[str, Any]]) -> None:
    """Before new keys go in: drop the same keys held by rows deleted in SQL (see
    :func:`_gone`), which the unique index would otherwise hold against them."""
    if rt.source is None or not rows:
        return
    table = rt.keys_table
    held = select(table.c.record_id).where(
        table.c.key.in_(sorted({r["key"] for r in rows})),
        table.c.record_id.not_in(sorted({r["record_id"] for r in rows})),
    )
    gone = _gone(conn, rt, set(conn.execute(held).scalars()))
    if gone:
        conn.execute(delete(table).where(table.c.record_id.in_(sorted(gone))))


def _unique_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault((row["signature"], row["key"], row["record_id"]), row)
    return list(seen.values())


def drop_keys(conn: Connection, rt: RecordTypeDef, record_ids: Sequence[int]) -> None:
    """A deleted record matches nothing (restoring writes its keys again)."""
    if rt.dedupe and record_ids:
        conn.execute(delete(rt.keys_table).where(rt.keys_table.c.record_id.in_(record_ids)))


def queue_pairs(
    conn: Connection,
    rt: RecordTypeDef,
    pairs: Iterable[tuple[int, Candidate]],
    principal: Principal,
) -> int:
    """Put possible duplicates in the review queue once each (either order is the pair),
    each with its ``duplicate.queued`` event. Returns how many were new."""
    table = m.duplicate_pairs
    queued = 0
    for record_id, candidate in pairs:
        (type_a, a), (type_b, b) = sorted(
            ((rt.id, record_id), (candidate.record_type_id or rt.id, candidate.record_id))
        )
        other = 0 if type_a == type_b else type_b
        exists = conn.execute(
            select(table.c.id).where(
                table.c.record_type_id == type_a,
                table.c.record_a == a,
                table.c.type_b == other,
                table.c.record_b == b,
            )
        ).first()
        if exists is not None:
            continue
        try:
            with conn.begin_nested():
                done = conn.execute(
                    insert(table).values(
                        workspace_id=rt.workspace_id,
                        record_type_id=type_a,
                        record_a=a,
                        type_b=other,
                        record_b=b,
                        score=candidate.score,
                        reasons=candidate.reasons,
                        status="open",
                        found_by=candidate.rule,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            continue  # queued by a concurrent write meanwhile
        pair_id = inserted_id(done)
        event = queued_event(principal, rt, pair_id, a, b, candidate.score)
        if other:  # on the record just written, with both types
            event = outbox.by(
                principal,
                rt.workspace_id,
                "duplicate.queued",
                record_type_id=rt.id,
                record_id=record_id,
                data={
                    "pair_id": pair_id,
                    "record_a": a,
                    "type_a": type_a,
                    "record_b": b,
                    "type_b": type_b,
                    "score": candidate.score,
                },
            )
        outbox.write(conn, [event])
        queued += 1
    return queued


def queued_event(
    principal: Principal, rt: RecordTypeDef, pair_id: int, a: int, b: int, score: float
) -> outbox.OutboxEvent:
    """The event of a pair put in the review queue (on the newer record of the two)."""
    return outbox.by(
        principal,
        rt.workspace_id,
        "duplicate.queued",
        record_type_id=rt.id,
        record_id=b,
        data={"pair_id": pair_id, "record_a": a, "record_b": b, "score": score},
    )
