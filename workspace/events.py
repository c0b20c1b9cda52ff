"""Events services emit after a change commits; plugins receive them via ``track_event``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    workspace_id: int
    actor_user_id: int | None
    source: str
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class RecordEvent(Event):
    record_type_id: int = 0
    record_id: int = 0
    #: [{"field": key, "old": ..., "new": ...}] as stored in the activity history.
    changes: list[dict[str, Any]] = field(default_factory=list)


class RecordCreated(RecordEvent):
    pass


class RecordUpdated(RecordEvent):
    pass


class RecordDeleted(RecordEvent):
    pass


class RecordRestored(RecordEvent):
    pass


@dataclass(frozen=True)
class RecordTypeChanged(Event):
    record_type_id: int = 0
    #: created | renamed | deleted | field_added | field_changed | field_deleted | ...
    change: str = ""
