"""Deterministic fake contacts and query parameters, the same for the API and raw SQL runs."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

STATUSES = ["lead", "active", "customer", "churned", "prospect"]
AMOUNT_MAX = 10_000
# Thresholds for "amount > N": from loose (most rows match) to tight (a few hundred).
AMOUNT_THRESHOLDS = [100, 500, 1000, 2500, 5000, 7500, 9000, 9500]

# fmt: off
FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas",
         "Karla", "Leon", "Mia", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sven", "Tara", "Uwe",
         "Vera", "Willi", "Xenia", "Yusuf", "Zoe"]
LAST = ["Adler", "Bauer", "Christ", "Dietrich", "Engel", "Fischer", "Graf", "Hoffmann", "Iwanow",
        "Jung", "Keller", "Lange", "Meyer", "Neumann", "Otto", "Peters", "Quast", "Richter",
        "Schmidt", "Thomas", "Ulrich", "Vogel", "Weber", "Yilmaz", "Zimmermann"]
COMPANIES = [f"{a} {b}" for a in ("Nord", "Sued", "Alpha", "Blue", "Prime") for b in
             ("Logistik GmbH", "Software AG", "Handel KG", "Consulting", "Bau GmbH")]
WORDS = ["call", "back", "next", "week", "about", "the", "renewal", "offer", "pricing",
         "meeting", "demo", "contract"]
# fmt: on

TYPE_FIELDS: list[dict[str, Any]] = [
    {"name": "Name", "type": "text"},
    {"name": "Email", "type": "email", "config": {"unique": True}},
    {"name": "Phone", "type": "phone"},
    {"name": "Company", "type": "text"},
    {"name": "Status", "type": "single_choice", "config": {"choices": STATUSES}},
    {"name": "Amount", "type": "number", "config": {"decimals": 2}},
    {"name": "Created", "type": "date"},
    {"name": "Notes", "type": "long_text"},
]
COLUMNS = ["name", "email", "phone", "company", "status", "amount", "created", "notes"]


def contact(i: int, tag: str = "") -> dict[str, Any]:
    """Contact number ``i``; ``tag`` makes the e-mail unique for records made after the load."""
    rng = random.Random(i * 7919 + len(tag))
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "name": f"{first} {last}",
        "email": f"{first}.{last}.{i}{tag}@example.com".lower(),
        "phone": f"+4930{rng.randrange(1_000_000, 10_000_000)}",  # valid Berlin numbers
        "company": rng.choice(COMPANIES),
        "status": STATUSES[i % len(STATUSES)],
        "amount": round(rng.uniform(0, AMOUNT_MAX), 2),
        "created": (date(2015, 1, 1) + timedelta(days=rng.randrange(3650))).isoformat(),
        "notes": " ".join(rng.choices(WORDS, k=rng.randrange(5, 30))),
    }


def email_of(i: int) -> str:
    return contact(i)["email"]


def filter_params(i: int) -> tuple[str, int]:
    """(status, amount threshold) for the i-th filtered-page request."""
    rng = random.Random(1_000_003 + i)
    return rng.choice(STATUSES), rng.choice(AMOUNT_THRESHOLDS)


def new_amount(i: int) -> float:
    return round(random.Random(2_000_003 + i).uniform(0, AMOUNT_MAX), 2)


def pick(i: int, population: int, salt: int) -> int:
    """A reproducible pseudo-random index below ``population`` for request ``i``."""
    return random.Random(salt * 1_000_033 + i).randrange(population)
