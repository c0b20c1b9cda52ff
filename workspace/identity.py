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

An address is checked for its syntax, never for whether its domain is public: addresses at
special-use names (``user@corp.local``, ``ops@app.localhost``, ``qa@shop.test``) are real
inside companies and test set-ups, and refusing them refused whole imports and accounts.
"""

from __future__ import annotations

import email_validator
from email_validator import EmailNotValidError, validate_email

#: A label appended to a special-use domain while its syntax is checked: email_validator
#: refuses those names outright (it assumes globally deliverable mail), and has no switch
#: for it but a module-wide list we must not change for others.
_NEUTRAL_LABEL = ".x"


class InvalidEmail(ValueError):
    """Not an email address; the message says why."""


def account_email(address: str) -> str:
    """The normal form of an email address that names an account (see the module doc)."""
    return email_address(address)


def email_address(address: str) -> str:
    """The normal form of any email address (an account's, an email field's value): checked
    for its syntax only, so special-use domains pass (see the module doc)."""
    try:
        text = address.strip()
        domain = text.rpartition("@")[2]
        if _special_use(domain):
            checked = validate_email(text + _NEUTRAL_LABEL, check_deliverability=False)
            return checked.normalized.lower().removesuffix(_NEUTRAL_LABEL)
        return validate_email(text, check_deliverability=False).normalized.lower()
    except (EmailNotValidError, AttributeError) as exc:
        raise InvalidEmail(str(exc)) from None


def _special_use(domain: str) -> bool:
    """A name under a special-use domain; a bare one (``localhost``) lacks the period every
    address's domain needs, and is refused for that."""
    name = domain.lower()
    return any(name.endswith("." + special) for special in email_validator.SPECIAL_USE_DOMAIN_NAMES)
