"""Reading JSON that clients send, with a nesting limit.

A document nested thousands of levels deep makes a recursive decoder (the standard
library's, msgspec's) hit Python's recursion limit: a ``RecursionError`` that would surface as
a 500, and a deep value that does decode can still exhaust the recursion of code that walks
it. No input of this server needs more than a few levels (filters nest at most six), so a
document deeper than :data:`MAX_DEPTH` is refused as the client's error, whatever it is: a
request body, a filter in the query string, a cursor.
"""

from __future__ import annotations

import json
from typing import Any

#: The deepest nesting of arrays and objects any JSON input may have.
MAX_DEPTH = 64


class TooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(f"nested more than {MAX_DEPTH} levels deep (the limit)")


def loads(text: str | bytes) -> Any:
    """``json.loads`` that raises :class:`TooDeep` instead of recursing without end."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep() from None
    check_depth(value)
    return value


def check_depth(value: Any) -> None:
    """Raise :class:`TooDeep` if ``value`` (decoded JSON) nests deeper than the limit.

    Walks containers only, without recursion, so the check itself cannot overflow.
    """
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TooDeep()
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
