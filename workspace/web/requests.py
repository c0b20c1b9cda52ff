"""The request class of the app: JSON bodies read under the nesting limit.

Litestar decodes a JSON body with msgspec, which raises ``RecursionError`` on a document
nested deeper than Python's recursion limit; here that, and any body deeper than
:data:`workspace.json_input.MAX_DEPTH`, is a 400 naming the limit.
"""

from __future__ import annotations

from typing import Any

from litestar.plugins.htmx import HTMXRequest

from workspace.errors import BadRequest
from workspace.json_input import TooDeep, check_depth


class AppRequest(HTMXRequest):
    """htmx's request (pages tell fragments from full pages by it), reading JSON safely."""

    async def json(self) -> Any:
        try:
            value = await super().json()
            check_depth(value)
        except (RecursionError, TooDeep):
            raise BadRequest(f"body: {TooDeep()}") from None
        return value
