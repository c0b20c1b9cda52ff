"""Built-in fuzzy dedupe rule ``contact``: is this the same person, all things considered?

The rule reads up to six fields, by position: name, email, phone, company, address, date of
birth (a rule on two fields reads name and email; a position can be skipped). Its keys are
*blocking* keys: a record is only compared with records that share one, so a check costs a
few index lookups, never a pass over every record. Keys are prefixed by kind:

- ``email:`` the ``email`` rule's key, and ``phone:`` the ``phone`` rule's key;
- ``name:`` the metaphones of given and family name, sorted, so a swapped first/last name
  meets its twin. Metaphone (via ``jellyfish``) keeps "Smith" and "Smyth", "Jon" and "John"
  together;
- ``sound:`` Soundex of the family name + the given name's first two letters. It survives
  typos ("Smtih", "Jonh") that change a metaphone, and meets most nicknames (Mike / Michael).
  Family name + initial, as both keys were first, made groups of hundreds for common names
  in a 100,000-record CRM and compared three times as many pairs, for under 1% more true
  pairs: "J. Smith" and "John Smith" with nothing else in common score under the threshold
  anyway, and with a shared email, phone, company or birthday they meet by that key;
- ``company:`` the ``company`` rule's key + the given name's initial: colleagues with
  another initial are never compared;
- ``born:`` the date of birth: it meets records whose name was mistyped beyond recognition.

The score adds evidence in points and maps the sum to 0..1 with a logistic curve,
``1 / (1 + exp(-(points - OFFSET)))``. Each point is a factor of e in the odds. The weights
(``Weights``) follow from who shares what in a real CRM:

- names agree (Jaro-Winkler >= 0.88 on given and family name, either order): +3.0 for a
  typo up to +4.0 for equal names;
- an initial matches ("J. Smith" / "John Smith"): +2.0, compatible, but a household shares
  initials too;
- a given name is a known nickname of the other (Bob / Robert, from the ``nicknames``
  package): +3.0, as strong as a typo;
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
- mailboxes one slip of a letter apart at one domain ("ajonhson2" / "ajohnson2"): +2.5, a
  typo; digits, separators and the first letter must agree, since "jsmith2", "j_smith" and
  "asmith" are how a mail server tells namesakes and colleagues apart;
- role address equal (info@, sales@...): +1.0, shared by a team;
- emails differ: -0.5, people have several addresses;
- phone equal (extension included): +1.5, landlines and switchboards are shared;
- same number, different extensions: 0, one switchboard;
- phones differ: -0.5, mobile and work numbers;
- company equal: +0.5, colleagues share it, so it is weak evidence. A work address names its
  employer: "Garcia & Sanchez Corp" on one record is the same company as
  jane@garciaandsanchez.com on the other (a mail provider's domain names no employer);
- companies differ: 0, people change employer;
- address equal (words in any order, 0.88 similar): +1.5, a household and a whole office share
  it; addresses differ: -0.5, home and work, and people move;
- date of birth equal: +6.0. Two strangers share a birthday about once in 20,000 pairs (a
  factor e^10), but twins share it with their surname and address, so it counts for less;
  one digit apart or swapped: +1.5, a typo; dates differ: -2.0, usually two people, but
  day and month get swapped.

``THRESHOLD`` = 0.85 (about 3.7 points) is the score above which a pair is a likely
duplicate. Equal names alone reach it (0.88). A household (same surname and phone,
different given names) scores 0.03 (0.12 for John / Joan, which may be a typo), and stays
under it even with a shared family mailbox (0.82). Colleagues at one company with different
names stay near 0.01. "J. Smith" and "John Smith" on one landline (0.82) stay under it; with
the same email (0.99) they pass.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import jellyfish
from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from plugins.dedupe_company import company_keys
from plugins.dedupe_email import domain_name, email_key
from plugins.dedupe_names import CACHED, PersonName, nickname_of, person_name
from plugins.dedupe_phone import phone_key
from plugins.dedupe_text import compact, fold_letters, text_of
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
    nickname: float = 3.0
    relative_similar: float = -1.5
    relative: float = -3.0
    family_differs: float = -1.0
    names_differ: float = -4.0
    partial_name: float = 1.0
    generation_differs: float = -3.0
    middle_differs: float = -1.0
    email_equal: float = 5.0
    email_typo: float = 2.5
    role_email_equal: float = 1.0
    email_differs: float = -0.5
    phone_equal: float = 1.5
    phone_typo: float = 1.0
    phone_differs: float = -0.5
    company_equal: float = 0.5
    company_and_name: float = 3.0
    address_equal: float = 1.5
    address_differs: float = -0.5
    born_equal: float = 6.0
    born_typo: float = 1.5
    born_differs: float = -2.0


WEIGHTS = Weights()
#: Fields the rule reads, by position: name, email, phone, company, address, date of birth.
POSITIONS = 6
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
    #: Company names as keys of the ``company`` rule, spaces removed ("garciaandsanchez").
    companies: frozenset[str]
    #: The organisation named by the email's domain ("garciaandsanchez" for
    #: jane@garciaandsanchez.com): a work address says who the employer is.
    employer: str | None = None
    #: The postal address, folded, its words in order ("12 high street").
    address: str | None = None
    #: The date of birth as its digits ("19560409" for 1956-04-09).
    born: str | None = None

    @classmethod
    def of(cls, values: Sequence[Any], ctx: RuleContext) -> Contact:
        padded = (*values[:POSITIONS], *([None] * POSITIONS))[:POSITIONS]
        try:
            return _contact(padded, ctx.phone_region)
        except TypeError:  # a value that cannot be hashed: not text, so nothing to cache
            return _contact.__wrapped__(padded, ctx.phone_region)


@lru_cache(maxsize=CACHED)
def _contact(values: tuple[Any, ...], region: str) -> Contact:
    # A scan scores each record against every other record of its blocking groups, so the
    # same values come back many times; normalising them is most of the cost of a score.
    email = email_key(values[1])
    return Contact(
        name=person_name(values[:1]),
        email=email,
        phone=phone_key(values[2], region),
        companies=frozenset(compact(key) for key in company_keys(values[3])),
        employer=domain_name(email),
        address=_address(values[4]),
        born=_date_digits(values[5]),
    )


def _address(value: Any) -> str | None:
    text = text_of(value)
    if text is None:
        return None
    words = "".join(ch if ch.isalnum() else " " for ch in fold_letters(text)).split()
    return " ".join(words) or None


def _date_digits(value: Any) -> str | None:
    """A date field's value or a date written as text, as digits in the written order:
    "1956-04-09" and the date 1956-04-09 give "19560409"."""
    if isinstance(value, dt.date):
        value = value.isoformat()
    text = text_of(value)
    digits = "".join(ch for ch in text if ch.isdigit()) if text else ""
    return digits if len(digits) >= 6 else None


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
        codes = sorted(_phonetic(jellyfish.metaphone(part), part) for part in (given, family))
        keys.add(f"name:{codes[0]}:{codes[1]}")
        keys.add(f"sound:{_phonetic(jellyfish.soundex(family), family)}:{given[:2]}")
        keys.update(f"company:{company}:{given[0]}" for company in contact.companies)
    if contact.born:
        keys.add(f"born:{contact.born}")
    return keys


def _given_similarity(a: str, b: str) -> tuple[float, str]:
    """Similarity of two given names, and how they compare: "initial" (one of them is only
    an initial), "nickname" (Bob / Robert) or "" (spelling)."""
    if len(a) == 1 or len(b) == 1:
        return (1.0 if a[0] == b[0] else 0.0), "initial"
    similarity = JaroWinkler.similarity(a, b)
    if similarity < AGREE and nickname_of(a, b):
        return 1.0, "nickname"
    return similarity, ""


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
    family, given, kind = max(orders, key=lambda o: o[0] + o[1])
    swapped = " (first and last swapped)" if orders.index((family, given, kind)) else ""
    if family >= AGREE and kind == "initial":
        if given:
            return w.initial, f"initial and family name agree{swapped}"
        return w.relative, f"same family name, initials differ{swapped}"
    if family >= AGREE and kind == "nickname":
        return w.nickname, f"family name agrees, given name a nickname of the other{swapped}"
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


def _one_slip_apart(a: str, b: str) -> bool:
    """Two mailboxes at one domain whose names differ by one letter typed wrong, dropped,
    doubled or swapped. Digits, separators and the first letter must agree: "jsmith2" and
    "jsmith", "j_smith" and "jsmith", or "jsmith" and "asmith" are how mailboxes of
    namesakes and colleagues differ."""
    local_a, _, domain_a = a.rpartition("@")
    local_b, _, domain_b = b.rpartition("@")
    if domain_a != domain_b or min(len(local_a), len(local_b)) < 5 or local_a[0] != local_b[0]:
        return False
    if [c for c in local_a if not c.isalpha()] != [c for c in local_b if not c.isalpha()]:
        return False
    return DamerauLevenshtein.distance(local_a, local_b, score_cutoff=1) <= 1


def _same_employer(a: Contact, b: Contact) -> bool:
    """The same company name, or one record's company is the other's email domain
    ("Garcia & Sanchez Corp" and jane@garciaandsanchez.com)."""
    return bool(
        a.companies & b.companies
        or (a.employer and a.employer in b.companies)
        or (b.employer and b.employer in a.companies)
    )


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
        if a.email == b.email and a.email.split("@")[0] in ROLE_MAILBOXES:
            out.append((w.role_email_equal, "same role address (shared by a team)"))
        elif a.email == b.email:
            out.append((w.email_equal, "email equal"))
        elif _one_slip_apart(a.email, b.email):
            out.append((w.email_typo, "emails one slip of a letter apart (a typo?)"))
        else:
            out.append((w.email_differs, "emails differ"))
    if a.phone and b.phone:
        if a.phone == b.phone:
            out.append((w.phone_equal, "phone equal"))
        elif a.phone.split(";")[0] == b.phone.split(";")[0]:
            out.append((0.0, "same switchboard number, extensions differ"))
        elif _one_digit_apart(a.phone.split(";")[0], b.phone.split(";")[0]):
            out.append((w.phone_typo, "phones one digit apart (a typo?)"))
        else:
            out.append((w.phone_differs, "phones differ"))
    if _same_employer(a, b):
        out.append((w.company_equal, "same company (weak: colleagues share it)"))
        if names_agree:
            out.append((w.company_and_name, "same name at the same company"))
    if a.address and b.address:
        if fuzz.token_sort_ratio(a.address, b.address) >= AGREE * 100:
            out.append((w.address_equal, "same address (weak: a household shares it)"))
        else:
            out.append((w.address_differs, "addresses differ"))
    if a.born and b.born:
        if a.born == b.born:
            out.append((w.born_equal, "same date of birth"))
        elif _one_digit_apart(a.born, b.born):
            out.append((w.born_typo, "dates of birth one digit apart (a typo?)"))
        else:
            out.append((w.born_differs, "dates of birth differ"))
    return out


def score_of(points: float) -> float:
    return 1 / (1 + math.exp(-(points - OFFSET)))


class ContactRule(DedupeRule):
    """Same person, weighing name, email, phone and company together (fuzzy: finds pairs
    for review, never blocks a write)."""

    name = "contact"
    label = "Contact (name, email, phone, company)"
    field_types = frozenset({"text", "email", "phone", "date"})
    arity = (1, POSITIONS)
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
