"""Form encoding with bracket notation: ``address[city]=Paris&metadata[plan]=pro&types[]=a``.

Stripe takes its request parameters this way (stripe-python's ``_api_encode`` flattens nested
dicts to ``key[sub]`` and lists to ``key[0]``; both ``key[]`` and ``key[0]`` are accepted), and
Mailchimp sends its webhooks this way (``data[merges][FNAME]=...``). One parser and one encoder
serve both fakes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

_PART = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    """The parameters cannot be read as nested form fields (e.g. ``a=1&a[b]=2``)."""


def split_key(key: str) -> list[str]:
    """``address[city]`` -> ``["address", "city"]``; ``types[]`` -> ``["types", ""]``."""
    head, bracket, _ = key.partition("[")
    if not bracket:
        return [key]
    rest = key[len(head) :]
    parts = _PART.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest:
        raise FormError(f"Invalid parameter name: {key}")
    return [head, *parts]


def _insert(target: Any, parts: list[str], value: str, key: str) -> Any:
    name, rest = parts[0], parts[1:]
    if isinstance(target, list):
        if name == "" or (name.isdigit() and int(name) == len(target)):
            target.append(None)
            index = len(target) - 1
        elif name.isdigit() and int(name) < len(target):
            index = int(name)
        else:
            raise FormError(f"Invalid array index in parameter: {key}")
        target[index] = _nested(target[index], rest, value, key)
        return target
    if not isinstance(target, dict):
        raise FormError(f"Conflicting parameter: {key}")
    target[name] = _nested(target.get(name), rest, value, key)
    return target


def _nested(current: Any, rest: list[str], value: str, key: str) -> Any:
    if not rest:
        if current is not None:
            raise FormError(f"Duplicate parameter: {key}")
        return value
    if current is None:
        current = [] if rest[0] == "" or rest[0].isdigit() else {}
    return _insert(current, rest, value, key)


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested dicts and lists from ``(key, value)`` pairs in bracket notation."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        _insert(result, split_key(key), value, key)
    return result


def parse(text: str) -> dict[str, Any]:
    """Parse an ``application/x-www-form-urlencoded`` string (a body or a query string)."""
    return parse_pairs(parse_qsl(text, keep_blank_values=True))


def flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in data.items():
        key = f"{prefix}[{name}]" if prefix else str(name)
        if isinstance(value, dict):
            pairs.extend(flatten(value, key))
        elif isinstance(value, list | tuple):
            for position, item in enumerate(value):
                pairs.extend(flatten({str(position): item}, key))
        else:
            pairs.append((key, "" if value is None else str(value)))
    return pairs


def encode(data: dict[str, Any]) -> str:
    """The inverse of :func:`parse` (lists as ``key[0]``, like stripe-python)."""
    return urlencode(flatten(data))
