"""Built-in contact field types: email, phone and URL.

Parsing is left to well-kept libraries (email-validator, phonenumbers) rather than regexes:
they know the edge cases (internationalised domains, numbering plans) and are maintained.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from plugins.fields_basic import TextLike, type_name
from workspace import FieldDef, FieldError, InvalidEmail, ValueContext, email_address, hookimpl


@hookimpl
def register_field_types(register: Any) -> None:
    register(EmailType)
    register(PhoneType)
    register(UrlType)


def region_option(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise FieldError("must be a two-letter region code such as US, GB or DE")
    return value.upper()


class EmailType(TextLike):
    """Stored lower-cased: mail providers treat addresses case-insensitively in practice, and
    one stored form keeps lookups and uniqueness exact."""

    name = "email"
    label = "Email"
    max_chars = 254

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        text = super().coerce(field, value, ctx)
        if text is None:
            return None
        try:
            return email_address(text)
        except InvalidEmail as exc:
            raise FieldError(f"is not a valid email address: {exc}") from None

    def filter_operand(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        # Filters may look for an address that would not be valid input (e.g. "@acme.com").
        if isinstance(value, str):
            return value.strip().lower()
        raise FieldError(f"must be text, not {type_name(value)}")


class PhoneType(TextLike):
    """Stored in E.164 (+4930123456) so the same number always looks the same."""

    name = "phone"
    free_text = False
    label = "Phone"
    max_chars = 32
    options = {"region": region_option}

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        text = super().coerce(field, value, ctx)
        if text is None:
            return None
        region = field.config.get("region") or ctx.phone_region
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            raise FieldError(f"is not a phone number: {text[:40]!r}") from None
        if not phonenumbers.is_valid_number(number):
            raise FieldError(f"is not a valid phone number for region {region}: {text[:40]!r}")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def filter_operand(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        try:
            return self.coerce(field, value, ctx)
        except FieldError:
            if isinstance(value, str):
                return value.strip()
            raise


class UrlType(TextLike):
    """http(s) addresses; a bare host such as ``example.com`` is read as https."""

    name = "url"
    label = "URL"
    max_chars = 2048
    can_be_unique = False  # longer than MySQL's index key limit

    def coerce(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        text = super().coerce(field, value, ctx)
        if text is None:
            return None
        if "://" not in text:
            text = "https://" + text
        parts = urlsplit(text)
        if parts.scheme.lower() not in {"http", "https"}:
            raise FieldError("must start with http:// or https://")
        if not parts.hostname or ("." not in parts.hostname and parts.hostname != "localhost"):
            raise FieldError(f"is not a web address: {text[:60]!r}")
        if any(ch.isspace() for ch in text):
            raise FieldError("must not contain spaces")
        try:
            parts.port  # noqa: B018 - urlsplit only checks the port when it is read
        except ValueError:
            raise FieldError(f"has an invalid port: {text[:60]!r}") from None
        return text

    def filter_operand(self, field: FieldDef, value: Any, ctx: ValueContext) -> Any:
        if isinstance(value, str):
            return value.strip()
        raise FieldError(f"must be text, not {type_name(value)}")
