"""API rate limits counted across server processes, for the price of a dictionary lookup on
most requests.

Each limit counts requests per bucket (an API token, or a client address) in fixed windows
of ``api_rate_window`` seconds. The count lives in the control database (``rate_counts``),
but a process does not write it per request: it takes a **lease** of several requests at a
time (a transaction that adds them to the bucket's row, never past the limit) and admits
requests from its lease in memory, taking another when it runs out. So:

* the limit is never exceeded, however many processes serve the bucket: every admitted
  request was counted in the database before it was admitted;
* a bucket may be refused a little **early**: requests leased by one process and not used
  there are not available to the others, at most ``(processes - 1) * lease`` per window, a
  lease being 1/50 of the limit (12 requests of 600);
* the database sees one short write per lease, not one per request, and a refused bucket
  is answered from memory until its window ends.

A lease that fails (the database is away) admits the request: the request will answer 503
on its own, and a limit must not turn an outage into errors of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from workspace import models as m
from workspace.db import transaction
from workspace.errors import Unavailable
from workspace.settings import Settings

R = m.rate_counts
#: A lease is this share of the limit (at least one request).
LEASES_PER_LIMIT = 50
#: Buckets kept in memory before those of past windows are dropped.
MAX_BUCKETS = 10_000
#: :meth:`RateLimiter.decide`'s answer when only the database can tell.
LEASE = object()


@dataclass
class _Bucket:
    window: int
    left: int = 0
    spent: bool = False


class RateLimiter:
    """This process's leases, per bucket, in windows of ``settings.api_rate_window``."""

    def __init__(
        self, control: Engine, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self.control = control
        self.settings = settings
        self.window = max(1, settings.api_rate_window)
        self.clock = clock
        self._secret: bytes | None = None
        self._addresses: dict[str, str] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._swept = 0

    def decide(self, bucket: str, limit: int) -> int | object | None:
        """What memory alone can say of one more request of ``bucket`` (never blocks): None,
        admitted; seconds until the window ends, refused; or :data:`LEASE`: ask
        :meth:`admit`, which takes a lease from the database."""
        if limit <= 0:
            return None
        now = self.clock()
        window = self._window(now)
        with self._lock:
            state = self._state(bucket, window)
            if self._take(state):
                return None
            if state.spent:
                return self._until_next(now, window)
        return LEASE

    def admit(self, bucket: str, limit: int) -> int | None:
        """Count one request of ``bucket`` against ``limit`` (0: no limit), taking a lease
        when this process has none left. None: admitted; otherwise the seconds until the
        window ends (the request is refused)."""
        decided = self.decide(bucket, limit)
        if decided is not LEASE:
            return decided  # type: ignore[return-value]
        now = self.clock()
        window = self._window(now)
        granted = self._lease(bucket, window, limit)
        with self._lock:
            state = self._state(bucket, window)
            state.left += granted
            state.spent = granted == 0
            if self._take(state):
                return None
        return self._until_next(now, window)

    def address_bucket(self, address: str) -> str:
        """The bucket of a client address: an HMAC with the server key, never the address
        (remembered per address: it is asked for on every request)."""
        found = self._addresses.get(address)
        if found is not None:
            return found
        if self._secret is None:
            self._secret = self.settings.resolved_secret_key().encode()
        digest = hmac.new(self._secret, b"api-address\x1f" + address.encode(), hashlib.sha256)
        if len(self._addresses) >= MAX_BUCKETS:
            self._addresses.clear()
        found = self._addresses[address] = "address:" + digest.hexdigest()[:40]
        return found

    def _window(self, now: float) -> int:
        return int(now // self.window) * self.window

    def _state(self, bucket: str, window: int) -> _Bucket:
        state = self._buckets.get(bucket)
        if state is None or state.window != window:
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets = {k: b for k, b in self._buckets.items() if b.window == window}
            state = self._buckets[bucket] = _Bucket(window)
        return state

    @staticmethod
    def _take(state: _Bucket) -> bool:
        if state.left > 0:
            state.left -= 1
            return True
        return False

    def _until_next(self, now: float, window: int) -> int:
        return max(1, math.ceil(window + self.window - now))

    def _lease(self, bucket: str, window: int, limit: int) -> int:
        """Add up to a lease to the bucket's count, never past ``limit``; how many were
        added (all of a lease when the database is away)."""
        want = max(1, limit // LEASES_PER_LIMIT)
        try:
            for _attempt in range(2):
                try:
                    return self._add(bucket, window, limit, want)
                except IntegrityError:  # another process made the row just now
                    continue
        except Unavailable:
            return want
        return 0

    def _add(self, bucket: str, window: int, limit: int, want: int) -> int:
        key = (R.c.window_start == window) & (R.c.bucket == bucket)
        with transaction(self.control, write=True) as conn:
            used = conn.execute(select(R.c.used).where(key).with_for_update()).scalar()
            if used is None:
                granted = min(want, limit)
                conn.execute(insert(R).values(window_start=window, bucket=bucket, used=granted))
                if window > self._swept:  # once per window and process: forget old windows
                    self._swept = window
                    conn.execute(delete(R).where(R.c.window_start < window - self.window))
                return granted
            granted = max(0, min(want, limit - used))
            if granted:
                conn.execute(update(R).where(key).values(used=R.c.used + granted))
            return granted


def token_bucket(token_hash: str) -> str:
    """The bucket of an API token, by the hash the database keeps of it."""
    return "token:" + token_hash[:40]
