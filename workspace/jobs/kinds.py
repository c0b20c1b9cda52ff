"""What the worker can run: job kinds, periodic tasks and event consumers, as plugins
register them (``register_job_kinds``, ``register_periodic_tasks``,
``register_event_consumers``).

The registries are built from a runtime's plugin manager the first time the worker asks,
and kept per plugin manager: the Runtime itself does not hold them, so the core does not
depend on this package.
"""

from __future__ import annotations

import datetime as dt
import random
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy
from sqlalchemy import Connection

from workspace.outbox import OutboxEvent
from workspace.plugin_calls import call_each
from workspace.runtime import Runtime

#: A consumer of outbox events; it runs inside the dispatch transaction, so what it writes
#: (jobs it enqueues) commits together with the event being marked dispatched.
EventConsumer = Callable[[Connection, OutboxEvent], None]
PERIODIC = "periodic:"


@dataclass(frozen=True)
class Job:
    """A claimed job as its handler sees it."""

    id: int
    kind: str
    payload: dict[str, Any]
    workspace_id: int | None
    #: This attempt's number, from 1.
    attempts: int
    max_attempts: int
    lease_token: str
    key: str | None
    run_at: dt.datetime
    #: When the worker claimed it: "now" for the handler (tests move it forward).
    claimed_at: dt.datetime
    progress: dict[str, Any] | None = None
    #: How the handler ended the job itself ("done", "queued"), if it did: the worker then
    #: has nothing left to write (a transaction saved per job).
    ended: list[str] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], token: str, claimed_at: dt.datetime) -> Job:
        return cls(
            id=row["id"],
            kind=row["kind"],
            payload=dict(row["payload"] or {}),
            workspace_id=row["workspace_id"],
            attempts=row["attempts"],
            max_attempts=row["max_attempts"],
            lease_token=token,
            key=row["key"],
            run_at=row["run_at"],
            claimed_at=claimed_at,
            progress=row["progress"],
        )


def exponential(base: float = 90.0, factor: float = 3.0) -> Callable[[int], dt.timedelta]:
    """Waits of ``base * factor**(n-1)`` seconds after failed attempt ``n``, give or take a
    tenth (so jobs that failed together do not all come back together). The defaults wait
    1.5, 4.5, 13.5 and 40.5 minutes: five attempts over about an hour."""

    def wait(attempt: int) -> dt.timedelta:
        seconds = base * factor ** max(attempt - 1, 0)
        return dt.timedelta(seconds=seconds * random.uniform(0.9, 1.1))

    return wait


@dataclass(frozen=True)
class JobKind:
    """A kind of job. ``run(runtime, job)`` does the work; to make its database effects
    count exactly once it calls ``queue.finish(conn, job)`` in the transaction that writes
    them. A ``run`` that raises is retried after ``backoff(attempt)`` until the job has had
    ``max_attempts`` (the smaller of the job's and this), then the job is dead, its error
    kept, until replayed."""

    name: str
    run: Callable[[Runtime, Job], None]
    max_attempts: int = 5
    backoff: Callable[[int], dt.timedelta] = field(default_factory=exponential)


@dataclass(frozen=True)
class PeriodicTask:
    """Work done every ``every`` by one worker of all (the database decides which)."""

    name: str
    every: dt.timedelta
    run: Callable[[Runtime], None]


def name_of(consumer: EventConsumer) -> str:
    """A consumer's dotted name, for the log."""
    module = getattr(consumer, "__module__", "?")
    return f"{module}.{getattr(consumer, '__qualname__', type(consumer).__name__)}"


@dataclass
class Registries:
    kinds: dict[str, JobKind] = field(default_factory=dict)
    periodic: dict[str, PeriodicTask] = field(default_factory=dict)
    #: In registration order.
    consumers: list[EventConsumer] = field(default_factory=list)

    def add_kind(self, kind: JobKind) -> None:
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name!r} is registered twice")
        self.kinds[kind.name] = kind

    def add_periodic(self, task: PeriodicTask) -> None:
        if task.name in self.periodic:
            raise ValueError(f"periodic task {task.name!r} is registered twice")
        if task.every <= dt.timedelta(0):
            raise ValueError(f"periodic task {task.name!r} needs a positive interval")
        self.periodic[task.name] = task


_built: weakref.WeakKeyDictionary[pluggy.PluginManager, Registries] = weakref.WeakKeyDictionary()


def registries(runtime: Runtime, built_in: Callable[[Registries], None]) -> Registries:
    """The registries of ``runtime``'s plugins (built once per plugin manager); ``built_in``
    adds what the worker brings itself (periodic tasks as job kinds, pruning)."""
    found = _built.get(runtime.pm)
    if found is not None:
        return found
    regs = Registries()
    for _ in call_each(runtime.pm.hook.register_job_kinds, register=regs.add_kind):
        pass
    for _ in call_each(runtime.pm.hook.register_periodic_tasks, register=regs.add_periodic):
        pass
    hook = runtime.pm.hook.register_event_consumers
    for _ in call_each(hook, register=regs.consumers.append, runtime=runtime):
        pass
    built_in(regs)
    _built[runtime.pm] = regs
    return regs
