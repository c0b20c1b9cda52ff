"""Field ownership and retired types on the write path: who may change what.

Each field has one owner: the workspace (every field without a row in ``field_owners``) or one
connection to a SaaS tool, which is then the only writer of that field ("Marketing consent is
owned by Mailchimp: change it there"). The owners come with the record type's definition, so
this check costs nothing per write and holds for every entry path that writes through
``writes.write_batch``: the UI, the API (single, bulk, upsert), forms, imports, automations
and connectors. A retired record type (an old copy kept for reference) takes no write at all.
"""

from __future__ import annotations

from collections.abc import Mapping

from workspace.errors import Conflict
from workspace.principal import Principal
from workspace.records.write_items import Item, sent_values
from workspace.schema.tables import FieldOwner, RecordTypeDef


class FieldOwned(Conflict):
    """A write to a field that a connection owns, from anyone but that connection."""

    code = "field_owned"


class TypeRetired(Conflict):
    """A write to a retired record type."""

    code = "type_retired"


def connection_of(principal: Principal) -> int | None:
    """The connection a principal writes for (source "connector", ref "connection:<id>")."""
    ref = principal.source_ref or ""
    if principal.source != "connector" or not ref.startswith("connection:"):
        return None
    tail = ref.removeprefix("connection:")
    return int(tail) if tail.isdigit() else None


def foreign_owners(rt: RecordTypeDef, principal: Principal) -> dict[str, FieldOwner]:
    """The fields, by key, that ``principal`` may not change: those owned by a connection it
    does not write for."""
    mine = connection_of(principal)
    found = {}
    for owner in rt.owners:
        f = rt.field_by_id(owner.field_id)
        if f is not None and owner.connection_id != mine:
            found[f.key] = owner
    return found


def refuse_owned(rt: RecordTypeDef, principal: Principal, items: list[Item]) -> None:
    """Refuse, whole, each item that would change a field owned by another connection: a
    create setting it to anything, an update (or a create merged into a record on file)
    setting it to another value than it holds. Sending the value on file is no change."""
    foreign = foreign_owners(rt, principal)
    if not foreign:
        return
    fields = {f.key: f for f in rt.fields if f.key in foreign}
    for item in items:
        if item.error is not None:
            continue
        sent = sent_values(rt, item)
        touched = [k for k in foreign if k in sent]
        current = item.current
        if current is None:
            changed = [k for k in touched if not fields[k].type.is_empty(sent[k])]
        else:
            changed = [k for k in touched if sent[k] != fields[k].type.from_row(fields[k], current)]
        if changed:
            item.error = refusal(rt, {k: foreign[k] for k in changed})


def refusal(rt: RecordTypeDef, owned: Mapping[str, FieldOwner]) -> FieldOwned:
    """The error for a write that would change the fields ``owned`` (key -> owner)."""
    names = {f.key: f.name for f in rt.fields}
    sentences = [f"{names[k]} is owned by {o.name}: change it there" for k, o in owned.items()]
    return FieldOwned(
        "; ".join(sentences),
        fields={k: f"is owned by {o.name}: change it there" for k, o in owned.items()},
        details={
            "owners": {k: {"connection": o.connection_id, "name": o.name} for k, o in owned.items()}
        },
    )


def retired_error(rt: RecordTypeDef) -> TypeRetired | None:
    """Why nothing may be written to ``rt``, or None while it is live."""
    if rt.retired is None:
        return None
    note = f" {rt.retired.note}" if rt.retired.note else ""
    return TypeRetired(
        f"{rt.name} is retired and read-only.{note}",
        details={"retired": True, "successor": rt.retired.successor},
    )
