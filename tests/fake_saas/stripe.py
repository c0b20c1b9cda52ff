"""A fake Stripe: customers and events of API v1, idempotent writes, and signed webhooks.

Documented behaviour implemented (docs.stripe.com unless noted):

* "Authentication": the secret key as HTTP Basic user name (empty password) or ``Bearer``;
  401 ``invalid_request_error`` "Invalid API Key provided: sk_test_****1234" otherwise.
* "Customers" and "Events" (see :mod:`tests.fake_saas.stripe_objects`): ``GET/POST
  /v1/customers``, ``GET/POST/DELETE /v1/customers/{id}`` (a deleted customer is retrieved as
  ``{"id", "object", "deleted": true}``, refused for updates with 404 ``resource_missing``);
  ``GET /v1/events`` with ``type`` (``*`` wildcard) or ``types[]`` (not both), ``created``,
  cursors; ``GET /v1/events/{id}``. Every change made through the API or the "dashboard"
  methods emits ``customer.created`` / ``customer.updated`` (with ``previous_attributes``) /
  ``customer.deleted``.
* "Make requests": POST bodies are ``application/x-www-form-urlencoded`` with bracket notation
  (``address[city]=Paris``, ``metadata[plan]=pro``; stripe-python ``_encode.py``); an unknown
  parameter is 400 "Received unknown parameter: x".
* "Idempotent requests": a POST's status and body are saved under its ``Idempotency-Key``
  (24 hours) and replayed for a retry with the same parameters, with ``Idempotent-Replayed:
  true``; other parameters or another endpoint get 400 ``idempotency_error`` ("Keys for
  idempotent requests can only be used with the same parameters they were first used with...",
  the wording stripe-java's tests assert); requests that fail validation are not saved; a
  retry while the first is still running gets 409 (its wording is the fake's).
* "Error handling": ``{"error": {"type", "code", "message", "param", "doc_url"}}``; 429 is
  ``code: rate_limit`` (stripe-python maps 429 to RateLimitError), 500 ``api_error``.
* "Webhooks" / "Verify signatures": ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
  "<t>.<raw body>">`` (stripe-python ``_webhook.py``); bodies are pretty-printed JSON, so a
  receiver that re-serialises before verifying fails, as it would against Stripe.

Faults are played in front of the API, like a gateway: an injected 500 is not saved under the
idempotency key, although Stripe says a 500 raised *during* execution is replayed.
Left out: other object types, ``expand``, search, test clocks, Connect, API versioning.
"""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any

from tests.fake_saas.faults import Fault
from tests.fake_saas.forms import FormError, parse
from tests.fake_saas.people import people
from tests.fake_saas.server import FakeServer, Handler, RecordedRequest, Refusal, Reply, Write
from tests.fake_saas.stripe_idempotency import IdempotencyKeys
from tests.fake_saas.stripe_objects import (
    Ids,
    ParamError,
    Timeline,
    apply_params,
    created_bounds,
    matches_type,
    new_customer,
)
from tests.fake_saas.stripe_webhooks import WebhookQueue, signature_header
from tests.fake_saas.webhooks import Delivery

__all__ = ["StripeFake", "signature_header"]

EVENT_RETENTION_S = 30 * 24 * 3600
LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", "created", "expand"})


def stripe_error(
    status: int, kind: str, message: str, code: str | None = None, param: str | None = None
) -> Reply:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = "https://stripe.com/docs/error-codes/" + code.replace("_", "-")
    if param:
        error["param"] = param
    return Reply(status, {"error": error})


def _missing(kind: str, object_id: str, param: str = "id") -> Refusal:
    message = f"No such {kind}: '{object_id}'"
    return Refusal(stripe_error(404, "invalid_request_error", message, "resource_missing", param))


def _bad_param(exc: ParamError) -> Refusal:
    return Refusal(stripe_error(400, "invalid_request_error", exc.message, param=exc.param))


class StripeFake(FakeServer):
    """Stripe on loopback; the client's ``api_base`` is :attr:`url`."""

    resolution_ms = 1000

    def __init__(
        self,
        *,
        secret_key: str = "sk_test_51FakeFakeFakeFake0000000000000000000000000000000001234",
        webhook_secret: str = "whsec_fakefakefakefakefakefakefake1234",
        api_version: str = "2024-06-20",
        **kwargs: Any,
    ) -> None:
        self.secret_key, self.api_version = secret_key, api_version
        self.customers: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.events: dict[str, dict[str, Any]] = {}
        self._customer_list = Timeline()
        self._event_list = Timeline()
        self._ids = Ids("stripe-fake")
        super().__init__(**kwargs)
        self.idempotency = IdempotencyKeys(self.clock, stripe_error)
        self.webhooks = WebhookQueue(webhook_secret)

    # -- programmatic API: what someone does in the Stripe dashboard -----------------------------

    def create_customer(self, **params: Any) -> str:
        with self.lock:
            return str(self._create(params, None)["id"])

    def update_customer(self, customer_id: str, **params: Any) -> None:
        with self.lock:
            self._update(self._live(customer_id), params, None)

    def delete_customer(self, customer_id: str) -> None:
        with self.lock:
            self._delete(self._live(customer_id), None)

    def customer(self, customer_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.customers[customer_id])

    def seed_customers(self, count: int, seed: int = 0) -> list[str]:
        """``count`` customers from :func:`tests.fake_saas.people.people`, without events."""
        with self.lock:
            ids = []
            for person in people(count, seed):
                address = {
                    "city": person.city,
                    "country": person.country,
                    "line1": person.street,
                    "line2": None,
                    "postal_code": person.postal_code,
                    "state": person.region or None,
                }
                params = {"email": person.email, "name": person.full_name, "phone": person.phone}
                customer = self._create(params | {"address": address}, None, emit=False)
                ids.append(str(customer["id"]))
            return ids

    # -- webhooks -------------------------------------------------------------------------------

    @property
    def webhook_secret(self) -> str:
        return self.webhooks.secret

    @property
    def pending_events(self) -> list[dict[str, Any]]:
        """Events not delivered to the webhook endpoint yet."""
        return self.webhooks.pending

    def deliver(
        self,
        url: str,
        event: dict[str, Any],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
    ) -> Delivery:
        """POST one event signed like Stripe (see :meth:`WebhookQueue.deliver`)."""
        return self.webhooks.deliver(
            url, event, timestamp=timestamp, secret=secret, signature=signature
        )

    def deliver_webhooks(self, url: str) -> list[Delivery]:
        """Send the queued events, oldest first; failed ones stay queued."""
        return self.webhooks.deliver_pending(url)

    # -- HTTP ---------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        one = r"/v1/customers/(?P<customer_id>[^/]+)"
        return [
            ("GET", r"/v1/customers", self._list_customers),
            ("POST", r"/v1/customers", self._post_customer),
            ("GET", one, self._get_customer),
            ("POST", one, self._post_customer),
            ("DELETE", one, self._delete_customer),
            ("GET", r"/v1/events", self._list_events),
            ("GET", r"/v1/events/(?P<event_id>[^/]+)", self._get_event),
        ]

    def authenticate(self, request: RecordedRequest) -> Reply | None:
        scheme, _, value = (request.header("authorization") or "").partition(" ")
        key = value
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(value, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        elif scheme.lower() != "bearer":
            message = (
                "You did not provide an API key. You need to provide your API key in the"
                " Authorization header, using Bearer auth (e.g. 'Authorization: Bearer"
                " YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details,"
                " or we can help at https://support.stripe.com/."
            )
            return stripe_error(401, "invalid_request_error", message)
        if key != self.secret_key:
            request.context["presented_key"] = key
            return self.unauthorized_reply(request)
        return None

    def unauthorized_reply(self, request: RecordedRequest) -> Reply:
        key = request.context.get("presented_key", self.secret_key)
        prefix = "_".join(key.split("_")[:2]) + "_" if key.count("_") >= 2 else ""
        masked = prefix + "*" * max(len(key) - len(prefix) - 4, 0) + key[-4:]
        reply = stripe_error(401, "invalid_request_error", f"Invalid API Key provided: {masked}")
        reply.headers["WWW-Authenticate"] = 'Basic realm="Stripe"'
        return reply

    def rate_limited_reply(self, request: RecordedRequest, fault: Fault | None) -> Reply:
        message = (
            "Request rate limit exceeded. Learn more about rate limits here"
            " https://stripe.com/docs/rate-limits."
        )
        return stripe_error(429, "invalid_request_error", message, "rate_limit")

    def server_error_reply(self, request: RecordedRequest, status: int) -> Reply:
        if status == 500:
            return stripe_error(500, "api_error", "An unknown error occurred")
        return super().server_error_reply(request, status)

    def not_found_reply(self, request: RecordedRequest) -> Reply:
        message = f"Unrecognized request URL ({request.method}: {request.path})."
        return stripe_error(404, "invalid_request_error", message)

    def decorate(self, request: RecordedRequest, reply: Reply) -> None:
        reply.headers.setdefault("Request-Id", self._request_id(request))
        reply.headers["Stripe-Version"] = self.api_version

    def admit(self, request: RecordedRequest) -> Reply | None:
        return self.idempotency.begin(request)

    def release(self, request: RecordedRequest) -> None:
        self.idempotency.end(request)

    # -- handlers -------------------------------------------------------------------------------

    def _list_customers(self, request: RecordedRequest) -> Reply:
        params = self._params(request, LIST_PARAMS | {"email", "test_clock"})
        email = params.get("email")
        ids, more = self._page(
            self._customer_list,
            params,
            "customer",
            lambda cid: email is None or self.customers[cid]["email"] == email,
        )
        data = [self.customers[i] for i in ids]
        body = {"object": "list", "data": data, "has_more": more, "url": "/v1/customers"}
        return Reply(200, body)

    def _get_customer(self, request: RecordedRequest, customer_id: str) -> Reply:
        self._params(request, {"expand"})
        if customer_id in self.deleted:
            return Reply(200, {"id": customer_id, "object": "customer", "deleted": True})
        return Reply(200, self._live(customer_id))

    def _post_customer(self, request: RecordedRequest, customer_id: str | None = None) -> Reply:
        params = self._params(request, None)

        def execute() -> Reply:
            if customer_id is None:
                customer = self._create(params, request)
            else:
                customer = self._update(self._live(customer_id), params, request)
            return Reply(200, copy.deepcopy(customer))

        return self.idempotency.run(request, params, execute)

    def _delete_customer(self, request: RecordedRequest, customer_id: str) -> Reply:
        self._params(request, set())
        self._delete(self._live(customer_id), request)
        return Reply(200, {"id": customer_id, "object": "customer", "deleted": True})

    def _list_events(self, request: RecordedRequest) -> Reply:
        params = self._params(request, LIST_PARAMS | {"type", "types", "delivery_success"})
        if "type" in params and "types" in params:
            message = "You may only specify one of these parameters: type, types."
            raise Refusal(stripe_error(400, "invalid_request_error", message, param="types"))
        wanted = params.get("types") or ([params["type"]] if "type" in params else [])
        if not isinstance(wanted, list) or len(wanted) > 20:
            raise _bad_param(ParamError("types must be an array of at most 20 strings", "types"))
        oldest = self.clock.now_ms() // 1000 - EVENT_RETENTION_S  # older events are gone
        created = self._bounds(params)
        params["created"] = created | {"gte": max(created.get("gte", oldest), oldest)}
        ids, more = self._page(
            self._event_list,
            params,
            "event",
            lambda eid: not wanted or matches_type(self.events[eid]["type"], wanted),
        )
        data = [self.events[i] for i in ids]
        return Reply(200, {"object": "list", "data": data, "has_more": more, "url": "/v1/events"})

    def _get_event(self, request: RecordedRequest, event_id: str) -> Reply:
        self._params(request, {"expand"})
        event = self.events.get(event_id)
        if event is None or event["created"] < self.clock.now_ms() // 1000 - EVENT_RETENTION_S:
            raise _missing("event", event_id)
        return Reply(200, event)

    def _params(
        self, request: RecordedRequest, allowed: set[str] | frozenset[str] | None
    ) -> dict[str, Any]:
        if request.method == "POST" and "json" in (request.header("content-type") or ""):
            message = (
                "Invalid request (check that your POST content type is"
                " application/x-www-form-urlencoded). If you have any questions, we can help at"
                " https://support.stripe.com/."
            )
            raise Refusal(stripe_error(400, "invalid_request_error", message))
        try:
            params = parse(request.text if request.method == "POST" else request.raw_query)
        except FormError as exc:
            raise Refusal(stripe_error(400, "invalid_request_error", str(exc))) from None
        for name in params:
            if allowed is not None and name not in allowed:
                raise _bad_param(ParamError(f"Received unknown parameter: {name}", name))
        return params

    def _page(
        self, timeline: Timeline, params: dict[str, Any], kind: str, accept: Any
    ) -> tuple[list[str], bool]:
        raw = params.get("limit", "10")
        if not str(raw).isdigit() or not 1 <= int(raw) <= 100:
            message = f"Invalid limit: must be between 1 and 100 (got {raw})"
            raise _bad_param(ParamError(message, "limit"))
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            message = "You may only specify one of these parameters: ending_before, starting_after."
            raise _bad_param(ParamError(message, "starting_after"))
        created = self._bounds(params)
        try:
            return timeline.page(
                limit=int(raw),
                starting_after=after or None,
                ending_before=before or None,
                created=created,
                accept=accept,
            )
        except ParamError as exc:
            raise _missing(kind, str(after or before), exc.param or "starting_after") from None

    def _bounds(self, params: dict[str, Any]) -> dict[str, int]:
        try:
            return created_bounds(params.get("created"))
        except ParamError as exc:
            raise _bad_param(exc) from None

    # -- store helpers --------------------------------------------------------------------------

    def _request_id(self, request: RecordedRequest) -> str:
        return str(request.context.setdefault("request_id", self._ids.make("req_")))

    def _live(self, customer_id: str) -> dict[str, Any]:
        customer = self.customers.get(customer_id)
        if customer is None or customer_id in self.deleted:
            raise _missing("customer", customer_id)
        return customer

    def _create(
        self, params: dict[str, Any], request: RecordedRequest | None, *, emit: bool = True
    ) -> dict[str, Any]:
        at = self.clock.stamp()
        prefix = self._ids.make("", 8).upper()
        customer = new_customer(self._ids.make("cus_"), at // 1000, prefix)
        try:
            apply_params(customer, params)
        except ParamError as exc:
            raise _bad_param(exc) from None
        self.customers[customer["id"]] = customer
        self._customer_list.add(customer["id"], customer["created"])
        if emit:
            self._event("customer.created", customer, None, request, at)
        self._log_write(request, customer["id"], params, at)
        return customer

    def _update(
        self, customer: dict[str, Any], params: dict[str, Any], request: RecordedRequest | None
    ) -> dict[str, Any]:
        changed = copy.deepcopy(customer)
        try:
            previous = apply_params(changed, params)
        except ParamError as exc:
            raise _bad_param(exc) from None
        customer.update(changed)
        at = self.clock.stamp()
        if previous:
            self._event("customer.updated", customer, previous, request, at)
        self._log_write(request, customer["id"], params, at)
        return customer

    def _delete(self, customer: dict[str, Any], request: RecordedRequest | None) -> None:
        at = self.clock.stamp()
        self.deleted.add(customer["id"])
        self._customer_list.remove(customer["id"])
        self._event("customer.deleted", customer, None, request, at)
        self._log_write(request, customer["id"], None, at)

    def _event(
        self,
        kind: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None,
        request: RecordedRequest | None,
        at_ms: int,
    ) -> None:
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        origin: dict[str, str | None] = {"id": None, "idempotency_key": None}
        if request is not None:
            key = request.header("idempotency-key")
            origin = {"id": self._request_id(request), "idempotency_key": key}
        event: dict[str, Any] = {
            "id": self._ids.make("evt_", 24),
            "object": "event",
            "api_version": self.api_version,
            "created": at_ms // 1000,
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": origin,
            "type": kind,
        }
        self.events[event["id"]] = event
        self._event_list.add(event["id"], event["created"])
        self.webhooks.queue(event)

    def _log_write(
        self, request: RecordedRequest | None, target: str, params: Any, at_ms: int
    ) -> None:
        if request is not None:
            operation = f"{request.method} {request.path}"
            key = request.header("idempotency-key")
            self.writes.append(Write(operation, target, params, key, at_ms))
