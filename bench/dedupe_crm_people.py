"""The people behind the generated CRM set: who they are, where they live and work.

The population is built first and the records are rendered from it afterwards
(``dedupe_crm_data``), so the truth is known: every record belongs to one ``Person``. What
makes the set hard is built in here, before any record exists:

- names are drawn by their real frequency (Faker's US census tables), so namesakes occur as
  they do in a large CRM ("John Smith" several times over);
- companies have a long-tailed size (most have one to three contacts, a few have hundreds):
  colleagues share the company name, its address, its switchboard and its role mailboxes;
- households share a family name (most of them), an address, a landline and sometimes a
  family mailbox; some hold a father and son of the same name (Sr. and Jr.);
- people change employer (old company, old work address and switchboard) and change their
  personal mailbox; some married women appear under their maiden name in old records;
- one person in eight has a German, French, Spanish or Swedish name with diacritics.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any

import faker.providers.address.en_US as us_address
import faker.providers.person.de_DE as de
import faker.providers.person.en_US as en
import faker.providers.person.es_ES as es
import faker.providers.person.fr_FR as fr
import faker.providers.person.sv_SE as sv
import phonenumbers

# fmt: off
AREA_CODES = [201, 202, 203, 205, 206, 207, 208, 212, 213, 214, 215, 216, 217, 218, 224, 225,
              303, 305, 310, 312, 313, 314, 315, 317, 402, 404, 406, 408, 410, 412, 415, 501,
              503, 504, 512, 513, 602, 605, 612, 614, 615, 617, 702, 704, 713, 718, 720, 773,
              801, 803, 813, 816, 818, 858, 904, 908, 916, 917, 919, 949, 952, 972]
FOREIGN_PHONES = {"de": ("+49 30 {7}", "+49 151 {8}"), "fr": ("+33 1 {8}", "+33 6 {8}"),
                  "es": ("+34 91 {7}", "+34 6{8}"), "sv": ("+46 8 {7}", "+46 70 {7}")}
INDUSTRY = ["Logistics", "Systems", "Software", "Consulting", "Partners", "Foods", "Motors",
            "Health", "Capital", "Labs", "Media", "Energy", "Solutions", "Design", "Builders",
            "Analytics", "Pharma", "Insurance", "Bank", "Group", "Holdings", "Dental", "Legal",
            "Marketing", "Engineering", "Supply", "Realty", "Travel", "Textiles", "Robotics"]
WORDS = ["Acme", "Summit", "Blue River", "Pioneer", "Northwind", "Evergreen", "Keystone",
         "Silverline", "Redwood", "Granite", "Harbor", "Beacon", "Liberty", "Atlas", "Orion",
         "Sterling", "Maple", "Crescent", "Vertex", "Horizon", "Cascade", "Falcon", "Meridian"]
LEGAL = {"us": ["Inc", "LLC", "Corp", "Co", "Inc", "LLC"], "de": ["GmbH", "AG", "GmbH & Co. KG"],
         "fr": ["SA", "SARL", "SAS"], "es": ["SL", "SA"], "sv": ["AB"]}
PERSONAL_DOMAINS = {"gmail.com": 40, "yahoo.com": 14, "outlook.com": 9, "hotmail.com": 9,
                    "icloud.com": 7, "aol.com": 5, "comcast.net": 4, "protonmail.com": 2,
                    "gmx.de": 3, "web.de": 2, "orange.fr": 2, "telia.com": 1, "att.net": 2}
# fmt: on
LOCALES = {"us": en, "de": de, "fr": fr, "es": es, "sv": sv}
LOCALE_WEIGHTS = {"us": 88, "de": 4, "fr": 3, "es": 3, "sv": 2}


@dataclass
class Address:
    street: str
    city: str
    postcode: str


@dataclass
class Company:
    id: int
    name: str  # without legal form
    legal: str
    domain: str
    switchboard: str  # E.164
    uses_extensions: bool
    email_pattern: str
    address: Address
    staff_mailboxes: set[str] = field(default_factory=set)


@dataclass
class Job:
    company: Company
    email: str
    direct_line: str | None
    extension: str | None


@dataclass
class Household:
    id: int
    family: str
    address: Address
    landline: str | None
    email: str | None = None


@dataclass
class Person:
    id: int
    locale: str
    female: bool
    given: str
    middle: str | None
    family: str
    suffix: str = ""  # "Sr." / "Jr."
    maiden: str | None = None
    mobile: str | None = None
    emails: list[str] = field(default_factory=list)  # personal, oldest first
    jobs: list[Job] = field(default_factory=list)  # oldest first
    household: Household | None = None


def _weighted(table: Any) -> tuple[list[str], list[float] | None]:
    if isinstance(table, dict):
        return list(table), list(table.values())
    return list(table), None


class Population:
    """Everyone in the CRM's world, drawn from one seeded random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.phones: set[str] = set()
        self.mailboxes: set[str] = set()
        self.companies: list[Company] = []
        self.company_weights: list[float] = []
        self.households = 0
        self.people: list[Person] = []
        names = {}
        for loc, module in LOCALES.items():
            p = module.Provider
            names[loc] = (
                _weighted(p.first_names_female),
                _weighted(p.first_names_male),
                _weighted(p.last_names),
            )
        self.names = names
        self.streets = (us_address.Provider.street_suffixes, us_address.Provider.city_suffixes)

    # ---- basic draws --------------------------------------------------------------------

    def pick(self, table: tuple[list[str], list[float] | None]) -> str:
        values, weights = table
        return self.rng.choices(values, weights)[0]

    def locale(self) -> str:
        return self.rng.choices(list(LOCALE_WEIGHTS), list(LOCALE_WEIGHTS.values()))[0]

    def given(self, locale: str, female: bool) -> str:
        return self.pick(self.names[locale][0 if female else 1])

    def family(self, locale: str) -> str:
        return self.pick(self.names[locale][2])

    def address(self) -> Address:
        rng = self.rng
        street = f"{rng.randint(1, 9999)} {self.family('us')} {rng.choice(self.streets[0])}"
        city = f"{self.family('us')}{rng.choice(self.streets[1])}"
        return Address(street, city, f"{rng.randint(1000, 99999):05d}")

    def phone(self, locale: str = "us", mobile: bool = False) -> str:
        """A valid number nobody else has, in E.164."""
        rng = self.rng
        while True:
            if locale == "us":
                text = (
                    f"+1{rng.choice(AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
                )
            else:
                pattern = FOREIGN_PHONES[locale][mobile]
                head, digits = pattern.split("{")
                text = head + "".join(rng.choices(string.digits, k=int(digits[:-1])))
            number = phonenumbers.parse(text, None)
            if not phonenumbers.is_valid_number(number):
                continue
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if e164 not in self.phones:
                self.phones.add(e164)
                return e164

    def mailbox(self, local: str, domain: str) -> str:
        """``local@domain``, with a number added while it is taken (Gmail ignores dots, so
        "j.smith" takes "jsmith" too)."""
        local = _ascii(local)
        candidate, n = f"{local}@{domain}", 1
        while _mailbox_id(candidate) in self.mailboxes:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.mailboxes.add(_mailbox_id(candidate))
        return candidate

    # ---- companies ----------------------------------------------------------------------

    def company_size(self) -> int:
        """Contacts per company: mostly one to three, a long tail to several hundred."""
        r = self.rng.random()
        if r < 0.60:
            return self.rng.randint(1, 3)
        if r < 0.87:
            return self.rng.randint(4, 20)
        if r < 0.975:
            return self.rng.randint(21, 100)
        return self.rng.randint(101, 400)

    def new_company(self) -> Company:
        rng = self.rng
        loc = rng.choices(["us", "de", "fr", "es", "sv"], [85, 6, 3, 3, 3])[0]
        style = rng.random()
        if style < 0.35:
            name = f"{self.family(loc)} {rng.choice(INDUSTRY)}"
        elif style < 0.55:
            name = f"{rng.choice(WORDS)} {rng.choice(INDUSTRY)}"
        elif style < 0.70:
            name = f"{self.family(loc)} & {self.family(loc)}"
        elif style < 0.80:
            name = f"{self.family(loc)}-{self.family(loc)}"
        else:
            name = self.family(loc)
        domain = _ascii(name.replace("&", "and")).replace(" ", "").replace("-", "") + ".com"
        company = Company(
            id=len(self.companies),
            name=name,
            legal=rng.choice(LEGAL[loc]),
            domain=domain,
            switchboard=self.phone(loc if loc in FOREIGN_PHONES else "us"),
            uses_extensions=rng.random() < 0.6,
            email_pattern=rng.choice(["first.last", "flast", "first.last", "firstl", "first"]),
            address=self.address(),
        )
        self.companies.append(company)
        self.company_weights.append(self.company_size())
        return company

    def employer(self) -> Company:
        # Companies are made while people are: a new one when a draw says so, otherwise an
        # existing one chosen by its size (the big ones keep hiring).
        if not self.companies or self.rng.random() < 0.16:
            return self.new_company()
        return self.rng.choices(self.companies, self.company_weights)[0]

    def job(self, person: Person) -> Job:
        company = self.employer()
        given, family = _ascii(person.given).lower(), _ascii(person.family).lower()
        local = {
            "first.last": f"{given}.{family}",
            "flast": f"{given[0]}{family}",
            "firstl": f"{given}{family[0]}",
            "first": given,
        }[company.email_pattern]
        direct = self.phone() if self.rng.random() < 0.3 else None
        ext = str(self.rng.randint(100, 999)) if company.uses_extensions else None
        return Job(company, self.mailbox(local, company.domain), direct, ext)

    # ---- people -------------------------------------------------------------------------

    def personal_email(self, person: Person) -> str:
        rng = self.rng
        domains = list(PERSONAL_DOMAINS)
        domain = rng.choices(domains, list(PERSONAL_DOMAINS.values()))[0]
        g, f = person.given.lower(), person.family.lower()
        local = rng.choice(
            [f"{g}.{f}", f"{g}{f}", f"{g[0]}{f}", f"{g}.{f}{rng.randint(1, 99)}", f"{g}_{f}",
             f"{f}{g[0]}{rng.randint(1950, 2005)}", f"{g}{rng.randint(1, 999)}"]
        )  # fmt: skip
        return self.mailbox(local.replace(" ", "").replace("'", ""), domain)

    def person(
        self, locale: str, female: bool, family: str | None = None, like: Person | None = None
    ) -> Person:
        """A new person; ``like``: a son named after his father."""
        rng = self.rng
        p = Person(
            id=len(self.people),
            locale=locale,
            female=female,
            given=like.given if like else self.given(locale, female),
            middle=self.given(locale, female) if rng.random() < 0.4 else None,
            family=family or self.family(locale),
        )
        if like is not None:
            p.middle = like.middle
        p.mobile = self.phone(locale if locale in FOREIGN_PHONES else "us", True)
        if rng.random() < 0.12:
            p.mobile = None
        p.emails = [self.personal_email(p)]
        if rng.random() < 0.12:  # changed their personal mailbox
            p.emails.append(self.personal_email(p))
        if rng.random() < 0.75:
            p.jobs = [self.job(p)]
            if rng.random() < 0.22:  # changed employer
                p.jobs.append(self.job(p))
        self.people.append(p)
        return p

    def household(self, size: int) -> list[Person]:
        rng = self.rng
        loc = self.locale()
        family = self.family(loc)
        home = Household(self.households, family, self.address(), None)
        self.households += 1
        if rng.random() < 0.8:
            home.landline = self.phone(loc if loc in FOREIGN_PHONES else "us")
        if rng.random() < 0.12:
            domain = rng.choice(["gmail.com", "aol.com", "comcast.net", "yahoo.com"])
            local = rng.choice([f"{family}family", f"the{family}s", f"{family}.home"])
            home.email = self.mailbox(local.lower().replace(" ", ""), domain)
        first = self.person(loc, female=rng.random() < 0.5, family=family)
        members = [first]
        junior = size >= 2 and not first.female and rng.random() < 0.1
        for i in range(1, size):
            if i == 1 and junior:
                son = self.person(loc, female=False, family=family, like=first)
                first.suffix, son.suffix = "Sr.", "Jr."
                members.append(son)
                continue
            spouse = i == 1
            shares = not spouse or rng.random() < 0.75
            member = self.person(loc, female=not first.female if spouse else rng.random() < 0.5,
                                 family=family if shares else None)  # fmt: skip
            if spouse and shares and member.female and rng.random() < 0.3:
                member.maiden = self.family(loc)
            members.append(member)
        for m in members:
            m.household = home
        return members

    def grow(self) -> list[Person]:
        """The next person or household (about a third of people live with another)."""
        r = self.rng.random()
        if r < 0.15:
            return self.household(self.rng.choice([2, 2, 2, 3, 3, 4]))
        loc = self.locale()
        person = self.person(loc, female=self.rng.random() < 0.5)
        if self.rng.random() < 0.5:
            person.household = Household(self.households, person.family, self.address(), None)
            self.households += 1
        return [person]


_FOLD = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ê": "e", "ë": "e",
     "á": "a", "à": "a", "â": "a", "å": "a", "í": "i", "ì": "i", "î": "i", "ï": "i", "ó": "o",
     "ò": "o", "ô": "o", "ú": "u", "ù": "u", "û": "u", "ñ": "n", "ç": "c", "ø": "o", "æ": "ae"}
)  # fmt: skip


def _mailbox_id(address: str) -> str:
    local, domain = address.split("@")
    return f"{local.replace('.', '')}@{domain}" if domain == "gmail.com" else address


def _ascii(text: str) -> str:
    folded = text.lower().translate(_FOLD)
    return "".join(ch for ch in folded if ch.isalnum() or ch in "._-")
