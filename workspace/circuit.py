"""A circuit per customer database: how many request threads may wait on it, and when to stop
asking it at all.

Request handlers run in one thread pool per process (``WORKSPACE_THREADS``). A customer's
MySQL that takes connections and never answers would keep every thread that reaches it
waiting for its timeouts, until the requests of every other workspace queue behind them. So
each customer database gets a :class:`Circuit`:

* **bounded concurrency**: at most ``permits`` threads use it at once (its pool's size), and
  at most ``waiting`` more wait up to :data:`WAIT_SECONDS` for a turn; any further request is
  answered 503 at once. One database can never hold more than ``permits + waiting`` threads.
* **a breaker**: after :data:`FAILURES_TO_OPEN` failures in a row to connect or to get an
  answer, the circuit opens and every request is answered 503 at once, without touching the
  network, for :data:`OPEN_SECONDS`. Then one request goes through as a probe (half open):
  if it is answered, the circuit closes; if not, it opens again.

State is per process, like the thread pool it protects.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from workspace.errors import Unavailable

FAILURES_TO_OPEN = 3
OPEN_SECONDS = 10.0
WAIT_SECONDS = 1.0


class Circuit:
    """The concurrency bound and breaker of one database (``where``: "host:port")."""

    def __init__(
        self,
        where: str,
        permits: int,
        *,
        waiting: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = where
        self.permits = permits
        self.waiting = permits // 2 if waiting is None else waiting
        self.clock = clock
        self._lock = threading.Condition()
        self._busy = 0
        self._waiters = 0
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    @contextmanager
    def turn(self, failed: Callable[[BaseException], bool]) -> Iterator[None]:
        """Use the database inside the block. An exception for which ``failed`` is true
        counts as the database not answering; anything else (including no exception) as
        an answer."""
        probe = self.enter()
        answered = True
        try:
            yield
        except BaseException as exc:
            answered = not failed(exc)
            raise
        finally:
            self.leave(answered=answered, probe=probe)

    def enter(self) -> bool:
        """Take a turn, or raise Unavailable (503) at once: the circuit is open and it is
        not time for a probe (or one is out), or every turn is taken and the waiting room
        is full or the wait ran out. Returns whether this turn is the probe."""
        with self._lock:
            if self._opened_at is None and self._busy >= self.permits:
                self._wait_for_turn()
            if self._opened_at is not None:
                self._probe_or_refuse()
                self._busy += 1
                return True
            self._busy += 1
            return False

    def _probe_or_refuse(self) -> None:
        assert self._opened_at is not None
        left = self._opened_at + OPEN_SECONDS - self.clock()
        if left > 0 or self._probing:
            raise Unavailable(
                f"the workspace's database at {self.where} is not answering: the server "
                f"stopped trying for a while after {FAILURES_TO_OPEN} failures in a row",
                retry_after=max(1, math.ceil(left)),
            )
        self._probing = True

    def _wait_for_turn(self) -> None:
        """Wait for a free turn (or for the circuit to open), in the waiting room."""
        if self._waiters >= self.waiting:
            raise self._busy_error()
        self._waiters += 1
        try:
            deadline = self.clock() + WAIT_SECONDS
            while self._busy >= self.permits and self._opened_at is None:
                left = deadline - self.clock()
                if left <= 0:
                    raise self._busy_error()
                self._lock.wait(left)
        finally:
            self._waiters -= 1

    def _busy_error(self) -> Unavailable:
        return Unavailable(
            f"the workspace's database at {self.where} is not answering: every connection "
            "to it is busy (it is slow or stopped)",
            retry_after=5,
        )

    def leave(self, *, answered: bool, probe: bool = False) -> None:
        """Give the turn back. ``answered``: the database answered (whatever it said), so
        the circuit closes; otherwise one more failure in a row, and a failed probe or
        :data:`FAILURES_TO_OPEN` of them open it."""
        with self._lock:
            self._busy -= 1
            if probe:
                self._probing = False
            if answered:
                self._failures = 0
                self._opened_at = None
            else:
                self._failures += 1
                if probe or self._failures >= FAILURES_TO_OPEN:
                    self._opened_at = self.clock()
            self._lock.notify_all()
