"""Connectors benchmark: a first pull of 100,000 HubSpot contacts into a record type with an
email dedupe rule, then an incremental pull of 1,000 changes, on MySQL/MariaDB; the same rows
through the bulk API in the same run for comparison; optionally the users' story at its full
counts. Prints figures only; nothing here fails on a slow result.

    .venv/bin/python bench/connectors.py [--contacts N] [--changes N] [--story] [--keep-db]

The fake HubSpot (tests/fake_saas) runs in a process of its own, so the figures are this
process's (the sync's) CPU and memory, as against a remote API; it pages by 100 as HubSpot
does. The sync runs in this process through the service (``engine.run_sync``), as a job
will; the bulk comparison goes through ``workspace serve`` over loopback, 100 rows per call,
one call at a time (as the sync writes one page at a time).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contacts import fresh_database, mysql_params  # noqa: E402
from server import Server  # noqa: E402

PAGE = 100


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--contacts", type=int, default=100_000, help="HubSpot contacts to pull")
    p.add_argument("--changes", type=int, default=1_000, help="contacts changed for the increment")
    p.add_argument("--story", action="store_true", help="also the story: 2,000 / 3,000 / 800")
    p.add_argument("--no-bulk", action="store_true", help="skip the bulk API comparison")
    p.add_argument(
        "--mysql",
        default=os.environ.get("BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"),
        help="server URL without database (default $BENCH_MYSQL_URL or root@127.0.0.1:3306)",
    )
    p.add_argument("--keep-db", action="store_true", help="keep the bench databases")
    return p.parse_args()


# ---- the fake HubSpot, in a process of its own ---------------------------------------


def fake_process(pipe: Any) -> None:
    """Serve a HubSpotFake and obey ("seed", n), ("change", n), ("stop",) from the pipe."""
    sys.path.insert(0, str(REPO))
    from tests.fake_saas import HubSpotFake

    with HubSpotFake() as fake:
        pipe.send((fake.url, fake.token))
        ids: list[str] = []
        while True:
            command = pipe.recv()
            if command[0] == "seed":
                ids = fake.seed_contacts(command[1])
                pipe.send(len(ids))
            elif command[0] == "change":
                fake.clock.advance(60)
                for contact in ids[: command[1]]:
                    fake.update("contacts", contact, {"company": "Changed Ltd"})
                pipe.send(command[1])
            else:
                pipe.send("stopped")
                return


# ---- helpers --------------------------------------------------------------------------


def memory_mb() -> tuple[float, float]:
    """(resident now, peak resident) of this process, in MB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def customer_type(runtime: Any, acc: Any) -> Any:
    from workspace.dedupe import rules
    from workspace.types import record_types

    spec = {
        "name": "Customer",
        "fields": [
            {"name": "Name", "type": "text"},
            {"name": "Email", "type": "email"},
            {"name": "Phone", "type": "phone"},
            {"name": "Company", "type": "text"},
        ],
    }
    made = record_types.create_type(runtime, acc, spec)
    rule = {"rule": "email", "fields": ["email"], "on_create": "update", "on_update": "warn"}
    rules.add_rule(runtime, acc, made["id"], rule)
    return record_types.get_type(runtime, acc, made["id"])


MAPPING = [
    {"property": "email", "field": "email", "direction": "pull"},
    {"property": "firstname", "field": "name", "owner": "connection"},
    {"property": "company", "field": "company", "owner": "connection"},
    {"property": "phone", "field": "phone", "direction": "push"},
]


# ---- phases ---------------------------------------------------------------------------


def sync_phases(args: argparse.Namespace, url: str, data_dir: Path) -> dict[str, Any]:
    from workspace import migrate
    from workspace.access import users, workspaces
    from workspace.boot import build_runtime
    from workspace.connectors import connections, engine, mappings
    from workspace.principal import Principal
    from workspace.settings import Settings

    settings = Settings(database_url=url, data_dir=data_dir, allow_private_hosts=True)
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.control)
    user = users.create_user(runtime, "bench@example.com", password=None)
    principal = Principal(user["id"], user["email"])
    ws = workspaces.create(runtime, principal, "Bench")["id"]
    acc = workspaces.access(runtime, principal, ws)
    rt = customer_type(runtime, acc)

    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    fake = ctx.Process(target=fake_process, args=(theirs,), daemon=True)
    fake.start()
    fake_url, token = ours.recv()
    started = time.monotonic()
    ours.send(("seed", args.contacts))
    ours.recv()
    seeded = time.monotonic() - started
    body = {"kind": "hubspot", "base_url": fake_url, "config": {"access_token": token}}
    connection = connections.create(runtime, acc, body)["id"]
    mapping = {"object": "contacts", "type": rt.id, "properties": MAPPING}
    mappings.save(runtime, acc, connection, mapping)

    rss, peak = memory_mb()
    started = time.monotonic()
    first = engine.run_sync(runtime, connection)
    full_seconds = time.monotonic() - started
    rss_after, peak_after = memory_mb()

    ours.send(("change", args.changes))
    ours.recv()
    started = time.monotonic()
    increment = engine.run_sync(runtime, connection)
    increment_seconds = time.monotonic() - started
    ours.send(("stop",))
    ours.recv()
    fake.join(timeout=10)
    runtime.close()
    return {
        "seeded": seeded,
        "first": first,
        "full_seconds": full_seconds,
        "rss_growth": rss_after - rss,
        "peak_growth": peak_after - peak,
        "increment": increment,
        "increment_seconds": increment_seconds,
    }


def bulk_phase(args: argparse.Namespace, url: str, data_dir: Path) -> dict[str, Any]:
    """The same rows through ``POST .../records/bulk`` of a running server (upsert by the
    same email rule: a row for a customer on file merges into it)."""
    from tests.fake_saas import people

    data_dir.mkdir(parents=True, exist_ok=True)
    server = Server(url, data_dir, workers=1)
    server.start()
    try:
        status, ws = server.call("POST", "/api/v1/workspaces", {"name": "Bench"})
        fields = [
            {"name": "Name", "type": "text"},
            {"name": "Email", "type": "email"},
            {"name": "Phone", "type": "phone"},
            {"name": "Company", "type": "text"},
        ]
        status, rt = server.call(
            "POST", f"/api/v1/workspaces/{ws['id']}/types", {"name": "Customer", "fields": fields}
        )
        rule = {"rule": "email", "fields": ["email"], "on_create": "update", "on_update": "warn"}
        server.call("POST", f"/api/v1/workspaces/{ws['id']}/types/{rt['id']}/dedupe-rules", rule)
        path = f"/api/v1/workspaces/{ws['id']}/types/{rt['id']}/records/bulk"
        rows = [
            {"fields": {"name": p.first_name, "email": p.email, "company": p.company.name}}
            for p in people(args.contacts)
        ]
        started = time.monotonic()
        created = 0
        for start in range(0, len(rows), PAGE):
            status, answer = server.call(
                "POST", path, {"items": rows[start : start + PAGE], "atomic": False}
            )
            assert status == 200, answer
            created += answer["created"] + answer["merged"]
        seconds = time.monotonic() - started
    finally:
        server.stop()
    return {"rows": created, "seconds": seconds}


def story_phase(url: str, data_dir: Path) -> dict[str, Any]:
    """The users' story at its full counts: 2,000 HubSpot contacts (150 already customers,
    spelled otherwise), 3,000 Mailchimp members, 800 Stripe customers into one type."""
    from sqlalchemy import func, select

    from tests.connectors import STORY, connect
    from tests.fake_saas import HubSpotFake, MailchimpFake, StripeFake, people
    from workspace import migrate
    from workspace import models as m
    from workspace.access import users, workspaces
    from workspace.boot import build_runtime
    from workspace.connectors import engine, mappings
    from workspace.db import transaction
    from workspace.principal import Principal
    from workspace.records import records
    from workspace.settings import Settings
    from workspace.types import record_types

    runtime = build_runtime(Settings(database_url=url, data_dir=data_dir, allow_private_hosts=True))
    migrate.upgrade(runtime.control)
    user = users.create_user(runtime, "story@example.com", password=None)
    principal = Principal(user["id"], user["email"])
    ws = workspaces.create(runtime, principal, "Story")["id"]
    acc = workspaces.access(runtime, principal, ws)
    names = ["Name", "Email", "Phone", "Company", "Marketing consent", "Email invalid"]
    names += ["Unsubscribed", "Legal name", "Billing email", "Billing city"]
    kinds = {"Email": "email", "Phone": "phone", "Billing email": "email"}
    kinds |= {"Marketing consent": "checkbox", "Email invalid": "checkbox"}
    kinds["Unsubscribed"] = "checkbox"
    spec = {
        "name": "Customer",
        "fields": [{"name": n, "type": kinds.get(n, "text")} for n in names],
    }
    made = record_types.create_type(runtime, acc, spec)
    from workspace.dedupe import rules

    rule = {"rule": "email", "fields": ["email"], "on_create": "update", "on_update": "warn"}
    rules.add_rule(runtime, acc, made["id"], rule)
    rt = record_types.get_type(runtime, acc, made["id"])
    crowd = list(people(3000))
    existing = [
        {"fields": {"name": p.last_name.upper(), "email": p.email.upper()}} for p in crowd[:150]
    ]
    records.bulk(runtime, acc, rt, existing)
    timings = {}
    with HubSpotFake() as hubspot, MailchimpFake() as mailchimp, StripeFake() as stripe:
        hubspot.seed_contacts(2000)
        mailchimp.seed_members(3000)
        stripe.seed_customers(800)
        for kind, fake in (("hubspot", hubspot), ("mailchimp", mailchimp), ("stripe", stripe)):
            connection = connect(runtime, acc, fake)
            remote_object, properties = STORY[kind]
            mappings.save(
                runtime,
                acc,
                connection,
                {"object": remote_object, "type": rt.id, "properties": properties},
            )
            started = time.monotonic()
            run = engine.run_sync(runtime, connection)
            timings[kind] = (time.monotonic() - started, run["counts"])
    with transaction(runtime.control) as conn:
        linked = conn.execute(
            select(func.count()).select_from(
                select(m.external_ids.c.record_id)
                .where(m.external_ids.c.record_type_id == rt.id)
                .group_by(m.external_ids.c.record_id)
                .having(func.count(func.distinct(m.external_ids.c.connection_id)) == 3)
                .subquery()
            )
        ).scalar_one()
    total = records.list_records(runtime, acc, rt, limit=1, with_total=True)["total"]
    runtime.close()
    return {"timings": timings, "records": total, "in_all_three": linked}


def main() -> None:
    args = parse_args()
    params = mysql_params(args.mysql)
    names = [f"bench_connectors_{os.getpid()}", f"bench_connectors_bulk_{os.getpid()}"]
    names.append(f"bench_connectors_story_{os.getpid()}")
    base = args.mysql.rstrip("/")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name in names:
                fresh_database(params, name)
            results["sync"] = sync_phases(args, f"{base}/{names[0]}", Path(tmp) / "sync")
            if not args.no_bulk:
                results["bulk"] = bulk_phase(args, f"{base}/{names[1]}", Path(tmp) / "bulk")
            if args.story:
                results["story"] = story_phase(f"{base}/{names[2]}", Path(tmp) / "story")
        finally:
            if not args.keep_db:
                for name in names:
                    fresh_database(params, name, drop_only=True)
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    sync = results["sync"]
    first, increment = sync["first"], sync["increment"]
    print(f"connectors bench on MySQL/MariaDB, {os.cpu_count()} cores; fake HubSpot seeded in "
          f"{sync['seeded']:.1f} s (not counted)")  # fmt: skip
    print(f"{'phase':44} {'rows':>8} {'seconds':>9} {'rows/s':>8}  target")
    created = first["counts"]["created"] + first["counts"]["linked"]
    print(f"{'first pull, pages of 100, dedupe on':44} {created:>8} {sync['full_seconds']:>9.1f} "
          f"{created / sync['full_seconds']:>8.0f}  <= 60 s")  # fmt: skip
    print(f"{'  memory: resident growth (peak growth) MB':44} {sync['rss_growth']:>8.0f} "
          f"{'(' + format(sync['peak_growth'], '.0f') + ')':>9}           < 200 MB")  # fmt: skip
    rows = increment["rows"]
    print(f"{'incremental pull of changes':44} {rows:>8} {sync['increment_seconds']:>9.2f} "
          f"{rows / max(sync['increment_seconds'], 1e-9):>8.0f}  <= 3 s")  # fmt: skip
    print(f"{'  outcomes':44} {increment['counts']}")
    if "bulk" in results:
        bulk = results["bulk"]
        print(f"{'bulk API, same rows, 100 per call':44} {bulk['rows']:>8} {bulk['seconds']:>9.1f} "
              f"{bulk['rows'] / bulk['seconds']:>8.0f}")  # fmt: skip
    if "story" in results:
        story = results["story"]
        for kind, (seconds, counts) in story["timings"].items():
            kept = {k: n for k, n in counts.items() if n}
            print(f"  story {kind:10} {seconds:6.1f} s  {kept}")
        print(f"  story: {story['records']} records (3,000 people), "
              f"{story['in_all_three']} linked to all three tools (800 expected)")  # fmt: skip


if __name__ == "__main__":
    main()
