"""How the server compares identities: one normal form, compared byte for byte.

An email address that names an account is kept and looked up in one form: the address as
``email_validator`` normalises it (Unicode NFC, the domain in its canonical form) and then
lower-cased with ``str.lower``. So ``Bob@Example.org`` and ``bob@example.org`` are one
account, while ``bób@example.org`` is another account than ``bob@example.org``: accents, and
every character other than letter case, are significant.

The database must not second-guess that form. MySQL's default collations are accent- and
case-insensitive, and with them a login as ``alicé@`` found ``alice@``'s row. Every column
that identifies something (account emails, tokens, session ids, form and submission
references, idempotency keys, view names, lease tokens) is compared with a binary collation
(:func:`workspace.schema.coltypes.exact_string`), whatever the server's default.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """Not an email address; the message says why."""


def account_email(address: str) -> str:
    """The normal form of an email address that names an account (see the module doc)."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized.lower()
    except (EmailNotValidError, AttributeError) as exc:
        raise InvalidEmail(str(exc)) from None
