"""The Runtime: the one object that holds what a running server shares between requests.

Built once per app by :func:`build_runtime` (never a module global), handed to services and
plugin hooks. Everything in it is either immutable or safe to share between threads; the
state that must survive a process (sessions, locks, jobs) lives in the database instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pluggy
from sqlalchemy import Engine

from storage_backends import StorageBackendRegistry
from workspace.cache import TtlCache
from workspace.data_engines import DataEngines
from workspace.db import dispose
from workspace.events import Event
from workspace.matching import DedupeRuleRegistry
from workspace.plugin_calls import call_each
from workspace.rate_limits import RateLimiter
from workspace.remote import ConnectorRegistry
from workspace.schema.fields import FieldTypeRegistry
from workspace.schema.tables import SchemaCache
from workspace.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    control: Engine
    pm: pluggy.PluginManager
    field_types: FieldTypeRegistry
    dedupe_rules: DedupeRuleRegistry = field(default_factory=DedupeRuleRegistry)
    schemas: SchemaCache = field(default_factory=SchemaCache)
    storage_backends: StorageBackendRegistry = field(default_factory=StorageBackendRegistry)
    connectors: ConnectorRegistry = field(default_factory=ConnectorRegistry)
    #: Verified API tokens by hash (see ``services.auth``), trusted for a few seconds.
    tokens: TtlCache[Any] = field(default_factory=lambda: TtlCache(0))
    #: Built file backends by (storage settings row id, version): see services.file_storage.
    storage: dict[tuple[int, int], Any] = field(default_factory=dict)
    #: Engines of customer-owned data databases, built when first used.
    data_engines: DataEngines = field(default_factory=lambda: DataEngines(Settings()))
    #: This process's leases of the API rate limits (see workspace.rate_limits).
    rate_limits: RateLimiter | None = None

    def data_engine(self, workspace_id: int) -> Engine:
        """The engine holding a workspace's record tables: its own MySQL when an admin
        connected one, otherwise the managed database (the control database)."""
        return self.data_engines.engine_for(self.control, workspace_id) or self.control

    def emit(self, event: Event) -> None:
        """Hand a committed change to every ``track_event`` plugin; failures are logged."""
        for _name, _result in call_each(self.pm.hook.track_event, event=event, runtime=self):
            pass

    def close(self) -> None:
        self.data_engines.close()
        dispose(self.control)
