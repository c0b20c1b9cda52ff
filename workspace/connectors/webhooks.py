"""Vendor webhooks: "this record changed" from the tool, for one record at a time.

A webhook reaches ``/api/v1/hooks/connections/<token>``: the token (random, per connection)
finds the connection, the connector checks the signature where the tool signs (HubSpot, Stripe; for
Mailchimp the secret address is the check). Every call is kept before anything else, with
its outcome, like a form post: refused ones too. The rows it names are kept *pending*, then
taken at once if no sync of the connection is running, or by the running sync when it
finishes (it holds the connection's lease, so two writers never race). A row is always read
back from the tool before it is written (the webhook only says that it changed; the tool
says what it is now), except a deletion, which has nothing to read.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from workspace import models as m
from workspace.connectors import connections, lease, mappings, runs
from workspace.connectors.batches import AlreadyDecided, Pulled, Sync, connector_access, write_page
from workspace.db import transaction
from workspace.errors import NotAuthenticated, NotFound
from workspace.jobs import queue
from workspace.remote import Connector, RemoteRow, WebhookRefused, WebhookRequest
from workspace.remote_http import Api
from workspace.runtime import Runtime
from workspace.schema import definitions

CN, ROWS = m.connections, m.sync_rows
PAGE = 100
#: The job kind that takes waiting rows once the connection is free.
WAITING = "connector.webhooks"


def receive(runtime: Runtime, token: str, request: WebhookRequest) -> dict[str, Any]:
    """Check, keep and (when the connection is free) take one webhook call."""
    with transaction(runtime.control) as conn:
        row = conn.execute(
            select(CN).where(CN.c.webhook_token == token, CN.c.deleted_at.is_(None))
        ).first()
    if row is None or row.kind not in runtime.connectors:
        raise NotFound("no such webhook address")
    if request.method == "GET":  # a tool checking the address when it is saved
        return {"ok": True}
    connector = runtime.connectors.get(row.kind)
    body = _readable(request.body)
    try:
        connector.verify_webhook(request, connections.opened(runtime, row))
    except WebhookRefused as exc:
        _keep_call(runtime, row, [_refused(body, f"signature refused: {exc}")])
        raise NotAuthenticated(f"webhook refused: {exc}") from None
    hits = connector.parse_webhook(request)
    kept = [
        {
            "remote_object": hit.object,
            "remote_id": hit.remote_id or None,
            "payload": hit.row.payload if hit.row is not None else body,
            "outcome": "pending" if hit.remote_id else "rejected",
            "detail": {"deleted": True} if hit.deleted else None,
        }
        for hit in hits
    ]
    for item, hit in zip(kept, hits, strict=True):
        if not hit.remote_id:
            problem = hit.row.problem if hit.row is not None else None
            item["detail"] = {"message": problem or "the webhook names no record"}
    run_id = _keep_call(
        runtime, row, kept or [_refused(body, "nothing in it this connection syncs")]
    )
    waiting = any(k["outcome"] == "pending" for k in kept)
    taken = _take_now(runtime, row) if waiting else False
    return {"ok": True, "run": run_id, "rows": len(kept), "taken": taken}


def _readable(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return {"body": body.decode("utf-8", "replace")}


def _refused(body: Any, reason: str) -> dict[str, Any]:
    return {
        "remote_object": "webhook",
        "payload": body,
        "outcome": "rejected",
        "detail": {"message": reason},
    }


def _keep_call(runtime: Runtime, row: Any, kept: list[dict[str, Any]]) -> int:
    with transaction(runtime.control, write=True) as conn:
        run_id = runs.start(
            conn, row.workspace_id, row.id, kind="webhook", trigger="webhook", by=None, state="done"
        )
        runs.keep(conn, run_id, row.id, kept)
    return run_id


def _take_now(runtime: Runtime, row: Any) -> bool:
    """Take the waiting rows now; when a sync or push holds the connection, a background
    job takes them as soon as it is free."""
    try:
        take_waiting(runtime, row.id)
    except lease.SyncBusy:
        with transaction(runtime.control, write=True) as conn:
            key = f"webhooks:{row.id}"
            payload = {"connection": row.id}
            queue.enqueue(conn, WAITING, payload, workspace_id=row.workspace_id, key=key)
        return False
    return True


def take_waiting(runtime: Runtime, connection_id: int) -> None:
    """Take the connection's pending webhook rows under its lease (SyncBusy if held)."""
    token = uuid.uuid4().hex
    row = lease.claim(runtime, connection_id, token)
    connector = runtime.connectors.get(row.kind)
    try:
        with lease.heartbeat(runtime, row.id, token):
            _, api = connections.open_api(runtime, row)
            sync = Sync(
                runtime,
                connector_access(runtime, row),
                row.id,
                connector.label,
                0,
                lambda tx: lease.check(tx, row.id, token),
            )
            try:
                process_pending(sync, connector, api)
            finally:
                api.client.close()
    finally:
        lease.release(runtime, row.id, token)


def process_pending(sync: Sync, connector: Connector, api: Api) -> int:
    """Take the connection's pending webhook rows, oldest first; returns how many."""
    done = 0
    while True:
        with transaction(sync.runtime.control) as conn:
            pending = conn.execute(
                select(ROWS.c.id, ROWS.c.remote_object, ROWS.c.remote_id, ROWS.c.detail)
                .where(ROWS.c.connection_id == sync.connection_id, ROWS.c.outcome == "pending")
                .order_by(ROWS.c.id)
                .limit(PAGE)
            ).all()
            by_object = {mp.remote_object: mp for mp in mappings.active(conn, sync.connection_id)}
        if not pending:
            return done
        for remote_object in dict.fromkeys(p.remote_object for p in pending):
            mine = [p for p in pending if p.remote_object == remote_object]
            _take(sync, connector, api, by_object.get(remote_object), mine)
        done += len(pending)


def _take(
    sync: Sync,
    connector: Connector,
    api: Api,
    mapping: mappings.MappingDef | None,
    pending: list[Any],
) -> None:
    if mapping is None:
        with transaction(sync.runtime.control, write=True) as conn:
            for p in pending:
                reason = f"{p.remote_object} are not mapped (or retired) in this connection"
                runs.decide(conn, p.id, "rejected", None, {"message": reason})
        return
    gone = {p.remote_id for p in pending if (p.detail or {}).get("deleted")}
    wanted = [p.remote_id for p in pending if p.remote_id not in gone]
    read = {
        r.remote_id: r for r in connector.fetch(api, mapping.remote_object, sorted(set(wanted)))
    }
    pulled = []
    for p in pending:
        row = read.get(p.remote_id) if p.remote_id not in gone else None
        if row is None:
            row = RemoteRow(p.remote_id, {}, {"id": p.remote_id}, deleted=True)
        pulled.append(Pulled(row, kept=p.id))
    rt = definitions.get_type(sync.runtime, sync.acc, mapping.record_type_id)
    try:
        write_page(sync, mapping, rt, pulled, None)
    except AlreadyDecided:  # another process took these rows first
        return
