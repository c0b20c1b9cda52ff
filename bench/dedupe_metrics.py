"""Labelled data sets and how a set of predicted pairs is scored against their truth.

A pair is two record positions ``(i, j)`` with ``i < j`` in the set's insertion order. The
truth is every pair of records that belong to the same entity. Two figures per method:

- **pairs**: precision, recall and F1 of the predicted pairs as they are (the review queue
  shows pairs; this is what splink and recordlinkage report too);
- **clusters**: the same after joining predicted pairs transitively (what the queue amounts to
  once a reviewer has merged every pair in it: A=B and B=C make one customer of three).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

Pair = tuple[int, int]


@dataclass
class LabelledSet:
    """Records (field key -> value) in insertion order, with the entity each belongs to."""

    name: str
    records: list[dict[str, Any]]
    entity: list[Hashable]
    #: Field specs for ``record_types.create_type`` (name, type).
    fields: list[dict[str, Any]]
    #: Dedupe rule specs for ``dedupe_rules.add_rule``.
    rules: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def truth(self) -> set[Pair]:
        return true_pairs(self.entity)


def true_pairs(entity: list[Hashable]) -> set[Pair]:
    by_entity: dict[Hashable, list[int]] = defaultdict(list)
    for i, e in enumerate(entity):
        by_entity[e].append(i)
    return {p for ids in by_entity.values() for p in combinations(ids, 2)}


def ordered(pairs: Iterable[tuple[int, int]]) -> set[Pair]:
    return {(a, b) if a < b else (b, a) for a, b in pairs if a != b}


@dataclass(frozen=True)
class Quality:
    predicted: int
    true_positives: int
    truth: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def quality(predicted: set[Pair], truth: set[Pair]) -> Quality:
    return Quality(len(predicted), len(predicted & truth), len(truth))


def closure(pairs: Iterable[Pair], n: int) -> set[Pair]:
    """Every pair inside the connected components of ``pairs`` (union-find)."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[root(i)].append(i)
    return {p for ids in groups.values() if len(ids) > 1 for p in combinations(ids, 2)}


def exact_match(values: list[Any]) -> set[Pair]:
    """The naive baseline: records with the same non-empty value are one customer."""
    by_value: dict[Any, list[int]] = defaultdict(list)
    for i, v in enumerate(values):
        if v:
            by_value[v].append(i)
    return {p for ids in by_value.values() for p in combinations(ids, 2)}
