"""Failures a test programs into a fake: "the next 2 searches answer 429", "hang for 3 s".

A fault sits in front of the fake API, like a gateway or the vendor's throttling layer: the
request is logged, then the first matching fault with uses left answers instead of the API (or,
for a hang, delays it and lets the API answer afterwards, so a write can land after the client
gave up, which is what happens in production). The *body* of the answer is the vendor's own
format; the fake that owns the plan renders it.

Routes are written ``"METHOD /path/glob"`` or ``"/path/glob"`` (any method); ``*`` matches
across ``/``, so ``"POST /crm/v3/objects/*/search"`` catches every object type's search.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass


@dataclass
class Fault:
    """One programmed failure. ``remaining=None`` means until cleared."""

    kind: str  # "rate_limit" | "error" | "hang" | "unauthorized"
    route: str
    remaining: int | None
    status: int = 0
    seconds: float = 0.0
    retry_after: float | None = None

    def matches(self, method: str, path: str) -> bool:
        want_method, _, glob = self.route.partition(" ")
        if not glob:
            want_method, glob = "", want_method
        if want_method and want_method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, glob)


class FaultPlan:
    """The faults a fake still has to play, in the order they were programmed."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("a fault needs at least one use (or None for 'until cleared')")
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that answers this request, using one of its uses up."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
