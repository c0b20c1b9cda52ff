"""Restrictive fields: statuses and consents that only tighten unless a person loosens them.

An admin marks a field ``restrictive`` in its config: a single choice whose choices run from
least to most restrictive (Active < Marketing suspended < Email invalid < Blacklisted), or a
consent checkbox where unticked (opted out) is the tighter value. The check sits in the write
path every entry path shares (``writes.write_batch``), so a returning form post, an import
row, an ``update``-mode dedupe rule, an automation or a connector that does not own the field
cannot turn Blacklisted back into Active: only an admin editing the record itself, with a
reason kept in the history, may loosen one.

What happens to a loosening attempt depends on who makes it. A write that only matched the
record (a create merged into it by a dedupe rule) and the intake paths that keep their
payloads (forms, imports, connectors) keep the value on file and report it (``kept``), so the
rest of the data still lands and nothing is silently dropped. A direct edit of the record (the
API, the UI, an automation's set fields) is refused with 409, naming the field, the value on
file and who may change it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workspace.errors import Conflict, ValidationFailed
from workspace.principal import Principal
from workspace.records.ownership import connection_of
from workspace.records.write_items import Item, sent_values
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

#: Sources whose writes arrive as payloads kept with an outcome: a loosening value in them is
#: kept out of the record and reported on that outcome, and the rest of the payload lands.
KEEPING_SOURCES = frozenset({"form", "import", "connector"})
WHO = "only an admin editing this record, with a reason, may loosen it"


class FieldRestrictive(Conflict):
    """A direct write that would loosen a restrictive field, from someone who may not."""

    code = "field_restrictive"


@dataclass(frozen=True)
class Loosening:
    """Leave to loosen restrictive fields in one write: an admin editing the record itself
    (``allowed``), who must say why, or a merge being undone (restoring what was on file)."""

    allowed: bool
    reason: str | None = None


def is_restrictive(f: FieldDef) -> bool:
    return bool(f.config.get("restrictive"))


def rank(f: FieldDef, value: Any) -> int:
    """How restrictive ``value`` is: higher is tighter; empty or unknown values rank lowest."""
    if f.type.name == "checkbox":
        return 0 if value else 1
    labels = [c["label"] for c in f.config.get("choices", [])]
    return labels.index(value) if value in labels else -1


def tightest(f: FieldDef, a: Any, b: Any) -> Any:
    """The more restrictive of two values (a merge's survivor keeps it)."""
    return b if rank(f, b) > rank(f, a) else a


def fields_of(rt: RecordTypeDef) -> list[FieldDef]:
    return [f for f in rt.fields if is_restrictive(f)]


@dataclass
class Guard:
    """The restrictive fields of one batch: which writes loosen them and what became of it."""

    rt: RecordTypeDef
    principal: Principal
    loosen: Loosening | None = None
    #: item index -> {field key: value kept on file instead of the one sent}
    kept: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: item index -> keys of the fields this write loosens with leave to
    loosened: dict[int, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A connection that owns a field is its authority: it may set it either way.
        mine = connection_of(self.principal)
        own = {o.field_id for o in self.rt.owners if mine is not None and o.connection_id == mine}
        self.fields = [f for f in fields_of(self.rt) if f.id not in own]

    def check(self, item: Item, *, matched: bool) -> None:
        """Before ``item`` (an update of ``item.current``) is written: allow, keep or refuse
        each loosened field. ``matched``: the record was found by dedupe, not named."""
        if item.error is not None or item.current is None or not self.fields:
            return
        loosening = self._loosening(item)
        if not loosening:
            return
        if matched or self.principal.source in KEEPING_SOURCES:
            for key in loosening:
                del item.parsed.values[key]
            self.kept[item.index] = {k: cur for k, (cur, _) in loosening.items()}
        elif self.loosen is not None and self.loosen.allowed:
            if not self.loosen.reason:
                item.error = _reason_needed(self.rt, loosening)
            else:
                self.loosened[item.index] = set(loosening)
        else:
            item.error = refusal(self.rt, loosening)

    def _loosening(self, item: Item) -> dict[str, tuple[Any, Any]]:
        assert item.current is not None
        sent = sent_values(self.rt, item)
        found = {}
        for f in self.fields:
            if f.key in sent:
                current = f.type.from_row(f, item.current)
                if rank(f, sent[f.key]) < rank(f, current):
                    found[f.key] = (current, sent[f.key])
        return found

    def annotate(self, item: Item, changes: list[dict[str, Any]]) -> None:
        """Put the person's reason on each loosened field's change in the history."""
        keys = self.loosened.get(item.index, set())
        for change in changes:
            if change["field"] in keys and self.loosen is not None:
                change["reason"] = self.loosen.reason


def refusal(rt: RecordTypeDef, loosening: Mapping[str, tuple[Any, Any]]) -> FieldRestrictive:
    names = {f.key: f.name for f in rt.fields}
    sentences = [
        f"{names[k]} is {_shown(cur)} and only tightens: {WHO} to {_shown(new)}"
        for k, (cur, new) in loosening.items()
    ]
    return FieldRestrictive(
        "; ".join(sentences),
        fields={
            k: f"is {_shown(cur)} and only tightens: {WHO}" for k, (cur, _) in loosening.items()
        },
        details={
            "restrictive": {
                k: {"current": cur, "sent": new} for k, (cur, new) in loosening.items()
            },
            "who": "admin",
        },
    )


def _reason_needed(rt: RecordTypeDef, loosening: Mapping[str, tuple[Any, Any]]) -> ValidationFailed:
    names = {f.key: f.name for f in rt.fields}
    what = ", ".join(
        f"{names[k]} from {_shown(cur)} to {_shown(new)}" for k, (cur, new) in loosening.items()
    )
    return ValidationFailed.single("reason", f"is needed to loosen {what}")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "ticked" if value else "unticked"
    return "empty" if value is None else str(value)


def kept_text(rt: RecordTypeDef, kept: Mapping[str, Any]) -> str:
    """What an outcome says about values kept on file: "kept Status Blacklisted"."""
    names = {f.key: f.name for f in rt.fields}
    return "; ".join(f"kept {names.get(k, k)} {_shown(v)}" for k, v in kept.items())
