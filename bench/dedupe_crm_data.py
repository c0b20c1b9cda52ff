"""A generated CRM-like data set with known truth: several sources export the same customers.

Five systems (CRM, billing, support desk, web form, event list) each export some of the people
of ``dedupe_crm_people.Population``; a person appears in one to five records (one to four
sources, sometimes twice in one). Each source has its own habits, and every record drifts:

- names: typos (a slipped key, swapped or dropped letter), nicknames (Bob for Robert),
  initials ("J. Smith"), "SMITH, JOHN" in billing, lower case on the web form, first and last
  swapped, middle names shown or not, accents dropped or umlauts spelled out, Jr./Sr. shown
  or not, a maiden name in old records;
- emails: work or personal or none, the old employer's or the old personal mailbox in old
  records, gmail dots and +tags, a typo, role mailboxes (accounts@) in billing, a family
  mailbox;
- phones: mobile, direct line, the company switchboard (with or without extension: the
  phone field keeps E.164 without it), the household landline, in any format, a typo;
- company: legal form written out, abbreviated, upper case, missing, "&" for "and", the old
  employer in old records.

Nothing here looks at the rules being measured: the habits follow the issue's description of a
hard CRM ("colleagues share a company, address and switchboard phone, households share a
surname and landline, people change email and employer"). ``generate`` is deterministic for a
seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import phonenumbers
from dedupe_crm_people import Company, Person, Population, _ascii

FIELDS = ["name", "email", "phone", "company", "street", "city", "postcode", "source"]

# fmt: off
NICKNAMES = {
    "Robert": ["Bob", "Rob", "Bobby"], "William": ["Bill", "Will", "Billy"],
    "James": ["Jim", "Jimmy"],
    "John": ["Jack", "Johnny"], "Michael": ["Mike"], "Richard": ["Rick", "Dick"], "Thomas": ["Tom"],
    "Joseph": ["Joe"], "Daniel": ["Dan", "Danny"], "Christopher": ["Chris"], "Matthew": ["Matt"],
    "Anthony": ["Tony"], "Jennifer": ["Jen", "Jenny"], "Margaret": ["Maggie", "Peggy"],
    "Patricia": ["Pat", "Trish"], "Susan": ["Sue"], "Deborah": ["Deb", "Debbie"],
    "Jessica": ["Jess"], "Alexander": ["Alex"], "Benjamin": ["Ben"], "Samuel": ["Sam"],
    "Nicholas": ["Nick"], "Jonathan": ["Jon"], "Steven": ["Steve"], "Stephen": ["Steve"],
    "Edward": ["Ed", "Ted"], "Andrew": ["Andy", "Drew"], "Timothy": ["Tim"], "Kenneth": ["Ken"],
    "Ronald": ["Ron"], "Donald": ["Don"], "Gregory": ["Greg"], "Charles": ["Charlie", "Chuck"],
    "Rebecca": ["Becky"], "Victoria": ["Vicky", "Tori"], "Elizabeth": ["Liz", "Beth", "Betty"],
    "Katherine": ["Kate", "Katie"], "Catherine": ["Cathy", "Kate"], "Kimberly": ["Kim"],
    "Christina": ["Tina"], "Abigail": ["Abby"], "Samantha": ["Sam"], "Zachary": ["Zach"],
    "Joshua": ["Josh"], "Jacob": ["Jake"], "Nathan": ["Nate"], "Patrick": ["Pat"],
    "Raymond": ["Ray"], "Lawrence": ["Larry"], "Frederick": ["Fred"], "Peter": ["Pete"],
    "Douglas": ["Doug"], "Gerald": ["Jerry"], "Cynthia": ["Cindy"], "Pamela": ["Pam"],
    "Barbara": ["Barb"], "Theresa": ["Terry"], "Dorothy": ["Dot"], "Judith": ["Judy"],
    "Kathleen": ["Kathy"], "Melissa": ["Missy"], "Vincent": ["Vince"], "Philip": ["Phil"],
}
LONG_FORMS = {"Inc": "Incorporated", "Corp": "Corporation", "Co": "Company", "LLC": "L.L.C.",
              "AG": "Aktiengesellschaft", "SA": "S.A.", "AB": "Aktiebolag", "SL": "S.L."}
ROLE_MAILBOXES = ["accounts", "billing", "info", "office"]
KEYBOARD = "qwertyuiop asdfghjkl zxcvbnm"
# fmt: on


@dataclass(frozen=True)
class Style:
    """One source system's habits (probabilities per record)."""

    name: str
    weight: float
    old: float  # the record shows the person as they were before a change
    typo: float
    nickname: float
    initial: float
    middle: float
    comma: float  # "Smith, John"
    swap: float  # "Smith John"
    upper: float
    lower: float
    given_only: float
    email: dict[str, float]
    phone: dict[str, float]
    company_missing: float
    address: float


# fmt: off
SOURCES = [
    Style("crm", 30, .30, .03, .05, .03, .35, .05, .01, 0, 0, 0,
          {"work": .65, "personal": .20, "role": .02, "none": .13},
          {"work": .50, "mobile": .30, "landline": .05, "none": .15}, .05, .5),
    Style("billing", 20, .35, .02, .01, .10, .10, .60, 0, .50, 0, 0,
          {"work": .30, "role": .15, "personal": .25, "family": .10, "none": .20},
          {"landline": .35, "work": .25, "mobile": .20, "none": .20}, .20, .9),
    Style("support", 20, .35, .06, .12, .08, .05, 0, .01, 0, .20, .03,
          {"personal": .50, "work": .35, "none": .15},
          {"mobile": .55, "work": .20, "landline": .05, "none": .20}, .50, .2),
    Style("webform", 20, .25, .08, .15, .02, .10, 0, .03, .05, .25, .01,
          {"personal": .60, "work": .30, "family": .05, "none": .05},
          {"mobile": .60, "landline": .15, "none": .25}, .30, .3),
    Style("events", 10, .80, .03, .25, .02, 0, 0, 0, 0, 0, 0,
          {"work": .60, "personal": .30, "none": .10},
          {"mobile": .40, "work": .30, "none": .30}, .10, .1),
]
RECORDS_PER_PERSON = {1: .45, 2: .28, 3: .17, 4: .07, 5: .03}
# fmt: on


def typo(word: str, rng: random.Random) -> str:
    """One slip of the keyboard: a neighbouring key, two letters swapped, one dropped or
    doubled."""
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        row = next((r for r in KEYBOARD.split() if word[i].lower() in r), None)
        if row is None:
            return word
        j = row.index(word[i].lower())
        near = row[max(0, j - 1) : j] + row[j + 1 : j + 2]
        return word[:i] + rng.choice(near or row) + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 2:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


class Renderer:
    """Turns a person into one source's record of them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def roll(self, p: float) -> bool:
        return self.rng.random() < p

    def choose(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def record(self, p: Person, style: Style) -> dict[str, Any]:
        changed = len(p.jobs) > 1 or len(p.emails) > 1 or p.maiden is not None
        old = changed and self.roll(style.old)
        job = (p.jobs[0] if old else p.jobs[-1]) if p.jobs else None
        fields: dict[str, Any] = {
            "name": self.name(p, style, old),
            "email": self.email(p, style, old, job),
            "phone": self.phone(p, style, job),
            "company": None,
            "street": None,
            "city": None,
            "postcode": None,
            "source": style.name,
        }
        if job is not None and not self.roll(style.company_missing):
            fields["company"] = self.company(job.company)
        if self.roll(style.address):
            work = job is not None and (p.household is None or self.roll(0.5))
            home = p.household.address if p.household else None
            where = job.company.address if work and job else home
            if where is not None:
                street = where.street
                if self.roll(0.3):
                    street = street.replace("Avenue", "Ave").replace("Street", "St")
                fields.update(street=street, city=where.city, postcode=where.postcode)
        return fields

    # ---- names --------------------------------------------------------------------------

    def name(self, p: Person, s: Style, old: bool) -> str:
        given, family = p.given, p.maiden if (old and p.maiden) else p.family
        if given in NICKNAMES and self.roll(s.nickname):
            given = self.rng.choice(NICKNAMES[given])
        if self.roll(s.typo):
            if self.roll(0.5):
                given = typo(given, self.rng)
            else:
                family = typo(family, self.rng)
        if p.locale != "us" and self.roll(0.35):
            given, family = self.fold(given), self.fold(family)
        if self.roll(s.initial):
            given = given[0] + "."
        middle = ""
        if p.middle and self.roll(s.middle):
            middle = p.middle if self.roll(0.4) else p.middle[0] + "."
        suffix = p.suffix if p.suffix and self.roll(0.4) else ""
        if self.roll(s.given_only):
            text = given
        elif self.roll(s.comma):
            text = f"{family}, {' '.join(w for w in (given, middle) if w)}"
            text += f", {suffix}" if suffix else ""
        elif self.roll(s.swap):
            text = f"{family} {given}"
        else:
            text = " ".join(w for w in (given, middle, family, suffix) if w)
        if self.roll(s.upper):
            return text.upper()
        return text.lower() if self.roll(s.lower) else text

    def fold(self, word: str) -> str:
        if self.roll(0.5):  # umlauts spelled out, as a German keyboard-less user writes them
            word = word.translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}))
        return "".join(c if c.isascii() else _ascii(c)[:1] or c for c in word)

    # ---- emails -------------------------------------------------------------------------

    def email(self, p: Person, s: Style, old: bool, job: Any) -> str | None:
        kind = self.choose(s.email)
        home = p.household
        address = None
        if kind == "work" and job is not None:
            address = job.email
        elif kind == "role" and job is not None:
            address = f"{self.rng.choice(ROLE_MAILBOXES)}@{job.company.domain}"
        elif kind == "family" and home is not None and home.email:
            address = home.email
        elif kind != "none":
            address = p.emails[0] if old else p.emails[-1]
        if address is None:
            return None
        local, domain = address.split("@")
        if domain == "gmail.com":
            if "." in local and self.roll(0.15):
                local = local.replace(".", "")
            if self.roll(0.08):
                local += "+" + self.rng.choice(["news", "shop", "crm", "work"])
            if self.roll(0.03):
                domain = "googlemail.com"
        if self.roll(0.02):
            local = typo(local, self.rng)
        if self.roll(0.2):
            local = local[:1].upper() + local[1:]
        text = f"{local}@{domain}"
        return f" {text} " if self.roll(0.05) else text

    # ---- phones -------------------------------------------------------------------------

    def phone(self, p: Person, s: Style, job: Any) -> str | None:
        kind = self.choose(s.phone)
        home = p.household.landline if p.household else None
        ext = None
        number = None
        if kind == "work" and job is not None:
            number = job.direct_line or job.company.switchboard
            if job.direct_line is None and job.extension and self.roll(0.6):
                ext = job.extension
        elif kind == "landline" and home:
            number = home
        elif kind != "none":
            number = p.mobile or home
        if number is None:
            return None
        if self.roll(0.01):
            number = self.phone_typo(number)
        return self.phone_format(number) + (f" ext. {ext}" if ext else "")

    def phone_typo(self, number: str) -> str:
        i = self.rng.randrange(len(number) - 4, len(number))
        slipped = number[:i] + str((int(number[i]) + 1) % 10) + number[i + 1 :]
        return slipped if phonenumbers.is_valid_number(phonenumbers.parse(slipped)) else number

    def phone_format(self, e164: str) -> str:
        if not e164.startswith("+1"):
            return self.rng.choice([e164, _international(e164)])
        a, b, c = e164[2:5], e164[5:8], e164[8:]
        return self.rng.choice(
            [e164, f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}",
             f"1-{a}-{b}-{c}", f"{a} {b} {c}"]
        )  # fmt: skip

    # ---- companies ----------------------------------------------------------------------

    def company(self, c: Company) -> str:
        name, legal = c.name, c.legal
        r = self.rng.random()
        if r < 0.45:
            text = f"{name} {legal}"
        elif r < 0.60:
            text = (
                f"{name}, {legal}." if legal in {"Inc", "Ltd", "Corp", "Co"} else f"{name} {legal}"
            )
        elif r < 0.72:
            text = f"{name} {LONG_FORMS.get(legal, legal)}"
        elif r < 0.90:
            text = name
        else:
            text = f"{name.upper()} {legal.upper()}"
        if "&" in text and self.roll(0.3):
            text = text.replace("&", "and")
        if self.roll(0.02):
            text = typo(text, self.rng)
        return text


def _international(e164: str) -> str:
    number = phonenumbers.parse(e164)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@dataclass
class Dataset:
    """Records in insertion order and, per record, the person it belongs to."""

    records: list[dict[str, Any]]
    entity: list[int]
    people: int
    companies: int
    households: int


def generate(n_records: int, seed: int = 4) -> Dataset:
    rng = random.Random(seed)
    world = Population(rng)
    render = Renderer(rng)
    counts, shares = list(RECORDS_PER_PERSON), list(RECORDS_PER_PERSON.values())
    weights = [s.weight for s in SOURCES]
    rows: list[tuple[dict[str, Any], int]] = []
    while len(rows) < n_records:
        for person in world.grow():
            k = rng.choices(counts, shares)[0]
            styles = rng.choices(SOURCES, weights, k=k)
            rows.extend((render.record(person, style), person.id) for style in styles)
    rows = rows[:n_records]
    rng.shuffle(rows)  # sources are imported at different times: interleave them
    return Dataset(
        records=[r for r, _ in rows],
        entity=[e for _, e in rows],
        people=len(world.people),
        companies=len(world.companies),
        households=world.households,
    )


#: The contacts type an admin would make for these exports.
CRM_FIELDS = [
    {"name": "Name", "type": "text"},
    {"name": "Email", "type": "email"},
    {"name": "Phone", "type": "phone"},
    {"name": "Company", "type": "text"},
    {"name": "Street", "type": "text"},
    {"name": "City", "type": "text"},
    {"name": "Postcode", "type": "text"},
    {"name": "Source", "type": "text"},
]

#: The rules an admin would pick for people: the fuzzy ``contact`` rule on name, email,
#: phone, company and street (it uses the email, phone, company and person-name normalisations of
#: the exact rules), and the exact ``email`` rule. Exact phone, company or person-name rules
#: would call colleagues, households and namesakes one customer. Both queue pairs only, so
#: the scan decides (writes are not checked: "off").
RULES = [
    {
        "rule": "contact",
        "fields": ["name", "email", "phone", "company", "street"],
        "on_create": "off",
        "on_update": "off",
    },
    {"rule": "email", "fields": ["email"], "on_create": "off", "on_update": "off"},
]


def labelled(n_records: int, seed: int = 4) -> Any:
    """The set as ``dedupe_metrics.LabelledSet`` (imported here: the generator stands alone)."""
    from dedupe_metrics import LabelledSet

    data = generate(n_records, seed)
    name = f"CRM {n_records // 1000}k" if n_records >= 1000 else f"CRM {n_records}"
    return LabelledSet(
        name=name, records=data.records, entity=data.entity, fields=CRM_FIELDS, rules=RULES
    )
