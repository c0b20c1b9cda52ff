"""Built-in connector ``stripe``: customers (Stripe API v1).

Read from docs.stripe.com ("Customers", "Events", "Pagination", "Idempotent requests",
"Verify webhook signatures"):

* Lists come newest first and page with ``starting_after``. A first pull lists every
  customer; before it starts it notes the newest ``customer.*`` event, and incremental pulls
  read the events after that one (oldest first once a pull has gathered them), so updates
  and deletions are seen, not only new customers. Stripe keeps events for 30 days: a
  connection not pulled for longer needs a full pull again (clear its cursor).
* Writes are form-encoded with bracket notation (``address[city]=Paris``) and carry an
  ``Idempotency-Key``: the change's own key, so a retry is answered from Stripe's replay.
* ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with the
  endpoint's ``whsec_`` secret; older than 5 minutes is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

from workspace import (
    Api,
    Change,
    Connector,
    Credential,
    Page,
    PushResult,
    RemoteError,
    RemoteObject,
    RemoteProperty,
    RemoteRow,
    WebhookHit,
    WebhookRefused,
    WebhookRequest,
    hookimpl,
    json_of,
)

PAGE = 100
TOLERANCE_S = 300
EVENT_TYPES = ("customer.created", "customer.updated", "customer.deleted")
ADDRESS = ("line1", "line2", "city", "postal_code", "state", "country")

CUSTOMERS = RemoteObject(
    "customers",
    "Customers",
    (
        RemoteProperty("email", "Billing email", "email"),
        RemoteProperty("name", "Legal name"),
        RemoteProperty("phone", "Billing phone", "phone"),
        RemoteProperty("description", "Description"),
        *(
            RemoteProperty(f"address_{part}", f"Billing address: {part.replace('_', ' ')}")
            for part in ADDRESS
        ),
    ),
)
TEXT = tuple(p.name for p in CUSTOMERS.properties)


class Stripe(Connector):
    kind = "stripe"
    label = "Stripe"
    default_base_url = "https://api.stripe.com"
    credentials = (
        Credential("secret_key", "Secret key", hint="sk_live_... or a restricted key rk_..."),
        Credential(
            "webhook_secret",
            "Webhook signing secret",
            hint="whsec_...; only to check webhooks",
            required=False,
        ),
    )
    objects = (CUSTOMERS,)
    can_push = True
    webhook_help = "Add this address as a webhook endpoint for customer.* events."

    def headers(self, config: Mapping[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {config.get('secret_key', '')}"}

    def retry_later(self, status: int, body: Any) -> bool:
        """A retry that arrived while the first request with its idempotency key is still
        running: 409 ``idempotency_error``; sent again, it gets the first one's answer."""
        error = body.get("error") if isinstance(body, dict) else None
        return (
            status == 409 and isinstance(error, dict) and error.get("type") == "idempotency_error"
        )

    def check(self, api: Api) -> None:
        api.get("/v1/customers", params={"limit": 1}, step="listing customers")

    def pull(self, api: Api, object: str, cursor: Any) -> Iterator[Page]:
        state = dict(cursor or {})
        if state.get("phase") != "events":
            yield from self._full(api, state)
            state = {"phase": "events", "since": state["since"], "seen": state["seen"]}
        yield from self._events(api, state)

    def _full(self, api: Api, state: dict[str, Any]) -> Iterator[Page]:
        if "since" not in state:  # events after the newest one now are the next pull's
            newest = self._event_page(api, {"limit": 1})
            created = int(newest[0]["created"]) if newest else 0
            seen = [e["id"] for e in newest]
            state |= {"since": created, "seen": seen}
        step = "listing customers"
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if state.get("after"):
                params["starting_after"] = state["after"]
            body = json_of(api.get("/v1/customers", params=params, step=step), step)
            data = body.get("data") or []
            rows = [_row(c, c) for c in data]
            if data and isinstance(data[-1], dict):
                state["after"] = data[-1].get("id")
            if not body.get("has_more") or not data:
                done = {"phase": "events", "since": state["since"], "seen": state["seen"]}
                yield Page(rows, done)
                return
            yield Page(rows, dict(state, phase="full"))

    def _events(self, api: Api, state: dict[str, Any]) -> Iterator[Page]:
        since, seen = int(state["since"]), set(state.get("seen") or [])
        gathered: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": PAGE, "created[gte]": since}
        while True:  # newest first down to ``since``, then replayed oldest first
            page = self._event_page(api, params)
            gathered += page
            if len(page) < PAGE:
                break
            params["starting_after"] = page[-1]["id"]
        events = [e for e in reversed(gathered) if e["id"] not in seen]
        for start in range(0, len(events), PAGE):
            chunk = events[start : start + PAGE]
            for event in chunk:
                created = int(event["created"])
                seen = seen if created == since else set()
                since = created
                seen.add(event["id"])
            rows = [_event_row(e) for e in chunk]
            yield Page(rows, {"phase": "events", "since": since, "seen": sorted(seen)})

    def _event_page(self, api: Api, params: dict[str, Any]) -> list[dict[str, Any]]:
        step = "listing customer events"
        query = {**params, "types[]": list(EVENT_TYPES)}
        body = json_of(api.get("/v1/events", params=query, step=step), step)
        return [e for e in body.get("data") or [] if isinstance(e, dict) and "id" in e]

    def fetch(self, api: Api, object: str, remote_ids: list[str]) -> list[RemoteRow]:
        rows = []
        for remote_id in remote_ids:
            try:
                response = api.get(f"/v1/customers/{remote_id}", step="reading a customer")
            except RemoteError as exc:
                if exc.status != 404:
                    raise
                rows.append(RemoteRow(remote_id, {}, {"id": remote_id}, deleted=True))
                continue
            customer = json_of(response, "reading a customer")
            rows.append(_row(customer, customer))
        return rows

    def push(self, api: Api, object: str, changes: list[Change]) -> list[PushResult]:
        results = []
        for change in changes:
            form: dict[str, str] = {}
            for name, value in change.values.items():
                key = f"address[{name[8:]}]" if name.startswith("address_") else name
                form[key] = "" if value is None else str(value)
            try:
                api.post(
                    f"/v1/customers/{change.remote_id}",
                    data=form,
                    headers={"Idempotency-Key": change.key},
                    step="updating a customer",
                )
            except RemoteError as exc:
                if exc.status not in (400, 404):
                    raise
                results.append(PushResult(change.remote_id, exc.message))
                continue
            results.append(PushResult(change.remote_id))
        return results

    def verify_webhook(self, request: WebhookRequest, config: Mapping[str, str]) -> None:
        secret = config.get("webhook_secret") or ""
        if not secret:
            raise WebhookRefused("no webhook signing secret is saved to check Stripe's signature")
        parts = [p.partition("=") for p in request.headers.get("stripe-signature", "").split(",")]
        stamps = [v for k, _, v in parts if k.strip() == "t"]
        given = [v for k, _, v in parts if k.strip() == "v1"]
        if not stamps or not stamps[0].isdigit() or not given:
            raise WebhookRefused("the Stripe-Signature header is missing or malformed")
        if abs(time.time() - int(stamps[0])) > TOLERANCE_S:
            raise WebhookRefused("the signature's timestamp is more than 5 minutes off")
        signed = stamps[0].encode() + b"." + request.body
        wanted = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(wanted, v) for v in given):
            raise WebhookRefused("the signature does not match")

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookHit]:
        try:
            event = json.loads(request.body)
        except ValueError:
            return []
        if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
            return []
        row = _event_row(event)
        if row.remote_id is None:
            return [WebhookHit("customers", "", row=row)]
        return [WebhookHit("customers", row.remote_id, row=row, deleted=row.deleted)]


def _event_row(event: dict[str, Any]) -> RemoteRow:
    customer = (
        (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    )
    row = _row(customer, event)
    row.deleted = row.deleted or event.get("type") == "customer.deleted"
    return row


def _row(customer: Any, payload: Any) -> RemoteRow:
    if not isinstance(customer, dict):
        return RemoteRow(None, {}, payload, problem="the customer is not an object")
    remote_id = customer.get("id")
    if not isinstance(remote_id, str) or not remote_id:
        return RemoteRow(None, {}, payload, problem="the customer has no id")
    if customer.get("deleted") is True:
        return RemoteRow(remote_id, {}, payload, deleted=True)
    address = customer.get("address") or {}
    if not isinstance(address, dict):
        return RemoteRow(remote_id, {}, payload, problem="address: not an object")
    values = {name: customer.get(name) for name in ("email", "name", "phone", "description")}
    values |= {f"address_{part}": address.get(part) for part in ADDRESS}
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            return RemoteRow(
                remote_id, {}, payload, problem=f"{name}: a {type(value).__name__}, not text"
            )
        values[name] = value or None
    return RemoteRow(remote_id, values, payload)


@hookimpl
def register_connectors(register: Any) -> None:
    register(Stripe)
