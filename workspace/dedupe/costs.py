"""What duplicates cost, per record type: records, probable duplicates in the review queue,
the share of records that are duplicates, and, where an admin entered what a connected tool
charges per record, what the duplicates cost per month.

"Duplicate records" counts the records a person would merge away: the records of the open
pairs of a type, less one per group of records the pairs join (three records of one person
are two duplicates). Counted from the queue, so each scan (and each write that queues a pair)
updates it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select, update

from workspace import models as m
from workspace.db import transaction
from workspace.errors import NotFound, ValidationFailed
from workspace.principal import Access
from workspace.runtime import Runtime

PAIRS, CN, MAP = m.duplicate_pairs, m.connections, m.connection_mappings


def figures(runtime: Runtime, acc: Access, records: Mapping[int, int]) -> dict[int, dict[str, Any]]:
    """Per type id (the keys of ``records``, its live record counts) what the home page shows."""
    found: dict[int, dict[str, Any]] = {}
    with transaction(runtime.control) as conn:
        pairs = conn.execute(
            select(
                PAIRS.c.record_type_id, PAIRS.c.record_a, PAIRS.c.type_b, PAIRS.c.record_b
            ).where(PAIRS.c.workspace_id == acc.workspace_id, PAIRS.c.status == "open")
        ).all()
        prices = _prices(conn, acc.workspace_id)
    for type_id, total in records.items():
        same = [(a, b) for t, a, other, b in pairs if t == type_id and other == 0]
        across = sum(1 for t, _, other, _ in pairs if other and type_id in {t, other})
        duplicates = _merged_away(same)
        price = prices.get(type_id)
        found[type_id] = {
            "records": total,
            "queued": len(same) + across,
            "across": across,
            "duplicates": duplicates,
            "share": duplicates / total if total else 0.0,
            "price": price,
            "monthly_cost": duplicates * price if price is not None else None,
        }
    return found


def _merged_away(pairs: Iterable[tuple[int, int]]) -> int:
    """Records in the pairs less one per connected group (union-find)."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups = {root(x) for x in list(parent)}
    return len(parent) - len(groups)


def _prices(conn: Any, workspace_id: int) -> dict[int, float]:
    """Per record type, what the connected tools holding its records charge per record."""
    rows = conn.execute(
        select(MAP.c.record_type_id, func.sum(CN.c.price_per_record))
        .join(CN, CN.c.id == MAP.c.connection_id)
        .where(
            CN.c.workspace_id == workspace_id,
            CN.c.deleted_at.is_(None),
            CN.c.price_per_record.is_not(None),
            MAP.c.state == "active",
        )
        .group_by(MAP.c.record_type_id)
    ).all()
    return {type_id: float(total) for type_id, total in rows if total is not None}


def priced_connections(runtime: Runtime, acc: Access) -> list[dict[str, Any]]:
    """The workspace's connections with the price an admin entered (None: not entered)."""
    with transaction(runtime.control) as conn:
        rows = conn.execute(
            select(CN.c.id, CN.c.name, CN.c.kind, CN.c.price_per_record)
            .where(CN.c.workspace_id == acc.workspace_id, CN.c.deleted_at.is_(None))
            .order_by(CN.c.id)
        ).all()
    return [{"id": r.id, "name": r.name, "kind": r.kind, "price": r.price_per_record} for r in rows]


def set_price(runtime: Runtime, acc: Access, connection_id: int, value: Any) -> None:
    """What a connected tool charges per record and month; empty clears it."""
    acc.require("admin")
    name = f"price_{connection_id}"
    price: float | None = None
    if value not in (None, ""):
        try:
            price = float(str(value).replace(",", "."))
        except ValueError:
            raise ValidationFailed.single(name, "must be a number, like 0.05") from None
        if not 0 <= price < 1_000_000 or price != price:
            raise ValidationFailed.single(name, "must be 0 or more (per record and month)")
    with transaction(runtime.control, write=True) as conn:
        done = conn.execute(
            update(CN)
            .where(
                CN.c.id == connection_id,
                CN.c.workspace_id == acc.workspace_id,
                CN.c.deleted_at.is_(None),
            )
            .values(price_per_record=price)
        )
    if done.rowcount == 0:
        raise NotFound("connection not found")
