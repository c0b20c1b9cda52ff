"""The Jinja environment of the web UI: autoescaped, strict about undefined names.

Each capability package keeps its templates in its own ``templates/`` folder, under a folder
of its area (``workspace/records/templates/record/page.html`` is ``record/page.html``); the
shared layout and macros are in ``workspace/web/templates``. Full pages are
``<area>/<page>.html``, htmx fragments start with ``_``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import phonenumbers
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

STATIC_DIR = Path(__file__).parent / "static"
#: The packages whose ``templates/`` folder the pages read, after ``workspace.web``'s own.
TEMPLATE_PACKAGES = (
    "workspace.access",
    "workspace.types",
    "workspace.records",
    "workspace.dedupe",
    "workspace.storage",
    "workspace.databases",
    "workspace.forms",
    "workspace.imports",
    "workspace.work",
    "workspace.connectors",
    "workspace.automations",
)


@cache
def static_url(name: str) -> str:
    """``/static/<name>?v=<content hash>``: browsers cache forever, deploys still refresh."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    return f"/static/{name}?v={digest}"


def when(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def phone(value: str) -> str:
    """A stored E.164 number (+442079460958) as people write it, in the international
    format of the number's own region (+44 20 7946 0958); anything else as it is."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def make_environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader(package, "templates")
                for package in ("workspace.web", *TEMPLATE_PACKAGES)
            ]
        ),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.filters["when"] = when
    env.filters["phone"] = phone
    return env


def template_config() -> TemplateConfig[Any]:
    return TemplateConfig(engine=JinjaTemplateEngine.from_environment(make_environment()))
