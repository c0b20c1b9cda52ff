"""A small per-process cache whose entries expire, for answers that may be a few seconds old.

Only for things that are safe to serve slightly stale; the database stays the truth, so
several server processes never need to agree on what is cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self._size = size
        self._items: dict[str, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return found[1]

    def put(self, key: str, value: V, seconds: float | None = None) -> None:
        ttl = self.seconds if seconds is None else min(seconds, self.seconds)
        if ttl <= 0:
            return
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()  # crude, but bounded; entries live seconds anyway
            self._items[key] = (time.monotonic() + ttl, value)

    def discard_where(self, predicate: Callable[[V], bool]) -> None:
        with self._lock:
            for key in [k for k, (_, v) in self._items.items() if predicate(v)]:
                del self._items[key]
