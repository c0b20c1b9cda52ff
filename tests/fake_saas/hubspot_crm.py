"""HubSpot CRM records in memory: object schemas, one store per object type, and the writes.

Documented behaviour (developers.hubspot.com "CRM API | Objects", "Contacts", "Companies";
the crm/objects models of github.com/HubSpot/hubspot-api-python):

* Every property value is a string; ``""`` clears a property. Records carry ``createdate``,
  ``hs_object_id`` and a last-modified property, which is ``lastmodifieddate`` on contacts but
  ``hs_lastmodifieddate`` on companies (a real trap for a generic connector). These three are
  read-only.
* Without ``properties`` a read returns the object's default properties (contacts: createdate,
  email, firstname, hs_object_id, lastmodifieddate, lastname; companies: createdate, domain,
  hs_lastmodifieddate, hs_object_id, name), and always the three above. Asked-for properties the
  record has no value for come back as ``null``; names that are not properties are left out.
* A write naming a property that does not exist is refused (``PROPERTY_DOESNT_EXIST``), and so
  is an e-mail address another contact has (409 "Contact already exists. Existing ID: n").
* Archiving (DELETE) keeps the record, ``archived: true`` with ``archivedAt``, out of normal
  reads and searches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fake_saas.clock import Clock, iso_millis
from tests.fake_saas.index import SortedIndex
from tests.fake_saas.server import Write

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: Told of every change: (object schema, "creation" | "propertyChange" | "deletion", record,
#: change source, property name, new value).
Listener = Callable[["ObjectSchema", str, "Record", str, str | None, str | None], None]


@dataclass(frozen=True)
class ObjectSchema:
    name: str  # path segment: "contacts"
    singular: str  # webhook subscription prefix: "contact"
    modified: str  # the last-modified property
    defaults: tuple[str, ...]
    writable: frozenset[str]
    unique: frozenset[str]  # properties usable as idProperty besides hs_object_id

    @property
    def read_only(self) -> frozenset[str]:
        return frozenset({"createdate", self.modified, "hs_object_id"})

    @property
    def known(self) -> frozenset[str]:
        return self.writable | self.read_only

    def with_properties(self, extra: set[str], unique: set[str]) -> ObjectSchema:
        return ObjectSchema(
            self.name,
            self.singular,
            self.modified,
            self.defaults,
            self.writable | extra | unique,
            self.unique | unique,
        )


_CONTACT_PROPS = (
    "email firstname lastname phone mobilephone company jobtitle website address city state "
    "zip country lifecyclestage hs_lead_status"
)
_COMPANY_PROPS = (
    "name domain phone address city state zip country industry website numberofemployees "
    "description lifecyclestage"
)
CONTACTS = ObjectSchema(
    "contacts",
    "contact",
    "lastmodifieddate",
    ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    frozenset(_CONTACT_PROPS.split()),
    frozenset({"email"}),
)
COMPANIES = ObjectSchema(
    "companies",
    "company",
    "hs_lastmodifieddate",
    ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    frozenset(_COMPANY_PROPS.split()),
    frozenset(),
)


@dataclass
class Record:
    id: int
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None


class CrmError(ValueError):
    """A request HubSpot answers with 400; ``errors`` become the body's ``errors`` list."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class Objects:
    """One object type: records by id, plus the orders HubSpot serves them in."""

    def __init__(self, schema: ObjectSchema) -> None:
        self.schema = schema
        self.records: dict[int, Record] = {}
        self.live = SortedIndex()  # ids of records that are not archived
        self.archived = SortedIndex()
        self.by_modified = SortedIndex()  # (updated_ms, id) of live records
        self.unique: dict[str, dict[str, int]] = {name: {} for name in schema.unique}

    # -- reading -------------------------------------------------------------------------------

    def find(self, value: str, id_property: str | None = None) -> Record | None:
        """A live record by id, or by a unique property (compared case-insensitively)."""
        if id_property in (None, "hs_object_id"):
            record = self.records.get(int(value)) if value.isdigit() else None
        else:
            found = self.unique.get(id_property, {}).get(value.strip().lower())
            record = self.records.get(found) if found is not None else None
        return record if record is not None and record.archived_ms is None else None

    def render(self, record: Record, properties: list[str] | None = None) -> dict[str, Any]:
        names = set(properties or self.schema.defaults) | self.schema.read_only
        values = {
            name: record.properties.get(name)
            for name in sorted(names)
            if name in record.properties or name in self.schema.known
        }
        body: dict[str, Any] = {
            "id": str(record.id),
            "properties": values,
            "createdAt": iso_millis(record.created_ms),
            "updatedAt": iso_millis(record.updated_ms),
            "archived": record.archived_ms is not None,
        }
        if record.archived_ms is not None:
            body["archivedAt"] = iso_millis(record.archived_ms)
        return body

    # -- writing -------------------------------------------------------------------------------

    def check(self, properties: Any, record: Record | None = None) -> dict[str, str]:
        """The properties as HubSpot stores them (strings), or :class:`CrmError`."""
        if not isinstance(properties, dict):
            raise CrmError("Invalid input JSON: properties must be an object")
        problems = []
        clean: dict[str, str] = {}
        for name, value in properties.items():
            if name not in self.schema.known:
                message = f'Property "{name}" does not exist'
                problems.append(_invalid(name, "PROPERTY_DOESNT_EXIST", message))
            elif name in self.schema.read_only:
                message = f'"{name}" is a read only property; its value cannot be set.'
                problems.append(_invalid(name, "READ_ONLY_VALUE", message))
            elif isinstance(value, bool):
                clean[name] = str(value).lower()
            else:
                clean[name] = "" if value is None else str(value)
        email = clean.get("email", "")
        if email and not _EMAIL.fullmatch(email):
            message = f"Email address {email} is invalid"
            problems.append(_invalid("email", "INVALID_EMAIL", message))
        if problems:
            raise CrmError(f"Property values were not valid: {problems}", problems)
        for name in self.schema.unique:
            value = clean.get(name, "").strip().lower()
            owner = self.unique[name].get(value) if value else None
            if owner is not None and (record is None or owner != record.id):
                raise Conflict(owner, name)
        return clean

    def insert(self, record_id: int, properties: dict[str, str], at_ms: int) -> Record:
        record = Record(record_id, {}, at_ms, at_ms)
        record.properties.update({"createdate": iso_millis(at_ms), "hs_object_id": str(record_id)})
        self.records[record_id] = record
        self.live.add(record_id)
        self.by_modified.add((at_ms, record_id))
        self.change(record, properties, at_ms)
        return record

    def change(self, record: Record, properties: dict[str, str], at_ms: int) -> dict[str, str]:
        """Apply ``properties``; returns those whose value changed (and bumps modified then)."""
        changed = {k: v for k, v in properties.items() if record.properties.get(k, "") != v}
        for name, value in changed.items():
            if name in self.unique:
                self.unique[name].pop(record.properties.get(name, "").strip().lower(), None)
                if value:
                    self.unique[name][value.strip().lower()] = record.id
            if value:
                record.properties[name] = value
            else:
                record.properties.pop(name, None)
        if changed or self.schema.modified not in record.properties:
            self.by_modified.remove((record.updated_ms, record.id))
            record.updated_ms = at_ms
            record.properties[self.schema.modified] = iso_millis(at_ms)
            self.by_modified.add((at_ms, record.id))
        return changed

    def archive(self, record: Record, at_ms: int) -> None:
        self.live.remove(record.id)
        self.by_modified.remove((record.updated_ms, record.id))
        self.archived.add(record.id)
        for name, owners in self.unique.items():
            owners.pop(record.properties.get(name, "").strip().lower(), None)
        record.archived_ms = at_ms


class Conflict(ValueError):
    """A unique property (e-mail) already belongs to another record: HubSpot's 409."""

    def __init__(self, existing_id: int, name: str) -> None:
        super().__init__(f"{name} already used by {existing_id}")
        self.existing_id = existing_id


def _invalid(name: str, error: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": error, "name": name}


class Crm:
    """The portal's object types and every write to them: stamps times from the clock, hands
    out ids, tells ``listener`` (the webhook queue) about changes, and logs API writes."""

    def __init__(
        self, clock: Clock, schemas: list[ObjectSchema], listener: Listener, writes: list[Write]
    ) -> None:
        self.clock = clock
        self.objects = {schema.name: Objects(schema) for schema in schemas}
        self._listener = listener
        self._writes = writes
        self._next_id = 1

    def insert(
        self,
        objects: Objects,
        properties: dict[str, str],
        source: str | None,
        operation: str | None = None,
    ) -> Record:
        """Create a record; ``source`` None (seeding) tells nobody, ``operation`` logs a write."""
        record_id, self._next_id = self._next_id, self._next_id + 1
        record = objects.insert(record_id, properties, self.clock.stamp())
        if source is not None:
            self._listener(objects.schema, "creation", record, source, None, None)
        self._log(operation, record, properties)
        return record

    def change(
        self,
        objects: Objects,
        record: Record,
        properties: dict[str, str],
        source: str,
        operation: str | None = None,
    ) -> None:
        changed = objects.change(record, properties, self.clock.stamp())
        for name, value in changed.items():
            self._listener(objects.schema, "propertyChange", record, source, name, value)
        self._log(operation, record, properties)

    def archive(
        self, objects: Objects, record: Record, source: str, operation: str | None = None
    ) -> None:
        objects.archive(record, self.clock.stamp())
        self._listener(objects.schema, "deletion", record, source, None, None)
        self._log(operation, record, None)

    def _log(self, operation: str | None, record: Record, values: Any) -> None:
        if operation is not None:
            self._writes.append(Write(operation, str(record.id), values, at_ms=record.updated_ms))
