"""Create latency with the duplicate check on, at 10,000, 100,000 and 1,000,000 records.

The duplicate check must stay O(log n): each rule turns the incoming values into match keys
and looks them up in the type's keys table through its index, so a create against a million
records should cost what it costs against ten thousand. One run:

1. a throw-away workspace (MySQL by default) with the contacts type of the CRM bench and two
   rules an admin would switch on for a sign-up or API create: ``email`` in block mode (the
   unique index on the key decides) and the fuzzy ``contact`` rule in warn mode (blocking
   keys, then scoring the few records that share one);
2. loads generated CRM records through ``records.bulk`` (the API's bulk path, 1,000 per
   call, the email rule checking every item; the contact rule is off while loading and
   switched to warn before measuring) until ``--sizes`` records are stored: a record whose
   email is already on file is refused, as it would be in production;
3. at each size, times ``--creates`` single creates through ``records.create`` (the service
   behind ``POST /records``) of people not on file, one at a time, after a warm-up that is not
   counted, and prints p50, p90, p99 and max latency, and what the check answered.

    .venv/bin/python bench/dedupe_latency.py                    # 10k, 100k, 1M: ~40 min
    .venv/bin/python bench/dedupe_latency.py --sizes 10000,100000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedupe_crm_data import CRM_FIELDS, generate
from dedupe_workspace import BenchWorkspace

from workspace.dedupe import rules as dedupe_rules
from workspace.errors import DuplicateFound
from workspace.records import records

DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306"
CHUNK = 100_000
PROBE_SEED = 99

RULES = [
    {"rule": "email", "fields": ["email"], "on_create": "block", "on_update": "block"},
    {
        "rule": "contact",
        "fields": ["name", "email", "phone", "company", "street"],
        "on_create": "off",
        "on_update": "off",
    },
]


def _fields(record: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in record.items() if v is not None}


def fill(ws: BenchWorkspace, type_id: int, target: int, stored: int, seed: int) -> tuple[int, int]:
    """Bulk-load generated chunks until ``target`` records are stored; (stored, next seed)."""
    while stored < target:
        rows = [_fields(r) for r in generate(min(CHUNK, target - stored), seed).records]
        seed += 1
        started = time.perf_counter()
        ids, _ = ws.load(type_id, rows)
        added = sum(1 for i in ids if i is not None)
        stored += added
        rate = len(rows) / (time.perf_counter() - started)
        print(f"  {stored:>9,} stored (+{added:,}, {rate:,.0f} rows/s)", flush=True)
    return stored, seed


def set_contact_mode(ws: BenchWorkspace, type_id: int, mode: str) -> None:
    rule = next(r for r in dedupe_rules.list_rules(ws.runtime, ws.acc, type_id) if r["fuzzy"])
    changes = {"on_create": mode, "on_update": mode}
    dedupe_rules.change_rule(ws.runtime, ws.acc, type_id, rule["id"], changes)


def measure(
    ws: BenchWorkspace, type_id: int, probes: list[dict[str, object]], warm: int
) -> tuple[str, int]:
    """Time each create; the table row and how many records the probes added."""
    rt = ws.rt(type_id)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    refused = 0
    for i, fields in enumerate(probes):
        started = time.perf_counter()
        try:
            result = records.create(ws.runtime, ws.acc, rt, fields)
            outcome = "created, pairs queued" if result.get("duplicates") else "created"
        except DuplicateFound:
            outcome = "refused (email on file)"
            refused += 1
        elapsed = (time.perf_counter() - started) * 1000
        if i >= warm:
            latencies.append(elapsed)
            outcomes[outcome] += 1
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    line = (
        f"| {len(latencies):,} | {statistics.median(latencies):.1f} | {q[89]:.1f} "
        f"| **{q[98]:.1f}** | {max(latencies):.1f} | "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        + " |"
    )
    return line, len(probes) - refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="record counts, ascending")
    parser.add_argument("--creates", type=int, default=1000, help="timed creates per size")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--db", choices=("mysql", "sqlite"), default="mysql")
    parser.add_argument("--mysql", default=os.environ.get("BENCH_MYSQL_URL", DEFAULT_MYSQL))
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    n_probes = args.warmup + args.creates
    pool = [_fields(r) for r in generate(n_probes * len(sizes), PROBE_SEED).records]

    run_started = time.perf_counter()
    ws = BenchWorkspace(args.db, args.mysql, "latency", keep=args.keep_db)
    lines = [
        "| existing records | creates | p50 ms | p90 ms | p99 ms | max ms | outcomes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    try:
        type_id = ws.new_type("Contacts", CRM_FIELDS)
        ws.add_rules(type_id, RULES)
        stored, seed = 0, 1000
        for k, size in enumerate(sizes):
            print(f"loading to {size:,} records", flush=True)
            started = time.perf_counter()
            set_contact_mode(ws, type_id, "off")
            stored, seed = fill(ws, type_id, size, stored, seed)
            set_contact_mode(ws, type_id, "warn")
            print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)
            probes = pool[k * n_probes : (k + 1) * n_probes]
            line, added = measure(ws, type_id, probes, args.warmup)
            lines.append(f"| {stored:,} {line}")
            stored += added
            print(lines[-1], flush=True)
    finally:
        ws.close()
    print(f"\nSingle create with the duplicate check on ({args.db}; email block, contact warn)")
    print("\n".join(lines))
    print(f"whole run: {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
