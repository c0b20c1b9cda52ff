"""The connectors, wired into the worker through the same hooks any plugin uses: the sync,
push and webhook job kinds, the scheduled pulls, and the consumer turning record changes
into pushes. Registered by ``workspace.plugins`` with the core (like the automations'
engine: without it no scheduled pull or push would run)."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from workspace.connectors import background
from workspace.jobs.kinds import EventConsumer, JobKind, PeriodicTask
from workspace.runtime import Runtime

#: The project's marker, made here: the hook specifications module names the automations'
#: types, and importing it would make connectors depend on a package above them.
hookimpl = pluggy.HookimplMarker("workspace")


@hookimpl
def register_job_kinds(register: Callable[[JobKind], None]) -> None:
    for kind in background.KINDS:
        register(kind)


@hookimpl
def register_periodic_tasks(register: Callable[[PeriodicTask], None]) -> None:
    register(background.TASK)


@hookimpl
def register_event_consumers(register: Callable[[EventConsumer], None], runtime: Runtime) -> None:
    register(background.Consumer())
