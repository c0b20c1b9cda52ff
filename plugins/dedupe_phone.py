"""Built-in dedupe rule ``phone``: one key per dialable number, in E.164.

Parsing is Google's libphonenumber (the ``phonenumbers`` package), the same library the
``phone`` field type uses: it knows every country's trunk prefix ("030" in Germany), its
international prefix ("011" from the US, "00" from Europe), vanity letters and extension
markers, which a regex would get wrong as numbering plans change. A number written without a
country code is read in the workspace's region (``RuleContext.phone_region``).

Decisions:
- A number that libphonenumber does not consider valid gives no key. A wrong or truncated
  number ("555-0100", "12345") is shared by unrelated records and must not make them equal.
- An extension is part of the key ("+16502530000;ext=12"): colleagues reached through one
  switchboard differ only by their extension and are not the same person. A number with an
  extension and the bare switchboard number do not match either; the fuzzy ``contact`` rule
  can still weigh them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import phonenumbers

from plugins.dedupe_text import text_of
from workspace import DedupeRule, RuleContext, hookimpl

#: Longer input is not a phone number; libphonenumber would reject it anyway, but only after
#: scanning it.
MAX_CHARS = 64


@hookimpl
def register_dedupe_rules(register: Any) -> None:
    register(PhoneRule)


def phone_key(value: Any, region: str | None, *, extension: bool = True) -> str | None:
    """The E.164 form of a valid number (with ";ext=N" when it has one and ``extension``),
    or None when ``value`` is not a valid phone number."""
    text = text_of(value)
    if text is None or len(text) > MAX_CHARS:
        return None
    parsed = _parse(text, (region or "").upper())
    if parsed is None:
        return None
    number, ext = parsed
    return f"{number};ext={ext}" if extension and ext else number


@lru_cache(maxsize=65536)
def _parse(text: str, region: str) -> tuple[str, str] | None:
    # libphonenumber takes ~0.2 ms per number; a scan scores each record against several
    # candidates, so the same numbers come back again and again.
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, number.extension or ""


class PhoneRule(DedupeRule):
    """Same number: equal in E.164, extension included, after reading national formats in
    the workspace's region."""

    name = "phone"
    label = "Phone number"
    field_types = frozenset({"phone", "text"})

    def keys(self, values: Sequence[Any], ctx: RuleContext) -> set[str]:
        key = phone_key(values[0], ctx.phone_region) if values else None
        return {key} if key else set()
