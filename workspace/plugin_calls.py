"""Calling plugin hooks so that one failing plugin is reported by name and skipped.

Kept apart from :mod:`workspace.plugins` (which builds the manager from the hook
specifications) so the runtime can call hooks without depending on the specifications,
which in turn name the runtime's type.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pluggy

log = logging.getLogger(__name__)


def call_each(hook: pluggy.HookCaller, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Call every implementation of ``hook`` on its own, so one failing plugin is reported
    by name and skipped instead of taking the caller (or the server) down."""
    for impl in reversed(hook.get_hookimpls()):
        try:
            args = {name: kwargs[name] for name in impl.argnames}
            yield impl.plugin_name, impl.function(**args)
        except Exception:
            log.exception("plugin %s failed in hook %s", impl.plugin_name, hook.name)
