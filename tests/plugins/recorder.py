"""Records every event it is handed, and can be told to fail."""

from __future__ import annotations

from typing import Any

from workspace import Event, hookimpl


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[Event] = []
        self.fail = fail

    @hookimpl
    def track_event(self, event: Event, runtime: Any) -> None:
        if self.fail:
            raise RuntimeError("recorder was told to fail")
        self.events.append(event)
