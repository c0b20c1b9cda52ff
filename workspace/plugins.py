"""Build the plugin manager: built-in plugins first, then installed ones, through one door.

The built-ins are listed by dotted path and loaded exactly like a third-party package would
be, so they can only use what a third party can (datasette's DEFAULT_PLUGINS).
"""

from __future__ import annotations

import importlib
import logging

import pluggy

from workspace import hookspecs
from workspace.settings import Settings

log = logging.getLogger(__name__)

#: The server's own engines that work through plugin hooks; always registered, whatever the
#: allow-list says.
CORE_PLUGINS = (
    "workspace.automations.hooks",
    "workspace.connectors.hooks",
    "workspace.forms.hooks",
)
DEFAULT_PLUGINS = (
    "plugins.fields_basic",
    "plugins.fields_contact",
    "plugins.fields_links",
    "plugins.fields_files",
    "plugins.dedupe_email",
    "plugins.dedupe_phone",
    "plugins.dedupe_company",
    "plugins.dedupe_names",
    "plugins.dedupe_contact",
    "plugins.connectors_hubspot",
    "plugins.connectors_mailchimp",
    "plugins.connectors_stripe",
    "storage_backends.local",
    "storage_backends.s3",
    "storage_backends.ftp",
    "plugins.automation_triggers",
    "plugins.automation_records",
    "plugins.automation_work",
    "plugins.automation_flow",
    "plugins.automation_http",
    "plugins.automation_mail",
)


def make_plugin_manager(settings: Settings) -> pluggy.PluginManager:
    """A fresh manager per app: built-ins, then entry points, filtered by the allow-list."""
    pm = pluggy.PluginManager("workspace")
    pm.add_hookspecs(hookspecs)
    allowed = settings.allowed_plugins
    for dotted in CORE_PLUGINS:
        pm.register(importlib.import_module(dotted), name=dotted)
    for dotted in DEFAULT_PLUGINS:
        if not allowed or dotted in allowed:
            pm.register(importlib.import_module(dotted), name=dotted)
    if allowed:
        # Load only allowed entry points: an unlisted plugin's code is never imported.
        for name in allowed.difference(DEFAULT_PLUGINS):
            pm.load_setuptools_entrypoints("workspace", name=name)
    else:
        pm.load_setuptools_entrypoints("workspace")
    # Modules named by the operator (a plugin that is not an installed package, or the test
    # plugins a worker process needs): registered by dotted path, like the built-ins.
    for dotted in settings.plugin_module_list:
        if pm.get_plugin(dotted) is None:
            pm.register(importlib.import_module(dotted), name=dotted)
    pm.check_pending()
    return pm
