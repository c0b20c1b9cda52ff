"""Stripe objects in memory: customers, events, and the newest-first lists Stripe pages through.

Documented behaviour (docs.stripe.com/api "Customers", "Events", "Pagination", "Metadata";
``stripe/_customer.py`` and ``stripe/_event.py`` in github.com/stripe/stripe-python):

* A customer has ``id`` ``cus_...``, ``object: "customer"``, ``address`` (city, country, line1,
  line2, postal_code, state) or null, ``created`` (epoch seconds), ``email``, ``name``,
  ``phone``, ``metadata``, ``preferred_locales``, ``balance``, ``currency``, ``delinquent``,
  ``invoice_prefix``, ``livemode``... Updating takes only the parameters sent; an empty string
  unsets a field, ``metadata[key]=`` removes one key and ``metadata=`` all of them; metadata
  holds at most 50 keys of at most 40 characters with values of at most 500.
* Lists are newest first: ``{"object": "list", "data", "has_more", "url"}`` with ``limit``
  (1-100, default 10), ``starting_after`` / ``ending_before`` (object ids; only one of them),
  and ``created`` as a timestamp or with ``gt/gte/lt/lte``. A cursor whose object was deleted
  still marks its place here (Stripe does not say; refusing would be harsher).
* An event is ``{"id": "evt_...", "object": "event", "api_version", "created", "data":
  {"object", "previous_attributes"}, "livemode", "pending_webhooks", "request": {"id",
  "idempotency_key"}, "type"}``; ``previous_attributes`` holds the old values of the changed
  fields only. Events are listed for 30 days.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fake_saas.index import SortedIndex

ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")
CUSTOMER_PARAMS = frozenset(
    {"address", "description", "email", "metadata", "name", "phone", "preferred_locales", "expand"}
)
_ALPHABET = string.ascii_letters + string.digits


class ParamError(ValueError):
    """A parameter Stripe refuses with 400 ``invalid_request_error``."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param


class Ids:
    """Stripe-looking ids from a seeded generator, so two runs produce the same ids."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(seed)

    def make(self, prefix: str, length: int = 14) -> str:
        return prefix + "".join(self._rng.choice(_ALPHABET) for _ in range(length))


@dataclass
class Timeline:
    """Objects ordered by creation; listed newest first like every Stripe list."""

    index: SortedIndex = field(default_factory=SortedIndex)  # (created, seq, id) of listed ones
    keys: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # kept after removal

    def add(self, object_id: str, created: int) -> None:
        key = (created, len(self.keys), object_id)
        self.keys[object_id] = key
        self.index.add(key)

    def remove(self, object_id: str) -> None:
        self.index.remove(self.keys[object_id])

    def page(
        self,
        *,
        limit: int,
        starting_after: str | None,
        ending_before: str | None,
        created: dict[str, int],
        accept: Callable[[str], bool] = lambda object_id: True,
    ) -> tuple[list[str], bool]:
        """``(ids newest first, has_more)``."""
        low, high = self._bounds(created)
        found: list[str] = []
        if ending_before is not None:  # the page just newer than the cursor
            position = max(self.index.right(self._cursor(ending_before, "ending_before")), low)
            while position < high and len(found) <= limit:
                if accept(self.index[position][2]):
                    found.append(self.index[position][2])
                position += 1
            return found[:limit][::-1], len(found) > limit
        position = high - 1
        if starting_after is not None:
            cursor = self._cursor(starting_after, "starting_after")
            position = min(position, self.index.left(cursor) - 1)
        while position >= low and len(found) <= limit:
            if accept(self.index[position][2]):
                found.append(self.index[position][2])
            position -= 1
        return found[:limit], len(found) > limit

    def _cursor(self, object_id: str, param: str) -> tuple[int, int, str]:
        key = self.keys.get(object_id)
        if key is None:
            raise ParamError(f"No such object: '{object_id}'", param)
        return key

    def _bounds(self, created: dict[str, int]) -> tuple[int, int]:
        low, high = 0, len(self.index)
        if "gte" in created:
            low = max(low, self.index.left((created["gte"],)))
        if "gt" in created:
            low = max(low, self.index.left((created["gt"] + 1,)))
        if "lte" in created:
            high = min(high, self.index.left((created["lte"] + 1,)))
        if "lt" in created:
            high = min(high, self.index.left((created["lt"],)))
        return low, high


def new_customer(customer_id: str, created: int, invoice_prefix: str) -> dict[str, Any]:
    return {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                             "footer": None, "rendering_options": None},
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }  # fmt: skip


def apply_params(customer: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Apply create/update parameters; returns ``previous_attributes`` (old values of what
    changed). Raises :class:`ParamError` before changing anything."""
    for name in params:
        if name not in CUSTOMER_PARAMS:
            raise ParamError(f"Received unknown parameter: {name}", name)
    updated = {name: _value(name, params[name], customer) for name in params if name != "expand"}
    previous: dict[str, Any] = {}
    for name, value in updated.items():
        old = customer[name]
        if name == "metadata":
            changes = {k: old.get(k) for k in set(old) | set(value) if old.get(k) != value.get(k)}
            if changes:
                previous["metadata"] = changes
        elif old != value:
            previous[name] = old
        customer[name] = value
    return previous


def _value(name: str, value: Any, customer: dict[str, Any]) -> Any:
    empty = value is None or value == ""
    if name == "metadata":
        return _metadata(value, customer["metadata"])
    if name == "address":
        if empty:
            return None
        if not isinstance(value, dict):
            raise ParamError("Invalid object", "address")
        for key in value:
            if key not in ADDRESS_FIELDS:
                raise ParamError(f"Received unknown parameter: address[{key}]", f"address[{key}]")
        current = customer["address"] or dict.fromkeys(ADDRESS_FIELDS)
        return {k: (value[k] or None) if k in value else current[k] for k in ADDRESS_FIELDS}
    if name == "preferred_locales":
        return [] if empty else list(value) if isinstance(value, list) else [str(value)]
    if isinstance(value, dict | list):
        raise ParamError(f"Invalid string: {value}", name)
    if name == "email" and not empty and "@" not in str(value):
        raise ParamError(f"Invalid email address: {value}", "email")
    return None if empty else str(value)


def _metadata(value: Any, current: dict[str, str]) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise ParamError("Invalid metadata: metadata must be a set of key-value pairs", "metadata")
    merged = dict(current)
    for key, item in value.items():
        if len(key) > 40:
            raise ParamError("Metadata keys can have up to 40 characters", f"metadata[{key}]")
        if item is None or item == "":
            merged.pop(key, None)
        elif len(str(item)) > 500:
            raise ParamError("Metadata values can have up to 500 characters", f"metadata[{key}]")
        else:
            merged[key] = str(item)
    if len(merged) > 50:
        raise ParamError("Metadata can have up to 50 keys", "metadata")
    return merged


def matches_type(event_type: str, wanted: list[str]) -> bool:
    """Stripe's ``type`` filter: exact names, or a prefix with ``*`` (``customer.*``)."""
    for pattern in wanted:
        if pattern.endswith("*") and event_type.startswith(pattern[:-1]):
            return True
        if event_type == pattern:
            return True
    return False


def created_bounds(value: Any) -> dict[str, int]:
    """Stripe's ``created`` filter: a timestamp, or ``created[gt|gte|lt|lte]``."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = {"gte": value, "lte": value}
    if not isinstance(value, dict):
        raise ParamError("Invalid timestamp", "created")
    bounds = {}
    for name, raw in value.items():
        if name not in ("gt", "gte", "lt", "lte"):
            param = f"created[{name}]"
            raise ParamError(f"Received unknown parameter: {param}", param)
        if not str(raw).lstrip("-").isdigit():
            raise ParamError(f"Invalid integer: {raw}", f"created[{name}]")
        bounds[name] = int(raw)
    return bounds
