"""Value templates of automations: Jinja2 in its sandbox.

A value that is a string holding ``{{`` or ``{%`` is a template, rendered with the record's
fields (``record.<key>``, ``record.id``), what triggered the run (``trigger.kind``,
``trigger.changes``, ``trigger.data``, ``trigger.payload`` for an inbound webhook), the
automation (``automation.name``) and ``today``/``now`` in the workspace's time zone. The
sandbox refuses attribute tricks that would reach Python internals; an unknown name is an
error (StrictUndefined), not an empty string that quietly clears a field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
MAX_CHARS = 10_000


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def problem(value: Any) -> str | None:
    """Why ``value`` is not a usable template (None when it is, or is no template)."""
    if not is_template(value):
        return None
    if len(value) > MAX_CHARS:
        return f"a template may have at most {MAX_CHARS} characters"
    try:
        ENV.parse(value)
    except TemplateError as exc:
        return f"invalid template: {exc.message or exc}"
    return None


def render(value: Any, names: Mapping[str, Any]) -> Any:
    """``value`` with every template in it rendered (lists and dicts are walked)."""
    if isinstance(value, dict):
        return {k: render(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, names) for v in value]
    if not is_template(value):
        return value
    return ENV.from_string(value).render(**names)
