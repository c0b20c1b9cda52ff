"""A fake HubSpot: the CRM v3 objects API for contacts and companies, and signed webhooks.

Documented behaviour implemented (developers.hubspot.com unless noted):

* "CRM API | Objects": ``GET /crm/v3/objects/{type}`` with ``limit`` (default 10, max 100),
  ``after`` (an opaque cursor; HubSpot's example is base64, ``NTI1Cg%3D%3D``), ``properties``
  (comma list or repeated) and ``archived=true``; results in id order with
  ``paging.next.{after,link}``. ``GET/PATCH/DELETE /{id}`` (``idProperty`` to address by
  e-mail; DELETE archives, 204), ``POST`` to create (409 CONFLICT on a taken e-mail), and
  ``batch/read|create|update|upsert|archive`` with at most 100 inputs, duplicate ids refused,
  207 plus ``errors`` when some ids are unknown, upsert results flagged ``new``
  (``BatchResponseSimplePublicUpsertObject`` in github.com/HubSpot/hubspot-api-python).
* "CRM API | Search" (see :mod:`tests.fake_saas.hubspot_search`): ``total``, ``after`` as an
  offset, and the 10,000-result cap: the fake hands out ``after`` past 10,000 like HubSpot and
  answers that request with 400.
* "API usage guidelines": private apps send ``Authorization: Bearer <token>``; responses carry
  ``X-HubSpot-RateLimit-{Interval-Milliseconds,Max,Remaining,Daily,Daily-Remaining}`` (100 per
  10 s, 250,000 a day: Free/Starter); a 429 has ``errorType: RATE_LIMIT`` and ``policyName``
  ``TEN_SECONDLY_ROLLING``. Search is limited separately (5 requests/s; off by default here,
  see ``search_rate_limit``) and its 429 is ``"You have reached your secondly limit."`` with
  ``category: RATE_LIMITS`` and *no* rate-limit headers (a recorded HubSpot response in
  grouparoo's test fixtures; the official Node client's RetryDecorator keys on that message).
* "Error handling" (see :mod:`tests.fake_saas.hubspot_errors`), records and their property
  rules (:mod:`tests.fake_saas.hubspot_crm`), batch endpoints
  (:mod:`tests.fake_saas.hubspot_batch`), webhooks signed with v3
  (:mod:`tests.fake_saas.hubspot_webhooks`).

Left out: associations, property history, custom objects, OAuth, search-index lag (HubSpot says
new or changed records "may take a few moments" to appear in search), and the exact wording of
errors the docs do not show (those messages are the fake's own).
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from tests.fake_saas.faults import Fault
from tests.fake_saas.hubspot_batch import SOURCE, batch
from tests.fake_saas.hubspot_crm import COMPANIES, CONTACTS, Crm, CrmError, Objects, Record
from tests.fake_saas.hubspot_errors import checked, error, json_body, missing, refuse
from tests.fake_saas.hubspot_search import parse_search, run_search
from tests.fake_saas.hubspot_webhooks import WebhookQueue, signature_v1, signature_v3
from tests.fake_saas.people import companies, people
from tests.fake_saas.server import FakeServer, Handler, RecordedRequest, Reply
from tests.fake_saas.webhooks import Delivery

__all__ = ["HubSpotFake", "signature_v1", "signature_v3"]

LIST_MAX_LIMIT = 100
SEARCH_RESULT_CAP = 10_000
SEARCH_REQUESTS_PER_SECOND = 5
RATE_MAX, RATE_INTERVAL_MS, RATE_DAILY = 100, 10_000, 250_000


class HubSpotFake(FakeServer):
    """HubSpot on loopback; point the client's base URL at :attr:`url`.

    Args:
        token: the private app access token the fake accepts as ``Bearer``.
        client_secret: the app secret webhooks are signed with.
        search_rate_limit: ``(requests, seconds)`` enforced on search requests, e.g.
            ``(SEARCH_REQUESTS_PER_SECOND, 1.0)``; ``None`` (default) keeps tests deterministic.
        extra_properties / unique_properties: custom properties per object type, e.g.
            ``{"contacts": {"external_id"}}`` (unique ones can be an upsert ``idProperty``).
    """

    def __init__(
        self,
        *,
        token: str = "pat-na1-11111111-2222-3333-4444-555555555555",
        client_secret: str = "hubspot-client-secret",
        portal_id: int = 62515,
        app_id: int = 1160452,
        search_rate_limit: tuple[int, float] | None = None,
        extra_properties: dict[str, set[str]] | None = None,
        unique_properties: dict[str, set[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.search_rate_limit = search_rate_limit
        extra, unique = extra_properties or {}, unique_properties or {}
        schemas = [
            s.with_properties(extra.get(s.name, set()), unique.get(s.name, set()))
            for s in (CONTACTS, COMPANIES)
        ]
        self.webhooks = WebhookQueue(self.clock, client_secret, portal_id, app_id)
        self.crm = Crm(self.clock, schemas, self.webhooks.queue, self.writes)
        self._searches: deque[float] = deque()
        self._calls: deque[float] = deque()
        self._daily = 0

    @property
    def client_secret(self) -> str:
        return self.webhooks.client_secret

    @property
    def pending_events(self) -> list[dict[str, Any]]:
        """Webhook events not delivered yet (changes from the UI and from the API)."""
        return self.webhooks.pending

    # -- programmatic API: what a person does in the HubSpot UI ---------------------------------

    def create(self, kind: str, properties: dict[str, Any]) -> str:
        with self.lock:
            objects = self.crm.objects[kind]
            return str(self.crm.insert(objects, objects.check(properties), "CRM_UI").id)

    def update(self, kind: str, object_id: str, properties: dict[str, Any]) -> None:
        with self.lock:
            objects = self.crm.objects[kind]
            record = _live(objects, object_id)
            self.crm.change(objects, record, objects.check(properties, record), "CRM_UI")

    def archive(self, kind: str, object_id: str) -> None:
        with self.lock:
            objects = self.crm.objects[kind]
            self.crm.archive(objects, _live(objects, object_id), "CRM_UI")

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        """The record with every property it has, archived or not."""
        with self.lock:
            objects = self.crm.objects[kind]
            record = objects.records[int(object_id)]
            return objects.render(record, sorted(record.properties))

    def seed_contacts(self, count: int, seed: int = 0) -> list[str]:
        """``count`` contacts from :func:`tests.fake_saas.people.people` (no webhook events)."""
        rows = (
            {"email": p.email, "firstname": p.first_name, "lastname": p.last_name,
             "phone": p.phone, "company": p.company.name, "jobtitle": p.job_title,
             "address": p.street, "city": p.city, "state": p.region, "zip": p.postal_code,
             "country": p.country}
            for p in people(count, seed)
        )  # fmt: skip
        return self._seed("contacts", rows)

    def seed_companies(self, count: int, seed: int = 0) -> list[str]:
        """``count`` companies from :func:`tests.fake_saas.people.companies`."""
        rows = (
            {"name": c.name, "domain": c.domain, "industry": c.industry, "city": c.city,
             "country": c.country, "phone": c.phone}
            for c in companies(count, seed)
        )  # fmt: skip
        return self._seed("companies", rows)

    def _seed(self, kind: str, rows: Iterable[dict[str, str]]) -> list[str]:
        with self.lock:
            objects = self.crm.objects[kind]
            return [str(self.crm.insert(objects, row, None).id) for row in rows]

    # -- webhooks -------------------------------------------------------------------------------

    def deliver(
        self,
        url: str,
        events: list[dict[str, Any]],
        *,
        timestamp_ms: int | None = None,
        signature: str | None = None,
    ) -> Delivery:
        """POST ``events`` signed like HubSpot (see :meth:`WebhookQueue.deliver`)."""
        return self.webhooks.deliver(url, events, timestamp_ms=timestamp_ms, signature=signature)

    def deliver_webhooks(self, url: str, *, batch_size: int = 100) -> list[Delivery]:
        """Send the queued events; batches that do not get a 2xx stay queued."""
        return self.webhooks.deliver_pending(url, batch_size=batch_size)

    # -- HTTP ---------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        objects, one = r"/crm/v3/objects/(?P<kind>[^/]+)", r"/(?P<object_id>[^/]+)"
        batch = r"/batch/(?P<action>read|create|update|upsert|archive)"
        return [
            ("GET", objects, self._list),
            ("POST", objects, self._create),
            ("POST", objects + "/search", self._search),
            ("POST", objects + batch, self._batch),
            ("GET", objects + one, self._read),
            ("PATCH", objects + one, self._patch),
            ("DELETE", objects + one, self._delete),
        ]

    def authenticate(self, request: RecordedRequest) -> Reply | None:
        if request.header("authorization") != f"Bearer {self.token}":
            return self.unauthorized_reply(request)
        return None

    def unauthorized_reply(self, request: RecordedRequest) -> Reply:
        message = (
            "Authentication credentials not found. This API supports OAuth 2.0 authentication"
            " and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
        )
        return error(401, message, "INVALID_AUTHENTICATION")

    def rate_limited_reply(self, request: RecordedRequest, fault: Fault | None) -> Reply:
        if request.path.endswith("/search"):
            return error(429, "You have reached your secondly limit.", "RATE_LIMITS")
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING",
        }
        return Reply(429, body)

    def server_error_reply(self, request: RecordedRequest, status: int) -> Reply:
        if status == 500:
            return error(500, "internal error", "INTERNAL_ERROR")
        return super().server_error_reply(request, status)

    def not_found_reply(self, request: RecordedRequest) -> Reply:
        return error(404, f"Unable to route {request.method} {request.path}", "OBJECT_NOT_FOUND")

    def decorate(self, request: RecordedRequest, reply: Reply) -> None:
        if request.path.endswith("/search") or reply.status == 401:
            return
        now = time.monotonic()
        with self.lock:
            self._calls.append(now)
            while self._calls and self._calls[0] < now - RATE_INTERVAL_MS / 1000:
                self._calls.popleft()
            self._daily += 1
            remaining = 0 if reply.status == 429 else max(RATE_MAX - len(self._calls), 0)
            reply.headers.update(
                {
                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(RATE_INTERVAL_MS),
                    "X-HubSpot-RateLimit-Max": str(RATE_MAX),
                    "X-HubSpot-RateLimit-Remaining": str(remaining),
                    "X-HubSpot-RateLimit-Daily": str(RATE_DAILY),
                    "X-HubSpot-RateLimit-Daily-Remaining": str(max(RATE_DAILY - self._daily, 0)),
                }
            )

    # -- handlers -------------------------------------------------------------------------------

    def _list(self, request: RecordedRequest, kind: str) -> Reply:
        objects = self._objects(kind)
        limit = _int_arg(request, "limit", 10, LIST_MAX_LIMIT)
        index = objects.archived if request.arg("archived") == "true" else objects.live
        start = 0
        if after := request.arg("after"):
            try:
                start = index.left(int(base64.b64decode(after, validate=True)))
            except (ValueError, binascii.Error):
                raise refuse(f"Invalid after cursor: {after}") from None
        ids = index.slice(start, start + limit + 1)
        properties = _properties(request)
        body: dict[str, Any] = {
            "results": [objects.render(objects.records[i], properties) for i in ids[:limit]]
        }
        if len(ids) > limit:
            token = _cursor(ids[limit])
            query = {k: ",".join(v) for k, v in request.query.items()} | {"after": token}
            link = f"{self.url}{request.path}?{urlencode(query)}"
            body["paging"] = {"next": {"after": token, "link": link}}
        return Reply(200, body)

    def _read(self, request: RecordedRequest, kind: str, object_id: str) -> Reply:
        objects = self._objects(kind)
        record = objects.find(object_id, request.arg("idProperty"))
        if record is None and request.arg("archived") == "true" and object_id.isdigit():
            record = objects.records.get(int(object_id))
            record = record if record is not None and record.archived_ms is not None else None
        if record is None:
            raise missing(object_id)
        return Reply(200, objects.render(record, _properties(request)))

    def _create(self, request: RecordedRequest, kind: str) -> Reply:
        objects = self._objects(kind)
        properties = checked(objects, json_body(request).get("properties"))
        record = self.crm.insert(objects, properties, SOURCE, _operation(request))
        return Reply(201, objects.render(record, list(properties)))

    def _patch(self, request: RecordedRequest, kind: str, object_id: str) -> Reply:
        objects = self._objects(kind)
        record = objects.find(object_id, request.arg("idProperty"))
        if record is None:
            raise missing(object_id)
        properties = checked(objects, json_body(request).get("properties"), record)
        self.crm.change(objects, record, properties, SOURCE, _operation(request))
        return Reply(200, objects.render(record, list(properties)))

    def _delete(self, request: RecordedRequest, kind: str, object_id: str) -> Reply:
        objects = self._objects(kind)
        record = objects.find(object_id)
        if record is None:
            raise missing(object_id)
        self.crm.archive(objects, record, SOURCE, _operation(request))
        return Reply(204)

    def _batch(self, request: RecordedRequest, kind: str, action: str) -> Reply:
        return batch(self.crm, self._objects(kind), request, action)

    def _search(self, request: RecordedRequest, kind: str) -> Reply:
        objects = self._objects(kind)
        if self._search_throttled(request):
            return self.rate_limited_reply(request, None)
        try:
            search = parse_search(request.json, objects.schema)
        except CrmError as exc:
            raise refuse(exc.message) from None
        if search.offset >= SEARCH_RESULT_CAP:
            message = (
                f"The search API returns at most {SEARCH_RESULT_CAP} results for a query;"
                " narrow the filters to reach the rest."
            )
            raise refuse(message)
        total, records = run_search(objects, search)
        records = records[: SEARCH_RESULT_CAP - search.offset]
        body: dict[str, Any] = {
            "total": total,
            "results": [objects.render(r, search.properties) for r in records],
        }
        if records and search.offset + len(records) < total:
            body["paging"] = {"next": {"after": str(search.offset + len(records))}}
        return Reply(200, body)

    def _search_throttled(self, request: RecordedRequest) -> bool:
        if self.search_rate_limit is None:
            return False
        allowed, seconds = self.search_rate_limit
        now = time.monotonic()
        while self._searches and self._searches[0] <= now - seconds:
            self._searches.popleft()
        if len(self._searches) >= allowed:
            return True
        self._searches.append(now)
        return False

    def _objects(self, kind: str) -> Objects:
        objects = self.crm.objects.get(kind)
        if objects is None:
            raise refuse(f"Unable to infer object type from: {kind}")
        return objects


def _live(objects: Objects, object_id: str) -> Record:
    record = objects.find(object_id)
    if record is None:
        raise KeyError(f"no live {objects.schema.singular} {object_id}")
    return record


def _operation(request: RecordedRequest) -> str:
    return f"{request.method} {request.path}"


def _cursor(record_id: int) -> str:
    return base64.b64encode(str(record_id).encode()).decode()


def _properties(request: RecordedRequest) -> list[str] | None:
    names = [n.strip() for v in request.query.get("properties", []) for n in v.split(",")]
    return [n for n in names if n] or None


def _int_arg(request: RecordedRequest, name: str, default: int, maximum: int) -> int:
    raw = request.arg(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = -1
    if not 1 <= value <= maximum:
        raise refuse(f"{name} must be between 1 and {maximum}, got {raw}")
    return value
