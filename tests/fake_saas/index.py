"""A sorted list of keys, so a page of a 100,000-record fake costs O(log N + page), not O(N).

Each fake keeps its records in a dict and one :class:`SortedIndex` per order it must serve
(id, last-modified, created). Keys are tuples such as ``(modified_ms, id)``; a cursor becomes a
bisection. Removing a key costs a memmove of the list tail, which for 10^5 pointers is far below
what one HTTP round trip costs, and keeps the structure this small.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any


class SortedIndex:
    """Keys kept in ascending order; duplicates are the caller's business (use unique keys)."""

    def __init__(self) -> None:
        self._keys: list[Any] = []

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, position: int) -> Any:
        return self._keys[position]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._keys)

    def add(self, key: Any) -> None:
        # Seeding and most writes append the newest key: skip the bisection then.
        if not self._keys or key > self._keys[-1]:
            self._keys.append(key)
        else:
            bisect.insort(self._keys, key)

    def remove(self, key: Any) -> None:
        position = bisect.bisect_left(self._keys, key)
        if position < len(self._keys) and self._keys[position] == key:
            del self._keys[position]

    def left(self, key: Any) -> int:
        """Position of the first key >= ``key``."""
        return bisect.bisect_left(self._keys, key)

    def right(self, key: Any) -> int:
        """Position of the first key > ``key``."""
        return bisect.bisect_right(self._keys, key)

    def slice(self, start: int, stop: int) -> list[Any]:
        return self._keys[max(start, 0) : max(stop, 0)]
