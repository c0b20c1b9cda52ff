"""The automations engine, wired into the worker through the same hooks any plugin uses:
the ``automation.run`` job kind, the timers of time triggers, and the consumer that turns
outbox events into runs. Registered by ``workspace.plugins`` with the core (not subject to
the plugin allow-list: without it no automation would run).
"""

from __future__ import annotations

from collections.abc import Callable

from workspace.automations import engine, events, retention, runs, timers
from workspace.hookspecs import hookimpl
from workspace.jobs.kinds import EventConsumer, JobKind, PeriodicTask
from workspace.runtime import Runtime


@hookimpl
def register_job_kinds(register: Callable[[JobKind], None]) -> None:
    register(JobKind(runs.KIND, engine.handle, max_attempts=runs.JOB_ATTEMPTS))


@hookimpl
def register_periodic_tasks(register: Callable[[PeriodicTask], None]) -> None:
    register(timers.TASK)
    register(retention.TASK)


@hookimpl
def register_event_consumers(register: Callable[[EventConsumer], None], runtime: Runtime) -> None:
    register(events.Consumer(runtime))
