"""Built-in fuzzy dedupe rule ``contact``: is this the same person, all things considered?

The rule reads up to four fields, by position: name, email, phone, company (a rule on two
fields reads name and email). Its keys are *blocking* keys: a record is only compared with
records that share one, so a check costs a few index lookups, never a pass over every
record. Keys are prefixed by kind:

- ``email:`` the ``email`` rule's key, and ``phone:`` the ``phone`` rule's key;
- ``name:`` metaphone of the family name + the given name's initial, and the same with given
  and family swapped (a swapped first/last name must still meet its twin). Metaphone (via
  ``jellyfish``) keeps "Smith" and "Smyth" together;
- ``sound:`` Soundex of the family name + initial. It survives transposition typos
  ("Smtih") that change the metaphone;
- ``company:`` the ``company`` rule's key + the given name's initial: colleagues with
  another initial are never compared.

The score adds evidence in points and maps the sum to 0..1 with a logistic curve,
``1 / (1 + exp(-(points - OFFSET)))``. Each point is a factor of e in the odds. The weights
(``Weights``) follow from who shares what in a real CRM:

- names agree (Jaro-Winkler >= 0.88 on given and family name, either order): +3.0 for a
  typo up to +4.0 for equal names;
- an initial matches ("J. Smith" / "John Smith"): +2.0, compatible, but a household shares
  initials too;
- same family name, similar given names (John / Joan, 0.7 to 0.88): -1.5, a typo or a
  relative;
- same family name, different given names (John / Mary): -3.0, relatives: households share a
  surname, a landline, often an address and sometimes a mailbox;
- same given name, different family names: -1.0, a marriage name change or a namesake;
- names differ: -4.0, different people whatever else they share;
- only one word on a side, and it agrees: +1.0, half a name;
- generational suffixes differ (Jr. / Sr.): -3.0, father and son share name, address, phone;
- middle initials differ: -1.0;
- email equal (after ``email`` normalisation): +5.0, a personal mailbox is one person's;
- role address equal (info@, sales@...): +1.0, shared by a team;
- emails differ: -0.5, people have several addresses;
- phone equal (extension included): +1.5, landlines and switchboards are shared;
- same number, different extensions: 0, one switchboard;
- phones differ: -0.5, mobile and work numbers;
- company equal: +0.5, colleagues share it, so it is weak evidence;
- companies differ: 0, people change employer.

``THRESHOLD`` = 0.85 (about 3.7 points) is the score above which a pair is a likely
duplicate. Equal names alone reach it (0.88). A household (same surname and phone,
different given names) scores 0.03 (0.12 for John / Joan, which may be a typo), and stays
under it even with a shared family mailbox (0.82). Colleagues at one company with different
names stay near 0.01. "J. Smith" and "John Smith" on one landline (0.82) stay under it; with
the same email (0.99) they pass. Nicknames (Bob / Robert) are not known and count as
different given names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import jellyfish
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from plugins.dedupe_company import company_keys
from plugins.dedupe_email import email_key
from plugins.dedupe_names import PersonName, person_name
from plugins.dedupe_phone import phone_key
from workspace import DedupeRule, RuleContext, Score, hookimpl


@hookimpl
def register_dedupe_rules(register: Any) -> None:
    register(ContactRule)


@dataclass(frozen=True)
class Weights:
    """Points of evidence (see the module docstring for the reasons)."""

    name_equal: float = 4.0
    name_typo_floor: float = 3.0
    name_typo_ceiling: float = 3.5
    initial: float = 2.0
    relative_similar: float = -1.5
    relative: float = -3.0
    family_differs: float = -1.0
    names_differ: float = -4.0
    partial_name: float = 1.0
    generation_differs: float = -3.0
    middle_differs: float = -1.0
    email_equal: float = 5.0
    role_email_equal: float = 1.0
    email_differs: float = -0.5
    phone_equal: float = 1.5
    phone_typo: float = 1.0
    phone_differs: float = -0.5
    company_equal: float = 0.5
    company_and_name: float = 3.0


WEIGHTS = Weights()
OFFSET = 2.0
THRESHOLD = 0.85
#: Jaro-Winkler similarity from which two name parts count as the same (keeps Smith/Smyth
#: 0.89 and Steven/Stephen 0.89 together, John/Joan 0.87 apart).
AGREE = 0.88

GENERATIONS = frozenset({"jr", "sr", "ii", "iii", "iv", "v"})
_ROLE_MAILBOXES = """
    info sales office contact admin support hello billing accounts accounting team mail
    enquiries inquiries service hr jobs careers marketing noreply no-reply webmaster
    postmaster reception orders help
"""
ROLE_MAILBOXES = frozenset(_ROLE_MAILBOXES.split())


@dataclass(frozen=True)
class Contact:
    """The normalised fields of one record, by position."""

    name: PersonName | None
    email: str | None
    phone: str | None
    companies: frozenset[str]

    @classmethod
    def of(cls, values: Sequence[Any], ctx: RuleContext) -> Contact:
        padded = (*values[:4], None, None, None, None)[:4]
        try:
            return _contact(padded, ctx.phone_region)
        except TypeError:  # a value that cannot be hashed: not text, so nothing to cache
            return _contact.__wrapped__(padded, ctx.phone_region)


@lru_cache(maxsize=65536)
def _contact(values: tuple[Any, ...], region: str) -> Contact:
    # A scan scores each record against every other record of its blocking groups, so the
    # same values come back many times; normalising them is most of the cost of a score.
    return Contact(
        name=person_name(values[:1]),
        email=email_key(values[1]),
        phone=phone_key(values[2], region),
        companies=frozenset(company_keys(values[3])),
    )


def _phonetic(code: str, fallback: str) -> str:
    # Metaphone and Soundex know only Latin letters; other scripts keep the folded text.
    return code or fallback


def blocking_keys(contact: Contact) -> set[str]:
    """Keys of one record under the ``contact`` rule (see the module docstring)."""
    keys = set()
    if contact.email:
        keys.add(f"email:{contact.email}")
    if contact.phone:
        keys.add(f"phone:{contact.phone}")
    name = contact.name
    if name is not None and name.complete:
        given, family = name.given, name.family
        keys.add(f"name:{_phonetic(jellyfish.metaphone(family), family)}:{given[0]}")
        keys.add(f"name:{_phonetic(jellyfish.metaphone(given), given)}:{family[0]}")
        keys.add(f"sound:{_phonetic(jellyfish.soundex(family), family)}:{given[0]}")
        keys.update(f"company:{company}:{given[0]}" for company in contact.companies)
    return keys


def _given_similarity(a: str, b: str) -> tuple[float, bool]:
    """Similarity of two given names, and whether one of them was only an initial."""
    if len(a) == 1 or len(b) == 1:
        return (1.0 if a[0] == b[0] else 0.0), True
    return JaroWinkler.similarity(a, b), False


def name_evidence(a: PersonName, b: PersonName, w: Weights = WEIGHTS) -> tuple[float, str]:
    """Points for how two names compare, and the reason in words."""
    if not (a.complete and b.complete):
        similarity = fuzz.token_set_ratio(a.words, b.words) / 100
        if similarity >= AGREE:
            return w.partial_name, f"partial name agrees ({similarity:.2f})"
        return w.names_differ, f"names differ ({similarity:.2f})"
    orders = [
        (JaroWinkler.similarity(a.family, b.family), *_given_similarity(a.given, b.given)),
        (JaroWinkler.similarity(a.family, b.given), *_given_similarity(a.given, b.family)),
    ]
    family, given, initial = max(orders, key=lambda o: o[0] + o[1])
    swapped = " (first and last swapped)" if orders.index((family, given, initial)) else ""
    if family >= AGREE and initial:
        if given:
            return w.initial, f"initial and family name agree{swapped}"
        return w.relative, f"same family name, initials differ{swapped}"
    if family >= AGREE and given >= AGREE:
        similarity = (family + given) / 2
        if similarity == 1.0:
            return w.name_equal, f"name equal{swapped}"
        span = w.name_typo_ceiling - w.name_typo_floor
        points = w.name_typo_floor + span * (similarity - AGREE) / (1 - AGREE)
        return points, f"name {similarity:.2f} similar{swapped}"
    if family >= AGREE:
        points = w.relative_similar if given >= 0.7 else w.relative
        return points, f"same family name, given names differ ({given:.2f}){swapped}"
    if given >= AGREE:
        return w.family_differs, f"same given name, family names differ ({family:.2f})"
    return w.names_differ, f"names differ (family {family:.2f}, given {given:.2f})"


def name_conflicts(a: PersonName, b: PersonName, w: Weights = WEIGHTS) -> list[tuple[float, str]]:
    """Details that tell two people with one name apart: Jr. / Sr., middle initials."""
    out = []
    gen_a, gen_b = GENERATIONS.intersection(a.suffix), GENERATIONS.intersection(b.suffix)
    if gen_a and gen_b and gen_a != gen_b:
        out.append((w.generation_differs, "generational suffixes differ"))
    if a.middle and b.middle and a.middle[0][0] != b.middle[0][0]:
        out.append((w.middle_differs, "middle initials differ"))
    return out


def _one_digit_apart(a: str, b: str) -> bool:
    """Two numbers of one length that differ in one digit or two neighbours swapped."""
    if len(a) != len(b):
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) == 1:
        return True
    i = diff[0] if len(diff) == 2 else -1
    return diff == [i, i + 1] and a[i] == b[i + 1] and a[i + 1] == b[i]


def evidence(a: Contact, b: Contact, w: Weights = WEIGHTS) -> list[tuple[float, str]]:
    """Every piece of evidence for and against two records being one person."""
    out = []
    names_agree = False
    if a.name is not None and b.name is not None:
        named = name_evidence(a.name, b.name, w)
        names_agree = named[0] >= w.initial and a.name.complete and b.name.complete
        out.append(named)
        out.extend(name_conflicts(a.name, b.name, w))
    if a.email and b.email:
        if a.email != b.email:
            out.append((w.email_differs, "emails differ"))
        elif a.email.split("@")[0] in ROLE_MAILBOXES:
            out.append((w.role_email_equal, "same role address (shared by a team)"))
        else:
            out.append((w.email_equal, "email equal"))
    if a.phone and b.phone:
        if a.phone == b.phone:
            out.append((w.phone_equal, "phone equal"))
        elif a.phone.split(";")[0] == b.phone.split(";")[0]:
            out.append((0.0, "same switchboard number, extensions differ"))
        elif _one_digit_apart(a.phone.split(";")[0], b.phone.split(";")[0]):
            out.append((w.phone_typo, "phones one digit apart (a typo?)"))
        else:
            out.append((w.phone_differs, "phones differ"))
    if a.companies & b.companies:
        out.append((w.company_equal, "same company (weak: colleagues share it)"))
        if names_agree:
            out.append((w.company_and_name, "same name at the same company"))
    return out


def score_of(points: float) -> float:
    return 1 / (1 + math.exp(-(points - OFFSET)))


class ContactRule(DedupeRule):
    """Same person, weighing name, email, phone and company together (fuzzy: finds pairs
    for review, never blocks a write)."""

    name = "contact"
    label = "Contact (name, email, phone, company)"
    field_types = frozenset({"text", "email", "phone"})
    arity = (1, 4)
    fuzzy = True
    #: Score from which a pair is a likely duplicate (see the module docstring).
    threshold: ClassVar[float] = THRESHOLD

    def keys(self, values: Sequence[Any], ctx: RuleContext) -> set[str]:
        return blocking_keys(Contact.of(values, ctx))

    def score(self, a: Sequence[Any], b: Sequence[Any], ctx: RuleContext) -> Score:
        found = evidence(Contact.of(a, ctx), Contact.of(b, ctx))
        if not found:
            return Score(value=0.0, reasons=["nothing to compare"])
        points = sum(p for p, _ in found)
        reasons = [f"{reason} ({p:+.1f})" for p, reason in found]
        return Score(value=round(score_of(points), 4), reasons=reasons)
