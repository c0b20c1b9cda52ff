"""Copying a workspace's record data to another database and verifying it.

The source is the managed database the workspace starts on (SQLite, or MariaDB in the MySQL
run); the target is a throw-away MariaDB database, standing in for the customer's own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.engine import make_url

from tests.conftest import MYSQL_URL, _run_admin
from tests.helpers import Api, field, make_type, records_path
from workspace import models as m
from workspace.clock import utcnow
from workspace.databases import copies as data_copy
from workspace.databases import verify as data_verify
from workspace.db import dispose, make_engine, transaction
from workspace.errors import Conflict
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.tables import RecordTypeDef

TARGET = f"ws_move_{os.getpid()}"
BATCH = 100
PEOPLE = 1200


@pytest.fixture
def target() -> Iterator[Engine]:
    _run_admin(f"DROP DATABASE IF EXISTS `{TARGET}`")
    _run_admin(f"CREATE DATABASE `{TARGET}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    engine = make_engine(make_url(MYSQL_URL).set(database=TARGET))
    yield engine
    dispose(engine)
    _run_admin(f"DROP DATABASE IF EXISTS `{TARGET}`")


@pytest.fixture(autouse=True)
def moves_end(runtime: Runtime, ws: int) -> Iterator[None]:
    """The moves recorded here are never run: end them, or the next server start in this
    test database would take them for moves a dead process left and resume them."""
    yield
    with transaction(runtime.control, write=True) as conn:
        done = m.data_moves.c.workspace_id == ws
        conn.execute(update(m.data_moves).where(done).values(state="cancelled"))


@pytest.fixture
def types(api: Api, ws: int, runtime: Runtime) -> list[RecordTypeDef]:
    """Companies, and people with every kind of value: money, dates, NULLs, non-ASCII text,
    multiple choice, relations, dedupe keys, and a few deleted records."""
    company, companies = make_type(
        api,
        ws,
        "Company",
        field("Name", "text"),
        rows=[{"name": f"Société {i} Müller & Söhne 🎉"} for i in range(150)],
    )
    person, _ = make_type(
        api,
        ws,
        "Person",
        field("Name", "text"),
        field("Email", "email"),
        field("Balance", "money"),
        field("Score", "number", decimals=2),
        field("Born", "date"),
        field("Seen", "datetime"),
        field("Active", "checkbox"),
        field("Tags", "multiple_choice", choices=["hot", "cold", "wärm"]),
        field("Employer", "relation", target=company["id"]),
    )
    api.post(
        f"/workspaces/{ws}/types/{person['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "block"},
        expect=201,
    )
    rows = [_person(i, companies) for i in range(PEOPLE)]
    made = []
    for start in range(0, PEOPLE, 600):
        result = api.post(
            f"{records_path(ws, person)}/bulk",
            {"items": [{"fields": r} for r in rows[start : start + 600]]},
            expect=200,
        )
        made += [item["record"] for item in result["results"]]
    for record in made[::250]:
        api.delete(f"{records_path(ws, person)}/{record['id']}", expect=204)
    with transaction(runtime.control) as conn:
        return [definitions.build_def(conn, t["id"], runtime) for t in (company, person)]


def _person(i: int, companies: list[dict[str, Any]]) -> dict[str, Any]:
    if i % 7 == 0:  # only a name: every other column NULL, no links
        return {"name": f"Ærøskøbing {i}"}
    return {
        "name": f"Zoë Ñúñez {i}" if i % 2 else f"Person {i}",
        "email": f"p{i}@example.org",
        "balance": {"amount": f"{i}.{i % 100:02d}", "currency": "EUR" if i % 3 else "USD"},
        "score": f"{i % 1000}.25",
        "born": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
        "seen": f"2026-07-01T08:{i % 60:02d}:00.250000Z",
        "active": i % 2 == 0,
        "tags": ["hot", "wärm"] if i % 3 else ["cold"],
        "employer": [
            companies[i % len(companies)]["id"],
            companies[(i + 1) % len(companies)]["id"],
        ],
    }


def _move(runtime: Runtime, ws: int, *, source_id: int | None = None, target_id: int | None = 1):
    # Ids stand for data_databases rows; this engine does not read them.
    with transaction(runtime.control, write=True) as conn:
        return data_copy.start(conn, ws, source_id=source_id, target_id=target_id)


def _copy(runtime: Runtime, move: int, ws: int, target: Engine, types: list[RecordTypeDef], **kw):
    data_copy.prepare_target(target, types)
    data_copy.copy_tables(
        runtime.control, move, runtime.data_engine(ws), target, types, batch_size=BATCH, **kw
    )


def _verify(runtime: Runtime, move: int, ws: int, target: Engine, types: list[RecordTypeDef]):
    return data_verify.verify(
        runtime.control, move, runtime.data_engine(ws), target, types, batch_size=BATCH
    )


def _progress(runtime: Runtime, move: int) -> dict[str, Any]:
    T = m.data_move_tables
    with transaction(runtime.control) as conn:
        rows = conn.execute(select(T).where(T.c.move_id == move)).all()
    return {row.table_name: row for row in rows}


def test_the_copy_has_every_table_row_and_index_and_verifies(runtime, ws, target, types):
    move = _move(runtime, ws)
    _copy(runtime, move, ws, target, types)
    assert _verify(runtime, move, ws, target, types) == []
    _company, person = types
    progress = _progress(runtime, move)
    names = [person.table.name, person.keys_table.name]
    names += [person.link_table(f).name for f in person.link_fields]
    for name in names:
        assert progress[name].state == "verified"
        assert progress[name].source_rows == progress[name].target_rows > 0
        assert len(progress[name].checksum) == 64
    assert progress[person.table.name].source_rows == PEOPLE
    with transaction(target) as conn:
        # Values read as the owner of the database would: plain SQL on the copy.
        name, seen, alive = conn.execute(
            text(
                f"SELECT {person.field_by_key('name').column}, "
                f"{person.field_by_key('seen').column}, alive "
                f"FROM {person.table.name} WHERE {person.field_by_key('name').column} "
                "= 'Zoë Ñúñez 1'"
            )
        ).one()
        deleted = conn.execute(
            text(f"SELECT count(*) FROM {person.table.name} WHERE deleted_at IS NOT NULL")
        ).scalar()
        indexes = {
            ix["name"]: ix["unique"] for ix in inspect(conn).get_indexes(person.keys_table.name)
        }
    assert (name, seen.isoformat(), alive) == ("Zoë Ñúñez 1", "2026-07-01T08:01:00.250000", 1)
    assert deleted == len(range(0, PEOPLE, 250))
    assert indexes[f"uq_{person.keys_table.name}"]


def test_a_copy_killed_half_way_resumes_and_ends_identical(runtime, ws, target, types):
    company, person = types
    move = _move(runtime, ws)
    told: list[tuple[str, int]] = []

    def crash_after_five(table: str, copied: int) -> None:
        told.append((table, copied))
        if len(told) == 3 + 5:  # company: 2 batches + its (empty) keys, then 5 of people
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        _copy(runtime, move, ws, target, types, progress=crash_after_five)
    progress = _progress(runtime, move)
    assert progress[company.table.name].state == "copied"
    assert progress[person.table.name].state == "copying"
    assert progress[person.table.name].copied_rows == 5 * BATCH
    with pytest.raises(Conflict, match="not finished"):
        _move(runtime, ws)
    # The process died after the target committed two more batches, before the control
    # database recorded them: the resumed copy writes those again.
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(m.data_move_tables)
            .where(m.data_move_tables.c.table_name == person.table.name)
            .values(
                last_key=[progress[person.table.name].last_key[0] - 2 * BATCH],
                copied_rows=3 * BATCH,
            )
        )
    told.clear()
    _copy(runtime, move, ws, target, types, progress=lambda t, n: told.append((t, n)))
    assert (company.table.name, 150) not in told  # finished tables are not copied again
    assert told[0] == (person.table.name, 4 * BATCH)
    assert _verify(runtime, move, ws, target, types) == []
    assert _progress(runtime, move)[person.table.name].target_rows == PEOPLE


def test_an_altered_row_on_the_target_is_named(runtime, ws, target, types):
    company, person = types
    move = _move(runtime, ws)
    _copy(runtime, move, ws, target, types)
    with transaction(runtime.data_engine(ws)) as conn:
        ids = [r.id for r in conn.execute(select(person.table.c.id).order_by("id"))]
    altered = ids[BATCH + 10]
    column = person.field_by_key("score").column
    with transaction(target, write=True) as conn:
        conn.execute(
            text(f"UPDATE {person.table.name} SET {column} = {column} + 0.01 WHERE id = {altered}")
        )
    bad = _verify(runtime, move, ws, target, types)
    assert [b.table for b in bad] == [person.table.name]
    low, high = ids[BATCH - 1], ids[2 * BATCH - 1]
    assert (
        bad[0].mismatch == f"{person.table.name}: rows after key ({low}) up to key ({high}) differ"
    )
    assert _progress(runtime, move)[person.table.name].state == "mismatch"
    assert _progress(runtime, move)[company.table.name].state == "verified"
    with transaction(runtime.control, write=True) as conn:
        assert data_copy.retry(conn, move) == [person.table.name]
    _copy(runtime, move, ws, target, types)
    assert _verify(runtime, move, ws, target, types) == []
    assert _progress(runtime, move)[person.table.name].state == "verified"


def test_missing_link_rows_are_named_with_their_key_range(runtime, ws, target, types):
    _company, person = types
    move = _move(runtime, ws)
    _copy(runtime, move, ws, target, types)
    employer = person.link_table(person.field_by_key("employer"))
    with transaction(target, write=True) as conn:
        last = conn.execute(text(f"SELECT max(record_id) FROM {employer.name}")).scalar()
        conn.execute(text(f"DELETE FROM {employer.name} WHERE record_id = {last}"))
    bad = _verify(runtime, move, ws, target, types)
    assert [b.table for b in bad] == [employer.name]
    assert bad[0].mismatch.endswith("to the end differ")
    assert bad[0].source_rows == bad[0].target_rows + 2


def test_a_different_table_already_on_the_target_is_refused(runtime, ws, target, types):
    company, _ = types
    with transaction(target, write=True) as conn:
        conn.execute(text(f"CREATE TABLE {company.table.name} (id BIGINT PRIMARY KEY, x TEXT)"))
    with pytest.raises(Conflict, match=f"add_column {company.table.name}.version; .* and 6 more"):
        data_copy.prepare_target(target, types)
    with transaction(target) as conn:
        assert [c["name"] for c in inspect(conn).get_columns(company.table.name)] == ["id", "x"]


def test_moving_back_to_sqlite_copies_and_verifies_too(runtime, ws, target, types, tmp_path):
    there = _move(runtime, ws)
    _copy(runtime, there, ws, target, types)
    assert _verify(runtime, there, ws, target, types) == []
    with transaction(runtime.control, write=True) as conn:  # the first one is done
        conn.execute(update(m.data_moves).where(m.data_moves.c.id == there).values(state="done"))
    back = _move(runtime, ws, source_id=1, target_id=None)
    managed = make_engine(f"sqlite:///{tmp_path / 'back.db'}")
    try:
        for _ in range(2):  # the second run finds the tables there and reuses them
            data_copy.prepare_target(managed, types)
        data_copy.copy_tables(runtime.control, back, target, managed, types, batch_size=BATCH)
        assert data_verify.verify(runtime.control, back, target, managed, types) == []
        assert (
            data_verify.verify(runtime.control, back, runtime.data_engine(ws), managed, types) == []
        )
    finally:
        dispose(managed)


def test_a_unique_value_moved_during_the_copy_is_made_equal_by_repair(runtime, ws, api, target):
    """An email moves from a record already copied to one not copied yet (unique field and
    a blocking dedupe rule): the late batch clears the stale holder, verification with
    repair copies its range again, and both sides verify equal."""
    rt, made = make_type(
        api,
        ws,
        "Contact",
        field("Email", "email", unique=True),
        rows=[{"email": f"c{i}@example.org"} for i in range(3 * BATCH)],
    )
    api.post(
        f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "block"},
        expect=201,
    )
    with transaction(runtime.control) as conn:
        types = [definitions.build_def(conn, rt["id"], runtime)]
    first, last = made[0], made[-1]
    moved: list[str] = []

    def move_email(table: str, copied: int) -> None:
        if not moved:  # after the first batch: the first record gives its email away
            moved.append(table)
            path = f"{records_path(ws, rt)}"
            api.patch(f"{path}/{first['id']}", {"fields": {"email": "gone@example.org"}})
            api.patch(f"{path}/{last['id']}", {"fields": {"email": first["fields"]["email"]}})

    move = _move(runtime, ws)
    _copy(runtime, move, ws, target, types, progress=move_email)
    assert moved
    source = runtime.data_engine(ws)
    repaired = data_verify.verify(
        runtime.control, move, source, target, types, batch_size=BATCH, repair=True
    )
    assert repaired == []
    assert _verify(runtime, move, ws, target, types) == []


def test_verify_with_repair_copies_a_differing_range_again_and_passes(runtime, ws, target, types):
    _company, person = types
    move = _move(runtime, ws)
    _copy(runtime, move, ws, target, types)
    with transaction(target, write=True) as conn:
        conn.execute(text(f"DELETE FROM {person.table.name} WHERE id % 97 = 3"))
    source = runtime.data_engine(ws)
    repaired = data_verify.verify(
        runtime.control, move, source, target, types, batch_size=BATCH, repair=True
    )
    assert repaired == []
    assert _verify(runtime, move, ws, target, types) == []


def _walk_and_settle(runtime: Runtime, move: int, ws: int, target: Engine, types, change):
    """The mover's last steps: walk while writes go on, ``change()``, then settle."""
    since = utcnow()
    source = runtime.data_engine(ws)
    walked = data_verify.walk(source, target, types, batch_size=BATCH)
    assert walked[0] == {}  # no range left different
    change()
    return data_verify.settle(runtime.control, move, source, target, types, since, walked)


def test_settle_copies_what_was_written_after_the_walk_and_the_copy_equals_the_source(
    runtime, ws, api, target, types
):
    """The frozen step reads only records written since the walk began: edits, new records,
    deletions and a merge (which points other records' links at the survivor) made after
    the walk all reach the copy."""
    company, person = types
    move = _move(runtime, ws)
    _copy(runtime, move, ws, target, types)
    people = records_path(ws, person.id)
    listed = api.get(f"{people}?limit=5", expect=200)["items"]
    edited, deleted = listed[1], listed[2]
    loser, survivor = edited["fields"]["employer"]
    added: dict[str, Any] = {}

    def change() -> None:
        api.patch(f"{people}/{edited['id']}", {"fields": {"tags": ["cold"], "name": "Edited"}})
        api.delete(f"{people}/{deleted['id']}", expect=204)
        new = {"fields": {"name": "New", "employer": [loser]}}
        added.update(api.post(people, new, expect=201))
        merge = {"survivor": survivor, "loser": loser}
        api.post(f"/workspaces/{ws}/types/{company.id}/merges", merge, expect=201)

    assert _walk_and_settle(runtime, move, ws, target, types, change) == []
    assert _verify(runtime, move, ws, target, types) == []  # the whole copy equals the source
    link = person.link_table(person.field_by_key("employer"))
    name = person.table.c[person.field_by_key("name").column]
    with transaction(target) as conn:
        pointing = conn.execute(select(link.c.record_id).where(link.c.value == loser)).all()
        new_name = conn.execute(select(name).where(person.table.c.id == added["id"])).scalar()
    assert pointing == [] and new_name == "New"


def test_settle_fails_on_a_row_missing_from_the_copy_by_the_row_counts(runtime, ws, target, types):
    """A row lost from the copy after the walk, of a record nobody wrote since, still fails
    the frozen step: every table's row count is compared on both sides."""
    _company, person = types
    move = _move(runtime, ws)
    _copy(runtime, move, ws, target, types)

    def lose_a_row() -> None:
        with transaction(target, write=True) as conn:
            conn.execute(text(f"DELETE FROM {person.table.name} WHERE id = 7"))

    (bad,) = _walk_and_settle(runtime, move, ws, target, types, lose_a_row)
    assert bad.table == person.table.name
    assert bad.mismatch == (
        f"{person.table.name}: {bad.source_rows} rows in the source, "
        f"{bad.source_rows - 1} in the copy"
    )
