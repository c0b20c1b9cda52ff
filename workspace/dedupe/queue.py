"""The review queue: pairs of records that may be the same customer, and the scan that
fills it from the records on file.

A scan never compares every record with every other: each rule's stored keys group the
records (exact rules: equal keys; fuzzy rules: shared blocking keys), and only records in
the same group are compared. A pair a person marked "not a duplicate" is never queued again.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from typing import Any

from sqlalchemy import Connection, Double, and_, cast, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from workspace import models as m
from workspace import outbox
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.dedupe import cross_pairs, pair_cursor
from workspace.errors import NotFound, ValidationFailed
from workspace.matching import RuleContext
from workspace.principal import Access, Principal
from workspace.records import match_keys
from workspace.records.match_keys import Candidate
from workspace.runtime import Runtime
from workspace.schema.record_values import load_records
from workspace.schema.tables import RecordTypeDef, RuleDef

PAIRS = m.duplicate_pairs
STATUSES = ("open", "merged", "not_duplicate", "skipped")
DECISIONS = ("not_duplicate", "skipped", "open")
#: A blocking group larger than this (a switchboard number shared by a whole company) is
#: compared only against its oldest record: comparing all of it would be quadratic.
GROUP_LIMIT = 100
BATCH = 500
#: Records whose values a scan keeps in memory at once, and ids per load query.
VALUES_KEPT = 200_000
LOAD_CHUNK = 1000


def list_pairs(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    *,
    status: str = "open",
    limit: int = 50,
    after: str | None = None,
) -> dict[str, Any]:
    """Pairs best-scored first, each with both records and the fields that differ.

    Pages follow the order shown, (score, id) both descending, from the ``next_after``
    cursor of the page before: every pair comes exactly once, also while others are added
    or decided meanwhile (a pair added above the cursor waits for the next pass).
    """
    if status not in STATUSES:
        raise ValidationFailed.single("status", f"must be one of {', '.join(STATUSES)}")
    if not 1 <= limit <= 200:
        raise ValidationFailed.single("limit", "must be between 1 and 200")
    # The score is a single-precision FLOAT on MySQL, which the server prints rounded to six
    # digits: read as a double it is exact, so the next page's comparison finds it again.
    exact_score = cast(PAIRS.c.score, Double).label("score")
    columns = [c for c in PAIRS.c if c.key != "score"]
    query = (
        select(*columns, exact_score)
        .where(cross_pairs.of_type(rt.id), PAIRS.c.status == status)
        .order_by(PAIRS.c.score.desc(), PAIRS.c.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        score, pair_id = pair_cursor.decode(after)
        query = query.where(
            or_(PAIRS.c.score < score, and_(PAIRS.c.score == score, PAIRS.c.id < pair_id))
        )
    with transaction(runtime.control) as conn:
        rows = conn.execute(query).mappings().all()
    more, rows = len(rows) > limit, rows[:limit]
    if any(r["type_b"] for r in rows):
        items = cross_pairs.public_pairs(runtime, acc, rt, rows)
    else:
        ids = {r[k] for r in rows for k in ("record_a", "record_b")}
        with transaction(runtime.data_engine(acc.workspace_id)) as conn:
            found = conn.execute(select(rt.table).where(rt.table.c.id.in_(ids))).mappings().all()
            by_id = {r["id"]: r for r in load_records(conn, rt, found)}
        items = [cross_pairs.public_pair(rt, rt, row, by_id, by_id) for row in rows]
    last = rows[-1] if more and rows else None
    return {
        "items": items,
        "next_after": pair_cursor.encode(last["score"], last["id"]) if last else None,
    }


def decide(runtime: Runtime, acc: Access, rt: RecordTypeDef, pair_id: int, decision: str) -> None:
    """ "not_duplicate" is remembered (never queued again); "skipped" sets it aside."""
    acc.require("member")
    if decision not in DECISIONS:
        raise ValidationFailed.single("decision", f"must be one of {', '.join(DECISIONS)}")
    with transaction(runtime.control, write=True) as conn:
        done = conn.execute(
            update(PAIRS)
            .where(PAIRS.c.id == pair_id, cross_pairs.of_type(rt.id))
            .values(status=decision, decided_at=utcnow(), decided_by=acc.user_id)
        )
    if done.rowcount == 0:
        raise NotFound("pair not found")


def scan(runtime: Runtime, acc: Access, rt: RecordTypeDef) -> dict[str, int]:
    """Compare the records on file by every rule of the type; queue the likely pairs."""
    acc.require("member")
    ctx = RuleContext(acc.phone_region)
    queued = compared = 0
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        for rd in rt.dedupe:
            values = _Values(conn, rt, rd)
            for batch in _batches(_pairs_to_compare(conn, rt, rd)):
                compared += len(batch)
                found = _judge(values, rd, batch, ctx)
                if found:
                    with transaction(runtime.control, write=True) as control:
                        queued += _queue(control, rt, found, acc.principal)
    across = cross_pairs.scan(runtime, acc, rt)
    return {"compared": compared + across["compared"], "queued": queued + across["queued"]}


def _pairs_to_compare(
    conn: Connection, rt: RecordTypeDef, rd: RuleDef
) -> Iterator[tuple[int, int]]:
    """Pairs of records that share a key under ``rd``, each once."""
    keys = rt.keys_table
    rows = conn.execute(
        select(keys.c.key, keys.c.record_id)
        .where(keys.c.signature == rd.signature)
        .order_by(keys.c.key, keys.c.record_id)
    )
    seen: set[tuple[int, int]] = set()
    group: list[int] = []
    current = None
    for key, record_id in [*rows, (None, None)]:
        if key != current and group:
            for pair in _group_pairs(group):
                if pair not in seen:
                    seen.add(pair)
                    yield pair
            group = []
        current = key
        if record_id is not None:
            group.append(record_id)


def _group_pairs(group: list[int]) -> Iterator[tuple[int, int]]:
    if len(group) <= GROUP_LIMIT:
        yield from combinations(sorted(group), 2)
        return
    oldest, *rest = sorted(group)
    yield from ((oldest, other) for other in rest)


def _batches(pairs: Iterator[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    batch: list[tuple[int, int]] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class _Values:
    """The values a rule reads, by record id, loaded as pairs need them and kept for the
    rest of the scan (a record meets its group's members in many pairs; reading it once
    instead of once per batch made the scan of 100,000 records several times faster)."""

    def __init__(self, conn: Connection, rt: RecordTypeDef, rd: RuleDef) -> None:
        self.conn, self.rt, self.rd = conn, rt, rd
        self.known: dict[int, list[Any] | None] = {}

    def get(self, ids: set[int]) -> dict[int, list[Any] | None]:
        missing = sorted(ids - self.known.keys())
        if len(self.known) + len(missing) > VALUES_KEPT:
            self.known.clear()  # bounded memory on very large types; reloads are correct
            missing = sorted(ids)
        table = self.rt.table
        for start in range(0, len(missing), LOAD_CHUNK):
            chunk = missing[start : start + LOAD_CHUNK]
            rows = (
                self.conn.execute(
                    select(table).where(table.c.id.in_(chunk), table.c.deleted_at.is_(None))
                )
                .mappings()
                .all()
            )
            self.known.update(dict.fromkeys(chunk))  # deleted or gone: None
            for record in load_records(self.conn, self.rt, rows):
                self.known[record["id"]] = match_keys.values_for(self.rt, self.rd, record["fields"])
        return {i: self.known[i] for i in ids}


def _judge(
    values: _Values,
    rd: RuleDef,
    pairs: list[tuple[int, int]],
    ctx: RuleContext,
) -> list[tuple[int, Candidate]]:
    if not rd.rule.fuzzy:
        reason = [f"same {rd.rule.label.lower()}"]
        return [(a, Candidate(b, rd.rule.name, 1.0, reason)) for a, b in pairs]
    loaded = values.get({i for pair in pairs for i in pair})
    threshold = rd.threshold if rd.threshold is not None else match_keys.DEFAULT_THRESHOLD
    found = []
    for a, b in pairs:
        va, vb = loaded[a], loaded[b]
        if va is not None and vb is not None:
            score = rd.rule.score(va, vb, ctx)
            if score.value >= threshold:
                found.append((a, Candidate(b, rd.rule.name, score.value, score.reasons)))
    return found


def _queue(
    conn: Connection, rt: RecordTypeDef, found: list[tuple[int, Candidate]], principal: Principal
) -> int:
    """Queue new pairs, each with its ``duplicate.queued`` event; pairs already queued or
    decided (in any status) stay as they are."""
    known = _known(conn, rt, found)
    fresh: dict[tuple[int, int], tuple[int, Candidate]] = {}
    for x, c in found:
        pair = (min(x, c.record_id), max(x, c.record_id))
        if pair not in known:
            fresh.setdefault(pair, (x, c))
    if not fresh:
        return 0
    now = utcnow()
    rows = [
        {
            "workspace_id": rt.workspace_id,
            "record_type_id": rt.id,
            "record_a": a,
            "record_b": b,
            "score": c.score,
            "reasons": c.reasons,
            "status": "open",
            "found_by": c.rule,
            "created_at": now,
        }
        for (a, b), (_, c) in fresh.items()
    ]
    try:
        # One statement for the batch: one row at a time cost four round trips per pair
        # and most of a 100,000-record scan's time.
        with conn.begin_nested():
            conn.execute(insert(PAIRS), rows)
    except IntegrityError:  # a write queued one of them meanwhile: go one by one
        again = _known(conn, rt, found)
        todo = [xc for pair, xc in fresh.items() if pair not in again]
        match_keys.queue_pairs(conn, rt, todo, principal)
        return len(fresh.keys() - again)
    _announce(conn, rt, fresh, principal)
    return len(rows)


def _announce(
    conn: Connection,
    rt: RecordTypeDef,
    fresh: dict[tuple[int, int], tuple[int, Candidate]],
    principal: Principal,
) -> None:
    """The events of pairs just queued (one read for their ids: a multi-row insert on
    MySQL tells only the first)."""
    ids = {
        (a, b): pair_id
        for pair_id, a, b in conn.execute(
            select(PAIRS.c.id, PAIRS.c.record_a, PAIRS.c.record_b).where(
                PAIRS.c.record_type_id == rt.id,
                PAIRS.c.type_b == 0,
                PAIRS.c.record_a.in_({a for a, _ in fresh}),
                PAIRS.c.record_b.in_({b for _, b in fresh}),
            )
        )
    }
    events = [
        match_keys.queued_event(principal, rt, ids[pair], pair[0], pair[1], c.score)
        for pair, (_, c) in fresh.items()
    ]
    outbox.write(conn, events)


def _known(
    conn: Connection, rt: RecordTypeDef, found: list[tuple[int, Candidate]]
) -> set[tuple[int, int]]:
    return {
        (a, b)
        for a, b in conn.execute(
            select(PAIRS.c.record_a, PAIRS.c.record_b).where(
                PAIRS.c.record_type_id == rt.id,
                PAIRS.c.type_b == 0,
                PAIRS.c.record_a.in_({min(x, c.record_id) for x, c in found}),
            )
        )
    }
