"""A fake Mailchimp: Marketing API 3.0 audience members, and its form-encoded webhooks.

Documented behaviour implemented (mailchimp.com/developer unless noted):

* "Fundamentals" / "Quick start": HTTP Basic with any user name and the API key as password;
  the key ends in its data center (``-us6``) and is only valid on ``https://us6.api...``. The
  fake's base URL is :attr:`MailchimpFake.base_url` (``http://127.0.0.1:PORT/3.0/``); a key
  for another data center gets 401 "API Key Invalid" ("Your API key may be invalid, or you've
  attempted to access the wrong data center."), and a ``Host`` naming another data center
  (``us7.api.mailchimp.com``) gets 403 "Wrong Datacenter". OAuth ``Bearer`` tokens work too.
* Errors are RFC 7807 problem documents: ``type, title, status, detail, instance`` (+
  ``errors`` with ``field``/``message`` for "Invalid Resource"), ``application/problem+json``.
* "Fundamentals": at most 10 simultaneous connections; the next one is 429 "Too Many Requests"
  ("You have exceeded the limit of 10 simultaneous connections."). No rate-limit or
  ``Retry-After`` headers are documented, so none are sent unless a test asks.
* "List members info": ``GET /3.0/lists/{list_id}/members`` with ``count`` (default 10, at most
  1000), ``offset``, ``status``, ``since_last_changed``/``before_last_changed``,
  ``sort_field``/``sort_dir``, ``fields``/``exclude_fields``; the answer is
  ``{"members", "list_id", "total_items", "_links"}``. ``GET/PUT/PATCH/DELETE
  .../members/{subscriber_hash}`` (the hash, or the address itself); PUT is add-or-update and
  needs ``status_if_new`` for a new member; POST refuses an existing one ("Member Exists");
  DELETE archives (204). Unsubscribed or cleaned members cannot be set back to ``subscribed``
  ("Member In Compliance State"; ``pending`` sends a confirmation instead).
* "Sync audience data with webhooks": form-encoded POSTs (``type=unsubscribe&fired_at=...
  &data[email]=...&data[merges][FNAME]=...``), types subscribe, unsubscribe (``action`` unsub
  or delete), profile, upemail, cleaned; no signature, so the secret lives in the URL; sources
  user/admin/api (API changes are off by default, to avoid echo loops); a GET checks the URL.

Left out: tags, interests, notes, batch operations, the ``count`` cap's exact error wording
(the fake refuses ``count`` over 1000 with 400 rather than silently capping; strictness is the
safer guess), and campaign events.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any

from tests.fake_saas.faults import Fault
from tests.fake_saas.mailchimp_audience import (
    STATUSES,
    Audience,
    FieldsInvalid,
    member_shape,
    project,
    set_merge_fields,
    subscriber_hash,
)
from tests.fake_saas.mailchimp_problems import (
    check_email,
    check_status,
    instant,
    invalid,
    json_body,
    not_found,
    number,
    problem,
)
from tests.fake_saas.mailchimp_webhooks import WebhookQueue
from tests.fake_saas.people import people
from tests.fake_saas.server import FakeServer, Handler, RecordedRequest, Refusal, Reply, Write
from tests.fake_saas.webhooks import Delivery

__all__ = ["MailchimpFake", "subscriber_hash"]

COUNT_MAX = 1000
_CHANGEABLE = ("status", "merge_fields", "email_address")
_SEED_STATUSES = ["subscribed"] * 17 + ["unsubscribed", "cleaned", "pending"]


class MailchimpFake(FakeServer):
    """Mailchimp on loopback. Audiences are created up front from ``list_ids``."""

    resolution_ms = 1000

    def __init__(
        self,
        *,
        api_key: str = "0123456789abcdef0123456789abcdef-us6",
        datacenter: str = "us6",
        list_ids: Iterable[str] = ("a1b2c3d4e5",),
        max_connections: int = 10,
        oauth_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.api_key, self.datacenter, self.oauth_token = api_key, datacenter, oauth_token
        self.max_connections = max_connections
        self.audiences = {i: Audience(i, f"Audience {i}") for i in list_ids}
        self.in_flight = 0
        super().__init__(**kwargs)
        self.webhooks = WebhookQueue(self.clock)

    @property
    def base_url(self) -> str:
        """What the client uses instead of ``https://<dc>.api.mailchimp.com/3.0/``."""
        return f"{self.url}/3.0/"

    @property
    def list_id(self) -> str:
        return next(iter(self.audiences))

    # -- programmatic API: what people do in the Mailchimp UI or their inbox --------------------

    def add_member(
        self,
        email: str,
        *,
        status: str = "subscribed",
        merge_fields: dict[str, Any] | None = None,
        list_id: str | None = None,
    ) -> str:
        """Add someone as an admin would; returns the subscriber hash."""
        with self.lock:
            audience = self.audiences[list_id or self.list_id]
            at = self.clock.stamp()
            member = audience.new_member(email, status, merge_fields or {}, at, "Admin Add")
            if status == "subscribed":
                self.webhooks.queue(audience, "subscribe", member, "admin")
            return str(member["id"])

    def update_member(
        self, email_or_hash: str, *, list_id: str | None = None, **changes: Any
    ) -> str:
        """Change ``status``, ``merge_fields`` or ``email_address`` as an admin would."""
        with self.lock:
            audience = self.audiences[list_id or self.list_id]
            return self._apply(audience, self._key(email_or_hash), changes, "admin")

    def unsubscribe(self, email_or_hash: str, *, list_id: str | None = None) -> None:
        """The member clicks "unsubscribe" in a campaign (webhook source ``user``)."""
        with self.lock:
            audience = self.audiences[list_id or self.list_id]
            self._apply(audience, self._key(email_or_hash), {"status": "unsubscribed"}, "user")

    def archive_member(self, email_or_hash: str, *, list_id: str | None = None) -> None:
        with self.lock:
            audience = self.audiences[list_id or self.list_id]
            key = self._key(email_or_hash)
            audience.archive(key, self.clock.stamp())
            member = audience.members[key]
            self.webhooks.queue(audience, "unsubscribe", member, "admin", action="delete")

    def member(self, email_or_hash: str, *, list_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            return dict(self.audiences[list_id or self.list_id].members[self._key(email_or_hash)])

    def seed_members(self, count: int, seed: int = 0, *, list_id: str | None = None) -> list[str]:
        """``count`` members from :func:`tests.fake_saas.people.people`, about 85% subscribed
        (the rest unsubscribed, cleaned or pending); no webhook events."""
        with self.lock:
            audience = self.audiences[list_id or self.list_id]
            hashes = []
            for position, person in enumerate(people(count, seed)):
                merge = {"FNAME": person.first_name, "LNAME": person.last_name,
                         "PHONE": person.phone_national,
                         "ADDRESS": {"addr1": person.street, "addr2": "", "city": person.city,
                                     "state": person.region, "zip": person.postal_code,
                                     "country": person.country}}  # fmt: skip
                status = _SEED_STATUSES[(position * 7 + seed) % len(_SEED_STATUSES)]
                at = self.clock.stamp()
                member = audience.new_member(person.email, status, merge, at, "Import")
                hashes.append(str(member["id"]))
            return hashes

    def _key(self, email_or_hash: str) -> str:
        return subscriber_hash(email_or_hash) if "@" in email_or_hash else email_or_hash

    # -- webhooks -------------------------------------------------------------------------------

    @property
    def pending_hooks(self) -> list[dict[str, Any]]:
        """Webhook events not delivered yet, each with the ``source`` that caused it."""
        return self.webhooks.pending

    def deliver(self, url: str, event: dict[str, Any]) -> Delivery:
        """POST one event (``type``, ``fired_at``, ``data``) form-encoded to ``url``."""
        return self.webhooks.deliver(url, event)

    def deliver_webhooks(
        self, url: str, *, sources: tuple[str, ...] = ("user", "admin")
    ) -> list[Delivery]:
        """Send the queued events from ``sources`` (API changes are left out by default)."""
        return self.webhooks.deliver_pending(url, sources=sources)

    def validate_webhook(self, url: str) -> Delivery:
        """The GET Mailchimp sends when a webhook URL is saved."""
        return self.webhooks.validate(url)

    # -- HTTP ---------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        members = r"/3\.0/lists/(?P<list_id>[^/]+)/members"
        one = members + r"/(?P<key>[^/]+)"
        return [
            ("GET", r"/3\.0/ping", self._ping),
            ("GET", r"/3\.0/lists/(?P<list_id>[^/]+)", self._get_list),
            ("GET", members, self._list_members),
            ("POST", members, self._post_member),
            ("GET", one, self._get_member),
            ("PUT", one, self._put_member),
            ("PATCH", one, self._patch_member),
            ("DELETE", one, self._delete_member),
        ]

    def admit(self, request: RecordedRequest) -> Reply | None:
        with self.lock:
            if self.in_flight >= self.max_connections:
                return self.rate_limited_reply(request, None)
            self.in_flight += 1
        return None

    def release(self, request: RecordedRequest) -> None:
        with self.lock:
            self.in_flight -= 1

    def authenticate(self, request: RecordedRequest) -> Reply | None:
        scheme, _, value = (request.header("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and self.oauth_token and value == self.oauth_token:
            key = self.api_key
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(value, validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        else:
            return problem(401, "API Key Missing", "Your request did not include an API key.")
        if key != self.api_key or not key.endswith(f"-{self.datacenter}"):
            return self.unauthorized_reply(request)
        label = (request.header("host") or "").split(".")[0].split(":")[0]
        if re.fullmatch(r"[a-z]+\d+", label) and label != self.datacenter:
            detail = "The API key provided is linked to a different data center."
            return problem(403, "Wrong Datacenter", detail)
        return None

    def unauthorized_reply(self, request: RecordedRequest) -> Reply:
        detail = "Your API key may be invalid, or you've attempted to access the wrong datacenter."
        return problem(401, "API Key Invalid", detail)

    def rate_limited_reply(self, request: RecordedRequest, fault: Fault | None) -> Reply:
        detail = f"You have exceeded the limit of {self.max_connections} simultaneous connections."
        return problem(429, "Too Many Requests", detail)

    def server_error_reply(self, request: RecordedRequest, status: int) -> Reply:
        if status == 500:
            detail = (
                "An unexpected internal error has occurred."
                " Please contact Support for more information."
            )
            return problem(500, "Internal Server Error", detail)
        return super().server_error_reply(request, status)

    def not_found_reply(self, request: RecordedRequest) -> Reply:
        return not_found()

    # -- handlers -------------------------------------------------------------------------------

    def _audience(self, list_id: str) -> Audience:
        audience = self.audiences.get(list_id)
        if audience is None:
            raise Refusal(not_found())
        return audience

    def _ping(self, request: RecordedRequest) -> Reply:
        return Reply(200, {"health_status": "Everything's Chimpy!"})

    def _get_list(self, request: RecordedRequest, list_id: str) -> Reply:
        audience = self._audience(list_id)
        statuses = [m["status"] for m in audience.members.values()]
        stats = {
            "member_count": statuses.count("subscribed"),
            "unsubscribe_count": statuses.count("unsubscribed"),
            "cleaned_count": statuses.count("cleaned"),
        }
        body = {"id": audience.id, "name": audience.name, "stats": stats}
        return self._projected(request, body)

    def _list_members(self, request: RecordedRequest, list_id: str) -> Reply:
        audience = self._audience(list_id)
        status = request.arg("status")
        if status is not None and status not in (*STATUSES, "archived"):
            raise invalid("status", f"Value is not one of enum list: {status}")
        sort_field = request.arg("sort_field")
        if sort_field not in (None, "timestamp_opt", "timestamp_signup", "last_changed"):
            raise invalid("sort_field", f"Value is not one of enum list: {sort_field}")
        total, keys = audience.page(
            offset=number(request, "offset", 0, None),
            count=number(request, "count", 10, COUNT_MAX),
            status=status,
            since_ms=instant(request, "since_last_changed"),
            before_ms=instant(request, "before_last_changed"),
            sort_field=sort_field,
            descending=(request.arg("sort_dir") or "ASC").upper() == "DESC",
        )
        path = f"{self.base_url}lists/{audience.id}/members"
        body = {
            "members": [self._public(audience, key) for key in keys],
            "list_id": audience.id,
            "total_items": total,
            "_links": [
                {"rel": "self", "href": path, "method": "GET"},
                {"rel": "parent", "href": f"{self.base_url}lists/{audience.id}", "method": "GET"},
                {"rel": "create", "href": path, "method": "POST"},
            ],
        }
        example = member_shape(audience.id, "someone@example.com", "subscribed", 0, "")
        example["_links"] = []
        return self._projected(request, body, body | {"members": [example]})

    def _get_member(self, request: RecordedRequest, list_id: str, key: str) -> Reply:
        audience = self._audience(list_id)
        key = self._key(key)
        if key not in audience.members:
            raise Refusal(not_found())
        return self._projected(request, self._public(audience, key))

    def _put_member(self, request: RecordedRequest, list_id: str, key: str) -> Reply:
        audience, body = self._audience(list_id), json_body(request)
        key = self._key(key)
        email = str(body.get("email_address") or "")
        if not email:
            raise invalid("email_address", "This value should not be blank.")
        member = audience.members.get(key)
        if member is None or member["status"] == "archived":
            if subscriber_hash(email) != key:
                message = "The email address does not match the subscriber hash."
                raise invalid("email_address", message)
            status = body.get("status_if_new") or (body.get("status") if member else None)
            if not status:
                raise invalid("status_if_new", "Schema describes string, NULL found instead")
            key = self._create(audience, email, str(status), body, member is not None)
        else:
            changes: dict[str, Any] = {k: body[k] for k in _CHANGEABLE if k in body}
            key = self._apply(audience, key, changes, "api")
        self.writes.append(Write(f"PUT {request.path}", key, body, at_ms=self.clock.now_ms()))
        return Reply(200, self._public(audience, key))

    def _patch_member(self, request: RecordedRequest, list_id: str, key: str) -> Reply:
        audience, body = self._audience(list_id), json_body(request)
        key = self._key(key)
        if key not in audience.members:
            raise Refusal(not_found())
        changes: dict[str, Any] = {k: body[k] for k in _CHANGEABLE if k in body}
        key = self._apply(audience, key, changes, "api")
        self.writes.append(Write(f"PATCH {request.path}", key, body, at_ms=self.clock.now_ms()))
        return Reply(200, self._public(audience, key))

    def _post_member(self, request: RecordedRequest, list_id: str) -> Reply:
        audience, body = self._audience(list_id), json_body(request)
        email = str(body.get("email_address") or "")
        if not email:
            raise invalid("email_address", "This value should not be blank.")
        existing = audience.members.get(subscriber_hash(email))
        if existing is not None and existing["status"] != "archived":
            detail = f"{email} is already a list member. Use PUT to insert or update list members."
            raise Refusal(problem(400, "Member Exists", detail))
        if not body.get("status"):
            raise invalid("status", "Schema describes string, NULL found instead")
        key = self._create(audience, email, str(body["status"]), body, existing is not None)
        self.writes.append(Write(f"POST {request.path}", key, body, at_ms=self.clock.now_ms()))
        return Reply(200, self._public(audience, key))

    def _delete_member(self, request: RecordedRequest, list_id: str, key: str) -> Reply:
        audience = self._audience(list_id)
        key = self._key(key)
        member = audience.members.get(key)
        if member is None or member["status"] == "archived":
            raise Refusal(not_found())
        audience.archive(key, self.clock.stamp())
        self.webhooks.queue(audience, "unsubscribe", member, "api", action="delete")
        self.writes.append(Write(f"DELETE {request.path}", key, None, at_ms=self.clock.now_ms()))
        return Reply(204)

    # -- store helpers --------------------------------------------------------------------------

    def _create(
        self, audience: Audience, email: str, status: str, body: dict[str, Any], archived: bool
    ) -> str:
        check_email(email)
        check_status(status)
        key = subscriber_hash(email)
        at = self.clock.stamp()
        if archived:
            audience.unarchive(key, status, at)
            set_merge_fields(audience.members[key], body.get("merge_fields") or {})
        else:
            audience.new_member(email, status, body.get("merge_fields") or {}, at, "API - Generic")
        if status == "subscribed":
            self.webhooks.queue(audience, "subscribe", audience.members[key], "api")
        return key

    def _apply(self, audience: Audience, key: str, changes: dict[str, Any], source: str) -> str:
        """Apply a change to a live member; returns its (possibly new) subscriber hash."""
        member = audience.members[key]
        status = changes.get("status")
        if status is not None:
            check_status(str(status))
            if status == "subscribed" and member["status"] in ("unsubscribed", "cleaned"):
                detail = (
                    f"{member['email_address']} is in a compliance state due to unsubscribe,"
                    " bounce, or compliance review and cannot be subscribed."
                )
                raise Refusal(problem(400, "Member In Compliance State", detail))
        merge = changes.get("merge_fields") or {}
        if not isinstance(merge, dict):
            raise invalid("merge_fields", "Schema describes object, string found instead")
        at = self.clock.stamp()
        new_email = str(changes.get("email_address") or member["email_address"])
        if new_email.lower() != member["email_address"].lower():
            check_email(new_email)
            if subscriber_hash(new_email) in audience.members:
                detail = f"{new_email} is already a list member."
                raise Refusal(problem(400, "Member Exists", detail))
            old = member["email_address"]
            key = audience.rekey(key, new_email)
            self.webhooks.queue(audience, "upemail", member, source, old_email=old)
            audience.touch(key, at)
        if set_merge_fields(member, merge):
            audience.touch(key, at)
            self.webhooks.queue(audience, "profile", member, source)
        if status is not None and status != member["status"]:
            member["status"] = status
            if status == "subscribed":
                member["timestamp_opt"] = member["last_changed"]
            audience.touch(key, at)
            kind = {"subscribed": "subscribe", "unsubscribed": "unsubscribe"}.get(status)
            kind = "cleaned" if status == "cleaned" else kind
            if kind:
                self.webhooks.queue(audience, kind, member, source)
        return key

    def _public(self, audience: Audience, key: str) -> dict[str, Any]:
        member = dict(audience.members[key])
        href = f"{self.base_url}lists/{audience.id}/members/{key}"
        member["_links"] = [{"rel": "self", "href": href, "method": "GET"}]
        return member

    def _projected(
        self, request: RecordedRequest, body: dict[str, Any], template: Any = None
    ) -> Reply:
        fields, exclude = request.arg("fields"), request.arg("exclude_fields")
        try:
            return Reply(200, project(body, fields, exclude, template))
        except FieldsInvalid as exc:
            detail = f"The fields requested from this resource are invalid: {exc}"
            raise Refusal(problem(422, "Requested Fields Invalid", detail)) from None
