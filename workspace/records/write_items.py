"""The unit of a write batch: an item going in, an outcome coming out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workspace.errors import WorkspaceError
from workspace.records.match_keys import Candidate
from workspace.schema.fields import FieldDef
from workspace.schema.record_values import Parsed
from workspace.schema.tables import RecordTypeDef


@dataclass
class Item:
    """One write: a create, or an update of ``record_id`` (optionally at ``expected_version``)."""

    index: int
    parsed: Parsed
    record_id: int | None = None
    expected_version: int | None = None
    error: WorkspaceError | None = None
    current: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def is_create(self) -> bool:
        return self.record_id is None


@dataclass
class Outcome:
    index: int
    status: str  # created | updated | unchanged | merged | error
    record: dict[str, Any] | None = None
    error: WorkspaceError | None = None
    #: Dedupe: the existing record a create was merged into, and possible duplicates.
    merged_into: int | None = None
    candidates: list[Candidate] = field(default_factory=list)
    #: Restrictive fields whose value on file was kept instead of a looser one sent
    #: (field key -> value kept), reported so the attempt is never silently dropped.
    kept: dict[str, Any] = field(default_factory=dict)


def sent_values(rt: RecordTypeDef, item: Item) -> dict[str, Any]:
    """The values an item writes, by field key, as reads would return them."""
    values = item.parsed.values
    return {f.key: normalised(f, values[f.key]) for f in rt.fields if f.key in values}


def normalised(f: FieldDef, value: Any) -> Any:
    """Link values in the order reads return them, so re-sending them is not a change."""
    return f.type.from_row(f, {f.column: value or []}) if f.type.uses_link_table else value
