"""Dedupe quality and speed: our scan against Splink and exact email, on labelled sets.

For each set (FEBRL 1 to 4, and the generated hard CRM set, 100,000 records by default) one
run does, and prints as one table:

1. **ours**: a throw-away workspace (MySQL by default), a record type with the set's fields,
   the rules an admin would pick (``dedupe_febrl.RULES``, ``dedupe_crm_data.RULES``), the
   records loaded through ``records.bulk`` (the API's bulk path, 1,000 per call), then the
   background scan ``duplicates.scan``, timed; its review queue is the prediction;
2. **splink**: Splink 4 on DuckDB with its documented settings (``dedupe_splink``), timed
   from training to the predicted pairs;
3. **exact email**: records whose trimmed, lower-cased email is equal (the CRM set only:
   FEBRL has no email).

Precision, recall and F1 are over record pairs (what a review queue holds, and what Splink
reports); the "clusters" columns join predicted pairs transitively first (the queue once a
reviewer has merged every pair). ``--explain N`` prints our N biggest groups of false
positives and false negatives by the reasons the rule gave, to see why a figure falls short.

    .venv/bin/python bench/dedupe_quality.py                 # everything, MySQL, ~3 min
    .venv/bin/python bench/dedupe_quality.py --records 20000 --sets crm --explain 8

It needs the bench extra (``pip install -e '.[bench]'``) and a MySQL or MariaDB where the user
may create databases (``--mysql`` or ``BENCH_MYSQL_URL``; ``--db sqlite`` runs without one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedupe_explain import explain
from dedupe_metrics import LabelledSet, Pair, closure, exact_match, ordered, quality
from dedupe_workspace import BenchWorkspace

DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306"


def our_scan(
    data: LabelledSet, db: str, mysql_url: str, keep: bool
) -> tuple[dict[str, set[Pair]], dict[str, Any]]:
    """Load the set into a fresh workspace, scan it, and read the review queue back: the
    pairs each rule queued (a pair two rules find is queued once, by the first rule)."""
    tag = data.name.lower().replace(" ", "")[:12]
    ws = BenchWorkspace(db, mysql_url, tag, keep=keep)
    try:
        type_id = ws.new_type(data.name, data.fields)
        ws.add_rules(type_id, data.rules)
        started = time.perf_counter()
        ids, refused = ws.load(type_id, data.records)
        loaded = time.perf_counter() - started
        load_before = os.getloadavg()[0]
        result, seconds = ws.scan(type_id)
        load_after = os.getloadavg()[0]
        position = {record_id: i for i, record_id in enumerate(ids) if record_id is not None}
        queue = ws.queued(type_id)
    finally:
        ws.close()
    pairs: dict[str, set[Pair]] = {}
    for a, b, rule, _ in queue:
        pairs.setdefault(rule, set()).update(ordered([(position[a], position[b])]))
    stats = {
        "scan_s": seconds,
        "load_s": loaded,
        "refused": refused,
        "compared": result["compared"],
        "by_rule": dict(Counter(rule for _, _, rule, _ in queue)),
        "load": (load_before, load_after),
    }
    return pairs, stats


def row(method: str, data: LabelledSet, pairs: set[Pair] | None, seconds: float | None) -> str:
    if pairs is None:
        return f"| {data.name} | {method} | n/a | | | | | | |"
    truth = data.truth()
    q = quality(pairs, truth)
    c = quality(closure(pairs, len(data.records)), truth)
    time_text = f"{seconds:.1f}" if seconds is not None else "-"
    return (
        f"| {data.name} | {method} | {q.precision:.3f} | {q.recall:.3f} | **{q.f1:.3f}** "
        f"| {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {time_text} |"
    )


def load_sets(names: list[str], records: int) -> list[tuple[LabelledSet, str]]:
    from dedupe_crm_data import labelled
    from dedupe_febrl import SETS
    from dedupe_febrl import load as load_febrl

    out = []
    for name in names:
        if name == "febrl":
            out.extend((load_febrl(s), "febrl") for s in SETS)
        elif name in SETS:
            out.append((load_febrl(name), "febrl"))
        elif name == "crm":
            out.append((labelled(records), "crm"))
        else:
            raise SystemExit(f"unknown set {name!r}: febrl, febrl1..febrl4 or crm")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="febrl,crm", help="febrl, febrl1..4, crm")
    parser.add_argument("--records", type=int, default=100_000, help="size of the CRM set")
    parser.add_argument("--db", choices=("mysql", "sqlite"), default="mysql")
    parser.add_argument("--mysql", default=os.environ.get("BENCH_MYSQL_URL", DEFAULT_MYSQL))
    parser.add_argument("--no-splink", action="store_true", help="skip Splink")
    parser.add_argument("--explain", type=int, default=0, help="print the N worst error groups")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    run_started = time.perf_counter()
    lines = [
        "| set | method | precision | recall | F1 | clusters P | clusters R | clusters F1 "
        "| time s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    details = []
    for data, kind in load_sets(args.sets.split(","), args.records):
        truth = data.truth()
        print(f"{data.name}: {len(data.records):,} records, {len(truth):,} true pairs", flush=True)
        by_rule, stats = our_scan(data, args.db, args.mysql, args.keep_db)
        ours = set().union(*by_rule.values())
        first = data.rules[0]["rule"]
        lines.append(row(f"ours: {first} rule", data, by_rule.get(first, set()), None))
        names = " + ".join(r["rule"] for r in data.rules)
        lines.append(row(f"ours: {names} ({args.db} scan)", data, ours, stats["scan_s"]))
        details.append(
            f"{data.name}: loaded in {stats['load_s']:.1f} s ({stats['refused']} refused by "
            f"field validation), scan compared {stats['compared']:,} pairs, queued "
            f"{len(ours):,} ({', '.join(f'{k} {v:,}' for k, v in stats['by_rule'].items())}); "
            "load average {:.1f} before the scan, {:.1f} after".format(*stats["load"])
        )
        if not args.no_splink:
            from dedupe_splink import splink_pairs

            pairs, seconds = splink_pairs(data, kind)
            lines.append(row("splink 4 (documented settings)", data, pairs, seconds))
        if kind == "crm":
            emails = [(r["email"] or "").strip().lower() for r in data.records]
            lines.append(row("exact email (trim, lower-case)", data, exact_match(emails), None))
        if args.explain:
            explain(data, ours, args.explain)
        print("\n".join(lines[-4 if kind == "crm" else -3 :]), flush=True)
    print(f"\nDedupe quality and speed ({args.db}); pairs: precision/recall/F1 over record pairs")
    print("\n".join(lines))
    print()
    print("\n".join(details))
    print(f"whole run: {time.perf_counter() - run_started:.0f} s on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
