"""Deterministic, realistic-looking people and companies to seed the fakes with.

A connector meets names with accents, mixed-case e-mail addresses (Mailchimp's member id is the
MD5 of the *lower-cased* address), phone numbers written in E.164 and in national format, and
many people per company. :func:`people` produces all of that from ``random.Random(seed)``: the
same seed gives the same people, and ``people(10)`` is the first ten of ``people(1000)``.

Nothing here can reach a real person: e-mail domains use the reserved ``.example`` TLD
(RFC 2606) and phone numbers come from the ranges regulators set aside for fiction (US 555-01xx,
UK Ofcom drama numbers 020 7946 0xxx and 07700 900xxx, German 030 23125xxx, French ARCEP
01 99 00 xx xx and 06 39 98 xx xx).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Company:
    name: str
    domain: str
    industry: str
    city: str
    country: str
    phone: str


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    phone: str  # E.164, e.g. +12125550142
    phone_national: str  # as a local would write it, e.g. (212) 555-0142
    company: Company
    job_title: str
    street: str
    city: str
    region: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


_FIRST = {
    "US": ["James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda",
           "Chloé", "Zoë", "Jamal", "Aaliyah", "Connor", "Mei", "Santiago", "Priya"],
    "GB": ["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Siobhán", "Rhys",
           "Niamh", "Callum", "Aoife", "Ruairí"],
    "DE": ["Lukas", "Anna", "Jürgen", "Lea", "Maximilian", "Sophie", "Björn", "Mia",
           "Jörg", "Käthe", "Felix", "Hannah"],
    "FR": ["Léa", "Hugo", "Chloé", "Louis", "Manon", "Gabriel", "Inès", "Raphaël",
           "Élodie", "François", "Anaïs", "Théo"],
}  # fmt: skip
_LAST = {
    "US": ["Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez",
           "O'Neil", "Nguyen", "Kim", "Patel", "Washington", "Lopez"],
    "GB": ["Taylor", "Jones", "Evans", "Wilson", "Thomas", "Roberts", "O'Brien", "McAllister",
           "Davies", "Hughes", "Ó Súilleabháin"],
    "DE": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
           "Schäfer", "Groß", "von Bülow"],
    "FR": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
           "Lefèvre", "Garnier", "Fontaine"],
}  # fmt: skip
_PLACES = {
    "US": [("New York", "NY", "212", "100"), ("San Francisco", "CA", "415", "941"),
           ("Chicago", "IL", "312", "606"), ("Boston", "MA", "617", "021"),
           ("Seattle", "WA", "206", "981"), ("Austin", "TX", "512", "787")],
    "GB": [("London", "", "20", "EC1A"), ("London", "", "20", "SW1A"),
           ("Manchester", "", "7700", "M1"), ("Leeds", "", "7700", "LS1")],
    "DE": [("Berlin", "BE", "30", "10"), ("Berlin", "BE", "30", "12")],
    "FR": [("Paris", "", "1", "750"), ("Lyon", "", "6", "690"), ("Lille", "", "6", "590")],
}  # fmt: skip
_STREETS = {
    "US": ["Main St", "Oak Ave", "Maple Dr", "Market St", "2nd Ave"],
    "GB": ["High Street", "Station Road", "Church Lane", "Victoria Road"],
    "DE": ["Hauptstraße", "Schillerstraße", "Gartenweg", "Bahnhofstraße"],
    "FR": ["rue de la Paix", "avenue Victor Hugo", "rue du Moulin", "boulevard Voltaire"],
}
_COMPANY_WORDS = (
    ["Acme", "Blue", "Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Stark", "Wayne",
     "Hooli", "Vandelay", "Soylent", "Tyrell", "Cyberdyne", "Wonka", "Sterling", "Aperture"],
    ["Logistics", "Foods", "Analytics", "Systems", "Bakery", "Consulting", "Labs", "Imports",
     "Robotics", "Studios", "Textiles", "Energy", "Partners", "Health"],
)  # fmt: skip
_SUFFIX = {"US": "Inc.", "GB": "Ltd", "DE": "GmbH", "FR": "SARL"}
_INDUSTRIES = ["COMPUTER_SOFTWARE", "FOOD_PRODUCTION", "LOGISTICS_AND_SUPPLY_CHAIN",
               "MANAGEMENT_CONSULTING", "HOSPITAL_HEALTH_CARE", "RETAIL"]  # fmt: skip
_TITLES = ["CEO", "CTO", "Head of Sales", "Account Executive", "Office Manager",
           "Marketing Lead", "Software Engineer", "Buyer", "Operations Director", ""]  # fmt: skip
_MAILBOXES = ["mail.example", "post.example", "inbox.example"]
_COUNTRIES = ["US", "US", "US", "GB", "GB", "DE", "FR"]


def _ascii(text: str) -> str:
    text = text.replace("ß", "ss")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def phone_numbers(rng: random.Random, country: str, area: str) -> tuple[str, str]:
    """A fictional number as ``(E.164, national format)`` for ``country``."""
    if country == "US":
        line = f"01{rng.randrange(100):02d}"
        return f"+1{area}555{line}", f"({area}) 555-{line}"
    if country == "GB" and area == "20":
        line = f"0{rng.randrange(1000):03d}"
        return f"+44207946{line}", f"020 7946 {line}"
    if country == "GB":
        line = f"{rng.randrange(1000):03d}"
        return f"+447700900{line}", f"07700 900{line}"
    if country == "DE":
        line = f"{rng.randrange(1000):03d}"
        return f"+493023125{line}", f"030 23125{line}"
    block = "19900" if area == "1" else "63998"
    first, second = rng.randrange(100), rng.randrange(100)
    national = f"0{block[0]} {block[1:3]} {block[3:]} {first:02d} {second:02d}"
    return f"+33{block}{first:02d}{second:02d}", national


def companies(count: int = 200, seed: int = 0) -> list[Company]:
    """``count`` distinct companies (people work for the 200 of the same seed)."""
    rng = random.Random(f"companies-{seed}")
    result: list[Company] = []
    seen: set[str] = set()
    while len(result) < count:
        country = rng.choice(_COUNTRIES)
        words = f"{rng.choice(_COMPANY_WORDS[0])} {rng.choice(_COMPANY_WORDS[1])}"
        slug = _ascii(words)
        if slug in seen:
            slug = f"{slug}{len(result)}"
            words = f"{words} {len(result)}"
        seen.add(slug)
        city, _, area, _ = rng.choice(_PLACES[country])
        result.append(
            Company(
                name=f"{words} {_SUFFIX[country]}",
                domain=f"{slug}.example",
                industry=rng.choice(_INDUSTRIES),
                city=city,
                country=country,
                phone=phone_numbers(rng, country, area)[0],
            )
        )
    return result


def people(count: int, seed: int = 0) -> Iterator[Person]:
    """``count`` people, each with a unique e-mail address (compared case-insensitively)."""
    rng = random.Random(f"people-{seed}")
    employers = companies(200, seed)
    taken: dict[str, int] = {}
    for _ in range(count):
        country = rng.choice(_COUNTRIES)
        first, last = rng.choice(_FIRST[country]), rng.choice(_LAST[country])
        company = rng.choice(employers)
        domain = company.domain if rng.random() < 0.7 else rng.choice(_MAILBOXES)
        local = f"{_ascii(first)}.{_ascii(last)}"
        n = taken[f"{local}@{domain}"] = taken.get(f"{local}@{domain}", 0) + 1
        email = f"{local}{n if n > 1 else ''}@{domain}"
        if rng.random() < 0.05:  # some people type their address capitalised
            email = email[0].upper() + email[1:]
        city, region, area, postal_prefix = rng.choice(_PLACES[country])
        phone, national = phone_numbers(rng, country, area)
        yield Person(
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            phone_national=national,
            company=company,
            job_title=rng.choice(_TITLES),
            street=f"{rng.randrange(1, 200)} {rng.choice(_STREETS[country])}",
            city=city,
            region=region,
            postal_code=_postal_code(rng, country, postal_prefix),
            country=country,
        )


def _postal_code(rng: random.Random, country: str, prefix: str) -> str:
    if country == "GB":
        letters = "".join(rng.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(2))
        return f"{prefix} {rng.randrange(1, 10)}{letters}"
    if country == "US":
        return f"{prefix}{rng.randrange(100):02d}"
    width = 5 - len(prefix)
    return f"{prefix}{rng.randrange(10**width):0{width}d}"
