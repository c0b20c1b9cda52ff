"""One page of remote rows into records, in one transaction with everything it decides.

Each row is matched first by its external id, then through the record type's exact dedupe
rules (a remote contact already on file as a customer is linked to that record, not
created again), and written through the records service as the connection (activity source
"connector"). What the pull writes depends on each field's owner and the mapping's
direction (:mod:`mappings`): its own fields always, the workspace's fields only while empty,
and a workspace field mapped both ways that the tool changed since the last sync is a
conflict, written nowhere. A row the tool deleted marks its link "deleted in <tool>"; the
record and its context stay.

The payloads with their outcomes, the new and refreshed links, the conflicts and the
mapping's cursor are written by the records service's ``after`` hook, inside the write
transaction: a page commits whole or not at all, and a sync killed in the middle starts
again after the last page that committed, never taking a row twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update

from workspace import activity
from workspace import models as m
from workspace.clock import utcnow
from workspace.connectors import conflicts, links, matching, runs, values
from workspace.connectors.links import Link
from workspace.connectors.mappings import MappingDef
from workspace.db import Tx, transaction
from workspace.matching import RuleContext
from workspace.principal import Access, Principal
from workspace.records import records
from workspace.records.match_keys import Override
from workspace.records.write_items import Item, Outcome
from workspace.remote import RemoteRow
from workspace.runtime import Runtime
from workspace.schema.fields import ValueContext
from workspace.schema.record_values import Parsed
from workspace.schema.tables import RecordTypeDef


@dataclass
class Pulled:
    """A remote row on its way in; ``kept`` is its pending payload row (a webhook's)."""

    row: RemoteRow
    kept: int | None = None


@dataclass
class Sync:
    """What every page of one sync shares. ``check`` runs in each page's transaction before
    it commits (the lease: a sync that lost it must not commit)."""

    runtime: Runtime
    acc: Access
    connection_id: int
    label: str
    run_id: int
    check: Callable[[Tx], None]


@dataclass
class _Fate:
    """What becomes of one pulled row."""

    outcome: str = "rejected"
    record_id: int | None = None
    detail: Any = None
    item: int | None = None
    link: Link | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    gone: bool = False
    #: The record's values once written (what the workspace holds at this sync).
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Plan:
    fates: list[_Fate]
    items: list[Item] = field(default_factory=list)


def connector_access(runtime: Runtime, row: Any) -> Access:
    """Who a connection writes as: the member who connected it, through the connector
    (activity source "connector", ref "connection:<id>"), so ownership lets it write the
    fields it owns and nothing else it must not."""
    with transaction(runtime.control) as conn:
        W = m.workspaces
        region = conn.execute(select(W.c.phone_region).where(W.c.id == row.workspace_id)).scalar()
    principal = Principal(
        user_id=row.created_by or 0,
        email="",
        source="connector",
        source_ref=f"connection:{row.id}",
    )
    region = region or runtime.settings.default_phone_region
    return Access(principal, row.workspace_id, "member", region)


def write_page(
    sync: Sync,
    mapping: MappingDef,
    rt: RecordTypeDef,
    pulled: list[Pulled],
    cursor: Any,
    progress: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Write one page; ``cursor`` (None: leave it) and the run's ``progress`` are written in
    the same transaction. Returns the rows counted by outcome."""
    plan = _Plan([])
    used = rt

    def build(rt: RecordTypeDef, tx: Tx) -> list[Item]:
        nonlocal plan, used
        plan, used = _plan(sync, mapping, rt, pulled, tx), rt
        return plan.items

    def after(tx: Tx, outcomes: list[Outcome]) -> None:
        _settle(plan, outcomes)
        _record(sync, mapping, used, pulled, plan, tx, cursor)
        if progress is not None:
            runs.progress(tx.control, sync.run_id, progress)

    owned = frozenset(
        f.key
        for f in rt.fields
        if (o := rt.owner_of(f.id)) and o.connection_id == sync.connection_id
    )
    override = Override("update", policy="fill_empty", overwrite=owned, keep_off=True)
    records.write_built(sync.runtime, sync.acc, rt, build, override=override, after=after)
    counted: dict[str, int] = {}
    for fate in plan.fates:
        counted[fate.outcome] = counted.get(fate.outcome, 0) + 1
    return counted


def _plan(
    sync: Sync, mapping: MappingDef, rt: RecordTypeDef, pulled: list[Pulled], tx: Tx
) -> _Plan:
    plan = _Plan([_Fate() for _ in pulled])
    ctx = ValueContext(sync.acc.phone_region)
    last: dict[str, int] = {}
    for index, p in enumerate(pulled):
        fate = plan.fates[index]
        if p.row.problem or p.row.remote_id is None:
            fate.detail = {"message": p.row.problem or "the row has no id"}
        elif p.row.remote_id in last:  # the same row twice in a page: the later one counts
            earlier = plan.fates[last[p.row.remote_id]]
            earlier.outcome, earlier.detail = "unchanged", {"message": "a later copy was taken"}
            last[p.row.remote_id] = index
        else:
            last[p.row.remote_id] = index
    ids = {str(pulled[i].row.remote_id): i for i in last.values()}
    found = links.find(tx.control, sync.connection_id, mapping.remote_object, ids)
    incoming: dict[int, values.Incoming] = {}
    for remote_id, index in ids.items():
        fate, row = plan.fates[index], pulled[index].row
        fate.link = found.get(str(remote_id))
        if row.deleted:
            _gone(fate)
            continue
        got = values.incoming(rt, mapping, row.values, ctx)
        fate.raw = got.raw
        if got.problem:
            fate.detail = {"message": got.problem, "fields": got.fields}
            continue
        incoming[index] = got
    matched = matching.on_file(
        tx.data,
        rt,
        {i: g.values for i, g in incoming.items() if plan.fates[i].link is None},
        RuleContext(sync.acc.phone_region),
    )
    targets: dict[int, list[int]] = {}
    for index in incoming:
        link = plan.fates[index].link
        target = link.record_id if link is not None else matched.get(index)
        if target is not None:
            targets.setdefault(target, []).append(index)
    current = matching.current(tx.data, rt, targets)
    for record_id, indexes in targets.items():
        _update_item(sync, mapping, rt, plan, record_id, indexes, incoming, current, ctx)
    for index, got in incoming.items():
        if plan.fates[index].item is None and plan.fates[index].detail is None:
            _create_item(rt, plan, index, got)
    return plan


def _gone(fate: _Fate) -> None:
    fate.outcome = "deleted"
    if fate.link is None:
        fate.detail = {"message": "deleted in the tool; it was never on file here"}
    else:
        fate.record_id, fate.gone = fate.link.record_id, not fate.link.deleted


def _update_item(
    sync: Sync,
    mapping: MappingDef,
    rt: RecordTypeDef,
    plan: _Plan,
    record_id: int,
    indexes: list[int],
    incoming: dict[int, values.Incoming],
    current: dict[int, Any],
    ctx: ValueContext,
) -> None:
    """One update of a record for every row that is it (later rows win)."""
    record = current.get(record_id)
    if record is None:
        for index in indexes:
            plan.fates[index].detail = {
                "message": f"the record it is linked to ({record_id}) is deleted in the workspace"
            }
        return
    written: dict[str, Any] = {}
    for index in indexes:
        fate = plan.fates[index]
        fate.record_id, fate.item = record_id, len(plan.items)
        base = fate.link.remote_values if fate.link is not None else None
        for p in mapping.properties:
            f = rt.field_by_id(p.field_id)
            if f is None or not p.pulls or f.key not in incoming[index].values:
                continue
            new, ours = incoming[index].values[f.key], record["fields"].get(f.key)
            owner = rt.owner_of(f.id)
            mine = owner is not None and owner.connection_id == sync.connection_id
            if mine or f.type.is_empty(ours):  # the tool's own field, or one to fill
                written[f.key] = new
            elif p.direction == "both" and not values.same(f, ours, fate.raw.get(p.property), ctx):
                moved = base is None or base.get(p.property) != fate.raw.get(p.property)
                if moved:
                    fate.conflicts.append(
                        conflicts.found(f, p.property, ours, fate.raw.get(p.property), base)
                    )
    plan.items.append(Item(len(plan.items), Parsed(values=written), record_id=record_id))


def _create_item(rt: RecordTypeDef, plan: _Plan, index: int, got: values.Incoming) -> None:
    fate = plan.fates[index]
    missing = [f.key for f in rt.fields if f.required and f.type.is_empty(got.values.get(f.key))]
    if missing:
        fate.detail = {
            "message": f"{', '.join(missing)}: required, and the tool sent no value",
            "fields": {k: "is required, and the tool sent no value" for k in missing},
        }
        return
    fate.item = len(plan.items)
    plan.items.append(Item(len(plan.items), Parsed(values=dict(got.values))))


def _settle(plan: _Plan, outcomes: list[Outcome]) -> None:
    by_item = {o.index: o for o in outcomes}
    for fate in plan.fates:
        if fate.item is None:
            continue
        o = by_item[fate.item]
        fate.fields = dict(o.record["fields"]) if o.record is not None else {}
        if o.error is not None:
            fate.outcome, fate.record_id = "rejected", None
            fate.detail = {"message": o.error.message, "fields": o.error.fields}
        elif fate.link is None or fate.link.deleted:
            into = o.merged_into or (o.record["id"] if o.record else None)
            fate.record_id = into
            fate.outcome = "created" if o.status == "created" and fate.link is None else "linked"
        else:
            fate.outcome = "updated" if o.status in {"updated", "merged"} else "unchanged"
        if fate.conflicts and fate.outcome != "rejected":
            fate.outcome = "conflict"


def _record(
    sync: Sync,
    mapping: MappingDef,
    rt: RecordTypeDef,
    pulled: list[Pulled],
    plan: _Plan,
    tx: Tx,
    cursor: Any,
) -> None:
    conn = tx.control
    new: dict[str, tuple[int, dict[str, Any], dict[str, Any]]] = {}
    refreshed: list[dict[str, Any]] = []
    gone: list[activity.Entry] = []
    for p, fate in zip(pulled, plan.fates, strict=True):
        remote_id = p.row.remote_id
        if fate.outcome == "rejected" or remote_id is None or fate.record_id is None:
            continue
        if fate.gone and fate.link is not None:
            links.deleted(conn, fate.link.id)
            copy = f"{sync.label} {mapping.remote_object} {remote_id}"
            change = activity.change(copy, "linked", f"deleted in {sync.label}")
            gone.append(activity.Entry(fate.record_id, "remote_deleted", [change]))
        elif fate.outcome != "deleted" and fate.link is None:
            new[remote_id] = (fate.record_id, fate.raw, _ours(mapping, rt, fate))
        elif fate.outcome != "deleted" and fate.link is not None:
            mine = {**fate.link.workspace_values, **_ours(mapping, rt, fate)}
            refreshed.append(
                {
                    "link_id": fate.link.id,
                    "values": fate.raw,
                    "mine": mine,
                    "record": fate.record_id,
                }
            )
        where = conflicts.Where(
            sync.acc.workspace_id,
            sync.connection_id,
            mapping.remote_object,
            remote_id,
            rt.id,
            fate.record_id,
        )
        for c in fate.conflicts:
            conflicts.keep(conn, where, c)
    links.add(conn, sync.connection_id, mapping.remote_object, rt.id, new)
    if refreshed:
        X = m.external_ids
        conn.execute(
            update(X)
            .where(X.c.id == bindparam("link_id"))
            .values(
                remote_values=bindparam("values"),
                workspace_values=bindparam("mine"),
                record_id=bindparam("record"),
                synced_at=utcnow(),
                deleted_at=None,
            ),
            refreshed,
        )
    activity.write(conn, sync.acc.principal, sync.acc.workspace_id, rt.id, gone)
    _keep(sync, mapping, pulled, plan, tx)
    sync.check(tx)
    if cursor is not None:
        MP = m.connection_mappings
        conn.execute(
            update(MP).where(MP.c.id == mapping.id).values(cursor=cursor, last_pull_at=utcnow())
        )


def _ours(mapping: MappingDef, rt: RecordTypeDef, fate: _Fate) -> dict[str, Any]:
    """The workspace's values of the pushed properties as this sync leaves them."""
    found = {}
    for p in mapping.properties:
        f = rt.field_by_id(p.field_id)
        if p.pushes and f is not None and f.key in fate.fields:
            found[p.property] = values.to_remote(fate.fields[f.key])
    return found


def _keep(sync: Sync, mapping: MappingDef, pulled: list[Pulled], plan: _Plan, tx: Tx) -> None:
    """The payloads with their outcomes: new rows, or the decision of pending ones."""
    fresh = []
    for p, fate in zip(pulled, plan.fates, strict=True):
        if p.kept is not None:  # a webhook's row: what the tool said when read back
            detail = {**(fate.detail or _conflict_note(fate) or {})}
            detail["read_back"] = runs.capped(p.row.payload)
            if not runs.decide(tx.control, p.kept, fate.outcome, fate.record_id, detail):
                raise AlreadyDecided
            continue
        fresh.append(
            {
                "remote_object": mapping.remote_object,
                "remote_id": p.row.remote_id,
                "payload": p.row.payload,
                "outcome": fate.outcome,
                "record_id": fate.record_id,
                "detail": fate.detail if fate.detail is not None else _conflict_note(fate),
            }
        )
    runs.keep(tx.control, sync.run_id, sync.connection_id, fresh)


def _conflict_note(fate: _Fate) -> Any:
    if not fate.conflicts:
        return None
    return {"conflicts": [c["property"] for c in fate.conflicts]}


class AlreadyDecided(Exception):
    """Another process took these pending rows first: this copy of the page rolls back."""
