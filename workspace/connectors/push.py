"""Push: the workspace's changes of the fields a tool keeps a copy of, sent to that tool.

A property is pushed when the record's value differs from the tool's value as last synced
(the link's baseline), so a change is sent once: after it went through, the baseline is the
value sent and the next push finds nothing to do. Before sending, the tool's current value
is read back: if the tool changed it since the last sync, that is a **conflict**, listed for
an admin and not overwritten. Each change carries an idempotency key made of what it sets
and what it replaces, the same on every retry (Stripe replays a retried request; HubSpot's
and Mailchimp's updates set the same values twice).

``push_records`` is what runs when records change: it is a plain function now, and the
function a background job will call once the job queue exists (fed by the event outbox).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from workspace import models as m
from workspace.connectors import (
    conflicts,
    connections,
    lease,
    links,
    mappings,
    matching,
    runs,
    values,
)
from workspace.connectors.batches import connector_access
from workspace.connectors.links import Link
from workspace.db import transaction
from workspace.errors import WorkspaceError
from workspace.principal import Access
from workspace.remote import Change, Connector, CredentialsRejected, RemoteError, RemoteRow
from workspace.remote_http import Api
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.fields import ValueContext
from workspace.schema.tables import RecordTypeDef

X, CN = m.external_ids, m.connections
BATCH = 100


def push_records(
    runtime: Runtime,
    connection_id: int,
    record_type_id: int,
    record_ids: Sequence[int] | None,
    *,
    trigger: str = "change",
    by: int | None = None,
) -> dict[str, Any]:
    """Push the changes of some records (``None``: every linked record) of a type to the
    tool, through every active mapping of the type that pushes. Holds the connection's lease
    (a pull and a push must not interleave); SyncBusy when it is taken."""
    token = uuid.uuid4().hex
    row = lease.claim(runtime, connection_id, token)
    acc = connector_access(runtime, row)
    with transaction(runtime.control, write=True) as conn:
        run_id = runs.start(conn, row.workspace_id, row.id, kind="push", trigger=trigger, by=by)
        todo = [
            mp
            for mp in mappings.active(conn, connection_id)
            if mp.record_type_id == record_type_id and any(p.pushes for p in mp.properties)
        ]
    state, error = "done", None
    try:
        with lease.heartbeat(runtime, connection_id, token):
            connector, api = connections.open_api(runtime, row)
            try:
                for mapping in todo:
                    _push_mapping(runtime, acc, connector, api, mapping, record_ids, run_id)
            finally:
                api.client.close()
    except CredentialsRejected as exc:
        state, error = "stopped", str(exc)
        with transaction(runtime.control, write=True) as conn:
            conn.execute(
                update(CN).where(CN.c.id == connection_id).values(state="stopped", problem=error)
            )
    except RemoteError as exc:
        state, error = "failed", str(exc)
    except WorkspaceError as exc:
        state, error = "failed", exc.message
    finally:
        runs.finish(runtime, run_id, state, error)
        lease.release(runtime, connection_id, token)
    return runs.summary(runtime, run_id)


def _push_mapping(
    runtime: Runtime,
    acc: Access,
    connector: Connector,
    api: Api,
    mapping: mappings.MappingDef,
    record_ids: Sequence[int] | None,
    run_id: int,
) -> None:
    rt = definitions.get_type(runtime, acc, mapping.record_type_id)
    for chunk in _link_chunks(runtime, mapping, record_ids):
        with transaction(runtime.data_engine(acc.workspace_id)) as data:
            current = matching.current(data, rt, [link.record_id for link in chunk])
        wanted = _changes(rt, mapping, chunk, current, ValueContext(acc.phone_region))
        if not wanted:
            continue
        fetched = connector.fetch(api, mapping.remote_object, sorted(wanted))
        read = {r.remote_id: r for r in fetched if r.remote_id is not None}
        plan = _screen(rt, mapping, chunk, wanted, read, ValueContext(acc.phone_region))
        sent = [c for c in plan.changes if c.values]
        pushed = connector.push(api, mapping.remote_object, sent) if sent else []
        _record(runtime, acc, mapping, rt, plan, {r.remote_id: r for r in pushed}, run_id)


def _link_chunks(
    runtime: Runtime, mapping: mappings.MappingDef, record_ids: Sequence[int] | None
) -> list[list[Link]]:
    with transaction(runtime.control) as conn:
        if record_ids is not None:
            found = links.of_records(conn, mapping.connection_id, mapping.remote_object, record_ids)
        else:
            rows = conn.execute(
                select(*links.LINK_COLUMNS)
                .where(
                    X.c.connection_id == mapping.connection_id,
                    X.c.remote_object == mapping.remote_object,
                    X.c.deleted_at.is_(None),
                )
                .order_by(X.c.id)
            )
            found = [links.of_row(r) for r in rows]
    return [found[i : i + BATCH] for i in range(0, len(found), BATCH)]


def _changes(
    rt: RecordTypeDef,
    mapping: mappings.MappingDef,
    chunk: list[Link],
    current: dict[int, Any],
    ctx: ValueContext,
) -> dict[str, dict[str, Any]]:
    """Per remote id, the pushed properties the workspace changed since the last sync (and
    that the tool does not hold already). A difference the workspace did not make (the tool
    has a phone number the workspace never had) is not pushed: that would clear the tool's."""
    wanted: dict[str, dict[str, Any]] = {}
    for link in chunk:
        record = current.get(link.record_id)
        if record is None:
            continue
        for p in mapping.properties:
            f = rt.field_by_id(p.field_id)
            if f is None or not p.pushes:
                continue
            ours = record["fields"].get(f.key)
            synced = link.workspace_values
            if p.property in synced and values.to_remote(ours) == synced[p.property]:
                continue
            if not values.same(f, ours, link.remote_values.get(p.property), ctx):
                wanted.setdefault(link.remote_id, {})[p.property] = ours
    return wanted


class _Plan:
    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.conflicts: list[tuple[Link, dict[str, Any]]] = []
        self.gone: list[Link] = []
        self.links: dict[str, Link] = {}


def _screen(
    rt: RecordTypeDef,
    mapping: mappings.MappingDef,
    chunk: list[Link],
    wanted: dict[str, dict[str, Any]],
    read: dict[str, RemoteRow],
    ctx: ValueContext,
) -> _Plan:
    """Drop what the tool changed since the last sync (conflicts) from what is to be sent."""
    plan = _Plan()
    by_remote = {link.remote_id: link for link in chunk}
    fields = {p.property: rt.field_by_id(p.field_id) for p in mapping.properties}
    for remote_id, props in wanted.items():
        link = by_remote[remote_id]
        plan.links[remote_id] = link
        theirs = read.get(remote_id)
        if theirs is None or theirs.deleted:
            plan.gone.append(link)
            continue
        send: dict[str, Any] = {}
        for prop, ours in props.items():
            f = fields[prop]
            now, base = theirs.values.get(prop), link.remote_values.get(prop)
            if f is not None and now != base and not values.same(f, ours, now, ctx):
                plan.conflicts.append(
                    (link, conflicts.found(f, prop, ours, now, link.remote_values))
                )
            else:
                send[prop] = values.to_remote(ours)
        plan.changes.append(Change(remote_id, send, _key(mapping, remote_id, send, link)))
    return plan


def _key(mapping: mappings.MappingDef, remote_id: str, send: dict[str, Any], link: Link) -> str:
    """The same change (what it sets, over what it replaces) always has the same key."""
    replaced = {k: link.remote_values.get(k) for k in send}
    text = json.dumps(
        [mapping.connection_id, mapping.remote_object, remote_id, send, replaced],
        sort_keys=True,
        default=str,
    )
    return "ws-" + hashlib.sha256(text.encode()).hexdigest()[:48]


def _record(
    runtime: Runtime,
    acc: Access,
    mapping: mappings.MappingDef,
    rt: RecordTypeDef,
    plan: _Plan,
    results: dict[str, Any],
    run_id: int,
) -> None:
    kept: list[dict[str, Any]] = []

    def row(link: Link, outcome: str, payload: Any, detail: Any = None) -> None:
        kept.append(
            {
                "remote_object": mapping.remote_object,
                "remote_id": link.remote_id,
                "payload": payload,
                "outcome": outcome,
                "record_id": link.record_id,
                "detail": detail,
            }
        )

    with transaction(runtime.control, write=True) as conn:
        for change in plan.changes:
            link = plan.links[change.remote_id]
            result = results.get(change.remote_id)
            sent = {"set": change.values, "key": change.key}
            if not change.values:
                continue
            if result is not None and result.error:
                row(link, "rejected", sent, {"message": result.error})
                continue
            known = {**link.remote_values, **change.values}
            mine = {**link.workspace_values, **change.values}
            conn.execute(
                update(X)
                .where(X.c.id == link.id)
                .values(remote_values=known, workspace_values=mine)
            )
            row(link, "pushed", sent)
        for link, c in plan.conflicts:
            where = conflicts.Where(
                acc.workspace_id,
                mapping.connection_id,
                mapping.remote_object,
                link.remote_id,
                rt.id,
                link.record_id,
            )
            conflicts.keep(conn, where, c, found_in="push")
            note = {
                "conflicts": [c["property"]],
                "message": "changed in the tool since the last sync",
            }
            row(link, "conflict", {"kept": {c["property"]: c["remote_value"]}}, note)
        for link in plan.gone:
            row(link, "rejected", {"id": link.remote_id}, {"message": "not found in the tool"})
        runs.keep(conn, run_id, mapping.connection_id, kept)
