"""Built-in dedupe rule ``email``: one key per mailbox, however the address was typed.

Every address is trimmed, lower-cased and its domain put in IDNA ASCII form ("münchen.de" and
"xn--mnchen-3ya.de" are one domain; the ``idna`` library implements IDNA 2008 with UTS 46
mapping, which the standard library's 2003-era codec does not). Lower-casing the local part is
what providers do in practice, and the ``email`` field type stores addresses lower-cased too.

Beyond that, an address is only rewritten where its provider is *known* to deliver variants
to the same mailbox (``PROVIDERS``). A company mail server may treat "j.smith" and "jsmith",
or "sales+eu", as different mailboxes, so unknown domains keep dots and "+" literally.

Known providers (``PROVIDERS``):

- gmail.com, googlemail.com: drop dots and "+tag", googlemail.com -> gmail.com. Gmail ignores
  dots and delivers "+tag" to the account; googlemail.com is the same account namespace.
- outlook.com, hotmail.com, live.com, msn.com: drop "+tag" (Outlook.com plus addressing).
  Dots are significant, and each domain is its own namespace: "jane@hotmail.com" and
  "jane@outlook.com" can be two people.
- icloud.com, me.com, mac.com: drop "+tag" (iCloud Mail plus addressing). The domains are not
  merged: only older accounts own all three.
- fastmail.com, fastmail.fm: drop "+tag" (Fastmail plus addressing).
- protonmail.com, protonmail.ch, proton.me, pm.me: drop "+tag" (Proton Mail plus addressing).
- Yahoo domains: no rewrite, on purpose. Yahoo's disposable addresses are
  "basename-keyword@" with a base name chosen apart from the account, so cutting at "-" would
  not give the account's address, and "-" is legal in ordinary local parts.
- any other domain: no rewrite, the server's rules are unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache
from typing import Any

import idna

from plugins.dedupe_text import text_of
from workspace import DedupeRule, RuleContext, hookimpl


@hookimpl
def register_dedupe_rules(register: Any) -> None:
    register(EmailRule)


@dataclass(frozen=True)
class Provider:
    """How a mail provider maps address variants onto one mailbox."""

    domain: str  # the canonical domain of the namespace
    ignores_dots: bool = False
    tag_separator: str | None = "+"


_GMAIL = Provider("gmail.com", ignores_dots=True)

PROVIDERS: dict[str, Provider] = {
    "gmail.com": _GMAIL,
    "googlemail.com": _GMAIL,
    **{d: Provider(d) for d in ("outlook.com", "hotmail.com", "live.com", "msn.com")},
    **{d: Provider(d) for d in ("icloud.com", "me.com", "mac.com")},
    **{d: Provider(d) for d in ("fastmail.com", "fastmail.fm")},
    **{d: Provider(d) for d in ("protonmail.com", "protonmail.ch", "proton.me", "pm.me")},
}


@lru_cache(maxsize=16384)
def _ascii_domain(domain: str) -> str | None:
    # IDNA costs ~40 us, and a few thousand domains cover most of any CRM.
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return None


def email_key(value: Any) -> str | None:
    """The normalised address of a mailbox, or None when ``value`` is not an address."""
    text = text_of(value)
    if text is None:
        return None
    if text[:7].lower() == "mailto:":
        text = text[7:]
    if "<" in text:  # "Jane Doe <jane@example.com>", as pasted from a mail client
        text = parseaddr(text)[1]
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in local):
        return None
    ascii_domain = _ascii_domain(domain.rstrip("."))
    if ascii_domain is None:
        return None
    domain = ascii_domain
    local = local.lower()
    provider = PROVIDERS.get(domain)
    if provider is not None:
        if provider.tag_separator:
            local = local.split(provider.tag_separator, 1)[0]
        if provider.ignores_dots:
            local = local.replace(".", "")
        if not local:
            return None
        domain = provider.domain
    return f"{local}@{domain}"


#: Labels under a country code that name a kind of organisation, not one ("acme.co.uk").
SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "ltd"})


def domain_name(key: str | None) -> str | None:
    """The label that names the organisation in a normalised address's domain: "acme" for
    "jane@mail.acme.co.uk". A work address names its employer this way; a mail provider's
    domain names only the provider, which matches no employer but the provider itself."""
    if not key:
        return None
    labels = key.rpartition("@")[2].split(".")[:-1]  # the top-level domain goes
    if len(labels) > 1 and labels[-1] in SECOND_LEVEL:
        labels = labels[:-1]
    return labels[-1] if labels and labels[-1] else None


class EmailRule(DedupeRule):
    """Same mailbox: equal after trimming, case, IDNA and the provider's own aliasing."""

    name = "email"
    label = "Email address"
    field_types = frozenset({"email", "text"})

    def keys(self, values: Sequence[Any], ctx: RuleContext) -> set[str]:
        key = email_key(values[0]) if values else None
        return {key} if key else set()
