"""The fake vendors' notion of "now": a manual clock the test moves, not the wall clock.

Incremental sync is only testable when the test decides what "changed since" means. Each fake
owns a :class:`Clock`; every write stamps the record with :meth:`Clock.stamp`, which never hands
out the same instant twice (unless asked to), so "modified after X" has one right answer. The
resolution follows the vendor: HubSpot keeps milliseconds, Mailchimp and Stripe whole seconds.

Times are integer milliseconds since the epoch, UTC, to keep comparisons exact.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

#: Where every fake's clock starts unless told otherwise: a fixed instant keeps runs repeatable.
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


def to_ms(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("use an aware datetime: the fakes speak UTC")
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso_millis(ms: int) -> str:
    """HubSpot's format: ``2019-10-30T03:30:17.883Z``."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def iso_seconds(ms: int) -> str:
    """Mailchimp's format: ``2015-10-21T15:41:36+00:00``."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_instant(text: str) -> int:
    """Epoch milliseconds (as HubSpot search accepts) or ISO 8601 (``Z`` or an offset)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return to_ms(when)


class Clock:
    """A clock that moves only when the test (or a write) moves it.

    Args:
        start: the first instant (default :data:`DEFAULT_START`).
        resolution_ms: the vendor's timestamp granularity; stamps are multiples of it.
        strictly_increasing: when true (the default) two writes never share a timestamp. Set it
            false to let writes between two :meth:`advance` calls collide, which is how a
            connector's "same second" boundary bugs show up.
    """

    def __init__(
        self,
        start: datetime = DEFAULT_START,
        *,
        resolution_ms: int = 1,
        strictly_increasing: bool = True,
    ) -> None:
        self.resolution_ms = resolution_ms
        self.strictly_increasing = strictly_increasing
        self._now = self._round_up(to_ms(start))
        self._last: int | None = None
        self._lock = threading.Lock()

    def _round_up(self, ms: int) -> int:
        return -(-ms // self.resolution_ms) * self.resolution_ms

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def now(self) -> datetime:
        return from_ms(self.now_ms())

    def advance(self, seconds: float = 0.0, *, ms: int = 0) -> datetime:
        """Move time forward (never back) and return the new now."""
        step = int(seconds * 1000) + ms
        if step < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._now = self._round_up(self._now + step)
            return from_ms(self._now)

    def stamp(self) -> int:
        """The timestamp for one write, in ms: now, or just after the previous stamp."""
        with self._lock:
            at = self._now
            if self.strictly_increasing and self._last is not None and at <= self._last:
                at = self._last + self.resolution_ms
            self._now = max(self._now, at)
            self._last = at
            return at
