"""Whether a request came from htmx (and so wants a fragment, not a full page)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.plugins.htmx import HTMXRequest


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """Litestar's HTMXRequest (installed app-wide by the HTMXPlugin) parses htmx's headers."""
    return isinstance(request, HTMXRequest) and bool(request.htmx)
