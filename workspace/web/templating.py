"""The Jinja environment of the web UI: autoescaped, strict about undefined names.

Templates come from ``workspace/web/templates`` first, then from plugins (later issues add
the hook); full pages are ``<area>/<page>.html``, htmx fragments start with ``_``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

STATIC_DIR = Path(__file__).parent / "static"


@cache
def static_url(name: str) -> str:
    """``/static/<name>?v=<content hash>``: browsers cache forever, deploys still refresh."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    return f"/static/{name}?v={digest}"


def when(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def make_environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([PackageLoader("workspace.web", "templates")]),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.filters["when"] = when
    return env


def template_config() -> TemplateConfig[Any]:
    return TemplateConfig(engine=JinjaTemplateEngine.from_environment(make_environment()))
