"""Splink (Ministry of Justice, DuckDB backend) on the same labelled sets, as its docs set it up.

Set up as the Splink tutorial and its "deduplicate 50k synthetic" and FEBRL examples do: the
light cleaning the docs ask for (lower case, trimmed, names split into first name and
surname, phone numbers as digits), the comparison library's standard comparisons, blocking
rules on names, email, phone and the like, then unsupervised training: the prior from
deterministic rules, ``u`` by random sampling, ``m`` by expectation maximisation over two
blocking rules. A pair is a match at ``match_probability >= THRESHOLD``. Nothing here is tuned
to the sets: the same settings as the examples, columns renamed.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from dedupe_metrics import LabelledSet, Pair, ordered

THRESHOLD = 0.9
#: Random pairs for Splink's ``u`` estimate (its docs: 1e6 to 1e7; 1e6 keeps the run short).
U_PAIRS = 1_000_000
GENERATIONS = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}


def _clean(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    text = text.strip().lower()
    return text or None


def _first_and_surname(name: Any) -> tuple[str | None, str | None]:
    """ "Smith, John A." and "John A. Smith Jr." -> ("john", "smith")."""
    text = _clean(name)
    if text is None:
        return None, None
    if "," in text:
        surname, _, rest = text.partition(",")
        words = [w for w in rest.replace(",", " ").split() if w not in GENERATIONS]
        return (words[0].strip(".") if words else None), surname.strip() or None
    words = [w for w in text.split() if w not in GENERATIONS]
    if len(words) == 1:
        return words[0], None
    return words[0].strip("."), words[-1]


def _digits(phone: Any) -> str | None:
    if not isinstance(phone, str):
        return None
    digits = re.sub(r"\D", "", phone.split("ext")[0].split("x")[0])
    return digits[-10:] or None


def _frame(data: LabelledSet, kind: str) -> Any:
    import pandas as pd

    rows = []
    for i, r in enumerate(data.records):
        if kind == "crm":
            first, surname = _first_and_surname(r["name"])
            rows.append(
                {
                    "unique_id": i,
                    "first_name": first,
                    "surname": surname,
                    "email": _clean(r["email"]),
                    "phone": _digits(r["phone"]),
                    "company": _clean(r["company"]),
                    "postcode": _clean(r["postcode"]),
                }
            )
        else:
            rows.append(
                {
                    "unique_id": i,
                    "first_name": _clean(r["given_name"]),
                    "surname": _clean(r["surname"]),
                    "dob": _clean(r["date_of_birth"]),
                    "soc_sec_id": _digits(r["phone"]),
                    "street": _clean(r["street"]),
                    "suburb": _clean(r["suburb"]),
                    "postcode": _clean(r["postcode"]),
                }
            )
    return pd.DataFrame(rows)


def _settings(kind: str) -> tuple[Any, list[Any], list[Any]]:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    if kind == "crm":
        comparisons = [
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("company", [0.9, 0.7]),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ]
        blocking = [
            block_on("first_name", "surname"),
            block_on("email"),
            block_on("phone"),
            block_on("surname", "postcode"),
        ]
        prior = [block_on("first_name", "surname", "email"), block_on("email")]
        em = [block_on("first_name", "surname"), block_on("email")]
    else:
        comparisons = [
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.JaroWinklerAtThresholds("street", [0.9, 0.7]),
            cl.ExactMatch("suburb").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ]
        blocking = [
            block_on("soc_sec_id"),
            block_on("first_name"),
            block_on("surname"),
            block_on("dob"),
            block_on("postcode"),
        ]
        prior = [block_on("first_name", "surname", "dob"), block_on("soc_sec_id")]
        em = [block_on("first_name", "surname"), block_on("dob")]
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
    )
    return settings, prior, em


def splink_pairs(data: LabelledSet, kind: str) -> tuple[set[Pair], float]:
    """Pairs Splink calls a match, and the seconds it took (training and prediction)."""
    from splink import DuckDBAPI, Linker

    logging.getLogger("splink").setLevel(logging.ERROR)
    frame = _frame(data, kind)
    started = time.perf_counter()
    settings, prior, em = _settings(kind)
    linker = Linker(frame, settings, db_api=DuckDBAPI(), set_up_basic_logging=False)
    linker.training.estimate_probability_two_random_records_match(prior, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_PAIRS, seed=4)
    for rule in em:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    found = predictions.as_pandas_dataframe()
    left, right = found["unique_id_l"].astype(int), found["unique_id_r"].astype(int)
    pairs = ordered(zip(left, right, strict=True))
    return pairs, time.perf_counter() - started
