"""The DedupeRule extension point: how a rule decides that two records are the same customer.

A rule turns the values of the fields it is configured on into *match keys*: normalised
strings such that two records with a key in common are the same (exact rules), or are worth
comparing (the blocking keys of fuzzy rules, which then ``score`` the pair). Keys are stored
by the server and compared byte for byte, so all the judgement lives here, in the
application, never in a database collation. Built-in rules are plugins in ``plugins/`` and
register through ``register_dedupe_rules`` exactly as a third-party rule does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from workspace.registry import Registry


@dataclass(frozen=True)
class RuleContext:
    """What normalising needs beyond the values: the workspace's phone region."""

    phone_region: str = "US"


@dataclass(frozen=True)
class Score:
    """How alike two records are under a fuzzy rule, 0..1, and why, in words a person can
    check ("email equal", "name 0.93 similar")."""

    value: float
    reasons: list[str] = field(default_factory=list)


class DedupeRule:
    """Base class of dedupe rules. Subclasses set ``name``, ``label``, ``field_types``."""

    name: ClassVar[str]
    label: ClassVar[str]
    #: Field types the rule can read (e.g. {"email"}, {"text"}).
    field_types: ClassVar[frozenset[str]]
    #: How many fields the rule reads, e.g. (1, 1) for email, (1, 2) for a person name given
    #: as one full-name field or as first and last name.
    arity: ClassVar[tuple[int, int]] = (1, 1)
    #: Fuzzy rules find candidates by blocking key and score them; they never block writes.
    fuzzy: ClassVar[bool] = False

    def keys(self, values: Sequence[Any], ctx: RuleContext) -> set[str]:
        """Match keys of one record: ``values`` holds one value per configured field, in the
        configured order (None when empty). Empty input gives no keys: nothing matches it."""
        raise NotImplementedError

    def score(self, a: Sequence[Any], b: Sequence[Any], ctx: RuleContext) -> Score:
        """Fuzzy rules: how alike the values of two records are (called only for pairs that
        share a key)."""
        raise NotImplementedError


class DedupeRuleRegistry(Registry[DedupeRule]):
    """Dedupe rules by name, filled through the ``register_dedupe_rules`` hook."""

    kind = "dedupe rule"
