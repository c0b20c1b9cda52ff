"""Assembling a Runtime from settings: the plugin manager, the registries its plugins fill,
and the engine of the control database.

Apart from :mod:`workspace.runtime` so that the hook specifications can name the Runtime type
without the runtime module depending on them (no import cycle).
"""

from __future__ import annotations

import pluggy

from storage_backends import StorageBackendRegistry
from workspace.cache import TtlCache
from workspace.data_engines import DataEngines
from workspace.db import make_engine
from workspace.matching import DedupeRuleRegistry
from workspace.plugin_calls import call_each
from workspace.plugins import make_plugin_manager
from workspace.rate_limits import RateLimiter
from workspace.remote import ConnectorRegistry
from workspace.runtime import Runtime
from workspace.schema.fields import FieldTypeRegistry
from workspace.settings import Settings


def build_runtime(settings: Settings, pm: pluggy.PluginManager | None = None) -> Runtime:
    pm = pm or make_plugin_manager(settings)
    field_types = FieldTypeRegistry()
    for _ in call_each(pm.hook.register_field_types, register=field_types.register):
        pass
    dedupe_rules = DedupeRuleRegistry()
    for _ in call_each(pm.hook.register_dedupe_rules, register=dedupe_rules.register):
        pass
    storage_backends = StorageBackendRegistry()
    for _ in call_each(pm.hook.register_storage_backends, register=storage_backends.register):
        pass
    connectors = ConnectorRegistry()
    for _ in call_each(pm.hook.register_connectors, register=connectors.register):
        pass
    engine = make_engine(
        settings.control_database_url,
        pool_size=settings.db_pool_size,
        timeout=settings.db_timeout,
    )
    return Runtime(
        settings=settings,
        control=engine,
        pm=pm,
        field_types=field_types,
        dedupe_rules=dedupe_rules,
        storage_backends=storage_backends,
        connectors=connectors,
        tokens=TtlCache(settings.auth_cache_seconds),
        data_engines=DataEngines(settings),
        rate_limits=RateLimiter(engine, settings),
    )
