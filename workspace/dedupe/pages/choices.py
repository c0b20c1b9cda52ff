"""The merge screen's choices: for each field both values, the one survivorship would keep
preselected (and why), and a typed value for text-like fields; what the form posts, read back
as ``merges.merge`` overrides; and the preview of the record after the merge.

Posted choices are sent as explicit overrides, so the merge keeps what the person saw even if
the defaults would come out differently a moment later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workspace.dedupe import survivorship
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

#: Field types a person may type a value for instead of picking one side's.
TYPED = {"text", "long_text", "email", "phone", "url"}
#: Survivorship rules by name: how the merge screen names them, and what they mean.
WHY = {
    "union": ("both together", "the values of both records together."),
    "most_complete": ("most complete", "the staying record's value, unless it is empty."),
    "most_recent": ("most recent", "the value of the record changed last."),
    "most_restrictive": (
        "most restrictive",
        "the more restrictive value, for consent: an opt-out wins.",
    ),
    "restrictive": (
        "restrictive field",
        "the more restrictive value: this field only tightens unless an admin loosens it.",
    ),
}


@dataclass
class Choice:
    """One field on the merge screen."""

    f: FieldDef
    mine: Any
    theirs: Any
    both: Any = None
    default: str = "survivor"
    selected: str = "survivor"
    typed: str = ""
    error: str | None = None
    options: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.options

    @property
    def typable(self) -> bool:
        return self.f.type.name in TYPED

    @property
    def why(self) -> tuple[str, str]:
        """(name, meaning) of the survivorship rule that picked the default."""
        return WHY.get(survivorship.rule_of(self.f), WHY["most_complete"])


def choices(
    rt: RecordTypeDef,
    survivor: Mapping[str, Any],
    loser: Mapping[str, Any],
    posted: Mapping[str, Any] | None = None,
) -> list[Choice]:
    """Every field of the type with a value in either record; ``posted`` keeps a form's
    choices when the screen is shown again (a refused merge, the preview without JS)."""
    defaults = survivorship.preview(rt, survivor, loser)
    found = []
    for f in rt.fields:
        mine, theirs = survivor["fields"].get(f.key), loser["fields"].get(f.key)
        if f.type.outside_record:  # a file field: the merge keeps the files of both
            continue
        if f.type.is_empty(mine) and f.type.is_empty(theirs):
            continue
        c = Choice(f, mine, theirs)
        if mine != theirs:
            c.options = ["survivor", "loser"]
            kept = defaults.get(f.key)
            if kept != mine and kept != theirs:
                c.options.append("both")
                c.both = kept
            c.default = "survivor" if kept == mine else "loser" if kept == theirs else "both"
        c.selected = c.default
        if posted is not None:
            side = last(posted, f"choice.{f.key}")
            c.selected = side if side in c.options else c.default
            c.typed = last(posted, f"value.{f.key}") if c.typable else ""
        found.append(c)
    return found


def overrides(rt: RecordTypeDef, posted: Mapping[str, Any]) -> dict[str, Any]:
    """The form's choices as ``merges.merge`` overrides: a typed value wins over a picked
    side; "both" is the default for multi-valued fields, so it needs no override."""
    chosen: dict[str, Any] = {}
    for f in rt.fields:
        typed = last(posted, f"value.{f.key}") if f.type.name in TYPED else ""
        side = last(posted, f"choice.{f.key}")
        if typed:
            chosen[f.key] = {"value": typed}
        elif side in ("survivor", "loser"):
            chosen[f.key] = side
    return chosen


def result(
    rt: RecordTypeDef,
    survivor: Mapping[str, Any],
    loser: Mapping[str, Any],
    chosen: Mapping[str, Any],
) -> list[tuple[FieldDef, Any, bool]]:
    """(field, value after the merge, changed from the survivor's value now), fields that
    stay empty left out."""
    after = survivorship.preview(rt, survivor, loser, chosen)
    return [
        (f, after.get(f.key), after.get(f.key) != survivor["fields"].get(f.key))
        for f in rt.fields
        if not f.type.is_empty(after.get(f.key))
    ]


def last(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    if isinstance(value, list):
        value = value[-1] if value else None
    return "" if value is None else str(value).strip()
