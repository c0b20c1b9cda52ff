"""Links the other way round: which records point at a record through relation fields, and
reading a deleted record for its page."""

from __future__ import annotations

from typing import Any

import pytest

from workspace.errors import NotFound
from workspace.principal import Access
from workspace.records import backlinks, records
from workspace.records import deleted as deleted_records
from workspace.schema.definitions import open_type
from workspace.types import record_types


class Types:
    def __init__(self, runtime: Any, acc: Access) -> None:
        self.runtime, self.acc = runtime, acc

    def make(self, name: str, *fields: dict[str, Any]) -> int:
        spec = {"name": name, "fields": [{"name": "Name", "type": "text"}, *fields]}
        return int(record_types.create_type(self.runtime, self.acc, spec)["id"])

    def rt(self, type_id: int) -> Any:
        return open_type(self.runtime, self.acc.principal, self.acc.workspace_id, type_id)[1]

    def add(self, type_id: int, **fields: Any) -> int:
        return int(records.create(self.runtime, self.acc, self.rt(type_id), fields)["id"])

    def linked_from(self, type_id: int, record_id: int, **kw: Any) -> list[Any]:
        return backlinks.linked_from(self.runtime, self.acc, self.rt(type_id), record_id, **kw)


@pytest.fixture
def types(runtime: Any, access: Access) -> Types:
    return Types(runtime, access)


def relation(name: str, target: int) -> dict[str, Any]:
    return {"name": name, "type": "relation", "config": {"target": target}}


def test_records_of_other_types_linking_here_with_their_titles(types):
    company = types.make("Company")
    person = types.make("Person", relation("Employer", company), relation("Former", company))
    deal = types.make("Deal", relation("Buyer", company))
    acme = types.add(company, name="Acme")
    globex = types.add(company, name="Globex")
    ada = types.add(person, name="Ada", employer=[acme])
    bob = types.add(person, name="Bob", employer=[acme, globex], former=[acme])
    big = types.add(deal, name="Big deal", buyer=[acme])

    found = types.linked_from(company, acme)
    summary = [
        (b.source.name, b.field.name, [(r.id, r.label) for r in b.records], b.total) for b in found
    ]
    assert summary == [
        ("Person", "Employer", [(bob, "Bob"), (ada, "Ada")], 2),
        ("Person", "Former", [(bob, "Bob")], 1),
        ("Deal", "Buyer", [(big, "Big deal")], 1),
    ]
    assert [(b.field.name, b.total) for b in types.linked_from(company, globex)] == [
        ("Employer", 1)
    ]


def test_nothing_links_here(types):
    company = types.make("Company")
    types.make("Person", relation("Employer", company))
    lonely = types.add(company, name="Lonely")
    assert types.linked_from(company, lonely) == []
    other = types.make("Other")
    assert types.linked_from(other, types.add(other, name="x")) == []


def test_deleted_linking_records_do_not_count(types, runtime, access):
    company = types.make("Company")
    person = types.make("Person", relation("Employer", company))
    acme = types.add(company, name="Acme")
    ada = types.add(person, name="Ada", employer=[acme])
    gone = types.add(person, name="Gone", employer=[acme])
    records.delete(runtime, access, types.rt(person), gone)
    [group] = types.linked_from(company, acme)
    assert [r.id for r in group.records] == [ada]
    assert group.total == 1


def test_a_limited_list_still_counts_them_all(types):
    company = types.make("Company")
    person = types.make("Person", relation("Employer", company))
    acme = types.add(company, name="Acme")
    ids = [types.add(person, name=f"P{i}", employer=[acme]) for i in range(5)]
    [group] = types.linked_from(company, acme, limit=3)
    assert [r.id for r in group.records] == ids[::-1][:3]
    assert group.total == 5
    [exact] = types.linked_from(company, acme, limit=5)
    assert exact.total == 5 and len(exact.records) == 5


def test_a_type_linking_to_itself(types, runtime, access):
    person = types.make("Person")
    record_types.add_field(runtime, access, person, relation("Manager", person))
    boss = types.add(person, name="Boss")
    worker = types.add(person, name="Worker", manager=[boss])
    [group] = types.linked_from(person, boss)
    assert (group.source.id, group.field.key, [r.label for r in group.records]) == (
        person,
        "manager",
        ["Worker"],
    )
    assert types.linked_from(person, worker) == []


def test_untitled_linking_records_show_their_number(types):
    company = types.make("Company")
    person = types.make("Person", relation("Employer", company))
    acme = types.add(company, name="Acme")
    nameless = types.add(person, employer=[acme])
    [group] = types.linked_from(company, acme)
    assert [(r.id, r.label) for r in group.records] == [(nameless, f"#{nameless}")]


def test_a_deleted_record_can_be_read_for_its_page(types, runtime, access):
    company = types.make("Company")
    acme = types.add(company, name="Acme")
    rt = types.rt(company)
    with pytest.raises(NotFound):
        deleted_records.get_deleted(runtime, access, rt, acme)  # not deleted
    records.delete(runtime, access, rt, acme)
    record = deleted_records.get_deleted(runtime, access, rt, acme)
    assert record["fields"]["name"] == "Acme"
    assert record["deleted_at"] is not None
    assert record["deleted_by"] == access.user_id
    with pytest.raises(NotFound):
        deleted_records.get_deleted(runtime, access, rt, acme + 1000)
