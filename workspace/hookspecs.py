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
    from workspace.events import Event
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
