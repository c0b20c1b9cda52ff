"""Every plugin hook of the workspace server, in one place.

Registry hooks take a ``register`` callback (llm's style): a plugin calls it once per thing it
provides. Each hook is documented in ``docs/plugin_hooks.md``; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from storage_backends import StorageBackend
    from workspace.automations.kinds import Action, Trigger
    from workspace.events import Event
    from workspace.jobs.kinds import EventConsumer, JobKind, PeriodicTask
    from workspace.matching import DedupeRule
    from workspace.remote import Connector
    from workspace.runtime import Runtime
    from workspace.schema.fields import FieldType

hookspec = pluggy.HookspecMarker("workspace")
hookimpl = pluggy.HookimplMarker("workspace")


# ---- registries ------------------------------------------------------------------------


@hookspec
def register_field_types(register: Callable[[type[FieldType]], None]) -> None:
    """Register FieldType subclasses. Names must be unique across all plugins."""


@hookspec
def register_dedupe_rules(register: Callable[[type[DedupeRule]], None]) -> None:
    """Register DedupeRule subclasses (match keys, and scores for fuzzy rules). Names must be
    unique across all plugins."""


@hookspec
def register_storage_backends(register: Callable[[type[StorageBackend]], None]) -> None:
    """Register StorageBackend classes (where file bytes are stored). Each has a ``kind``
    ("local", "s3", "ftp"...), unique across all plugins, and builds itself from an admin's
    settings with ``from_config``."""


@hookspec
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register Connector subclasses (``workspace.Connector``), one per SaaS tool: its remote
    objects and properties, how to pull a page after a cursor, fetch rows by id, push
    changes, and check and read its webhooks. Kinds must be unique across all plugins."""


@hookspec
def register_routes(runtime: Runtime) -> list[Any]:
    """Return extra Litestar route handlers or routers to mount on the app."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``workspace`` command line."""


# ---- background work -------------------------------------------------------------------


@hookspec
def register_job_kinds(register: Callable[[JobKind], None]) -> None:
    """Register ``JobKind(name, run, max_attempts=5, backoff=...)`` for each kind of
    background job the plugin enqueues. Names must be unique across all plugins; a worker
    claims only jobs of kinds registered in its own process."""


@hookspec
def register_periodic_tasks(register: Callable[[PeriodicTask], None]) -> None:
    """Register ``PeriodicTask(name, every, run)``: ``run(runtime)`` runs once per interval
    across every worker of the installation (the database decides which one)."""


@hookspec
def register_event_consumers(register: Callable[[EventConsumer], None], runtime: Runtime) -> None:
    """Register consumers of the event outbox: ``consumer(conn, event)`` is called once per
    committed change (an ``OutboxEvent``), inside the worker's dispatch transaction, so what
    it writes with ``conn`` (jobs it enqueues) commits exactly when the event is marked
    dispatched. Keep it quick: enqueue a job for anything slow. ``runtime`` is there for a
    consumer that needs it (an implementation may leave the argument out)."""


# ---- automations -----------------------------------------------------------------------


@hookspec
def register_automation_triggers(register: Callable[[type[Trigger]], None]) -> None:
    """Register ``workspace.Trigger`` subclasses: what starts automation runs (outbox events
    they match, or times they fire at). Names must be unique across all plugins."""


@hookspec
def register_automation_actions(register: Callable[[type[Action]], None]) -> None:
    """Register ``workspace.Action`` subclasses: the kinds of step an automation can take.
    ``check`` cleans the config on save (422 naming the step and field); ``run(step)`` does
    the step through the ``Step`` it is given, whose effects commit with the step's log
    line. Names must be unique across all plugins."""


# ---- events ----------------------------------------------------------------------------


@hookspec
def startup(runtime: Runtime) -> None:
    """Called once when the app has been built and migrations have run."""


@hookspec
def track_event(event: Event, runtime: Runtime) -> None:
    """Called after a change has been committed (record created, updated, deleted...).

    Automations, webhooks and audit exports subscribe here. A plugin that raises is logged
    with its name; the change itself is already committed and stays.
    """
