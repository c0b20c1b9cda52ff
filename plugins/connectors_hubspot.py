"""Built-in connector ``hubspot``: CRM contacts and companies (HubSpot CRM API v3).

Read from developers.hubspot.com ("CRM API | Objects", "CRM API | Search", "Webhooks API",
"Validating requests from HubSpot"):

* A first pull lists every record with ``GET /crm/v3/objects/{type}`` in pages of 100,
  following ``paging.next.after``. Before it starts, one search finds the newest
  last-modified time: changes after that are what the next, incremental pull reads.
* Incremental pulls search ``lastmodifieddate`` (``hs_lastmodifieddate`` on companies: the
  property differs per object) at or after a lower bound, oldest first. Search answers at most
  10,000 results per query, so every page moves the lower bound up to the last modified time
  read and skips the rows already read at that very millisecond (a ``Watermark``), instead
  of paging with a growing offset.
* ``batch/read`` fetches rows a webhook named (a missing id means the record is archived or
  gone: deleted), ``batch/update`` pushes changes (the same values twice is no change).
* Webhooks are signed with v3: base64(HMAC-SHA256(app secret, method + URI + body +
  timestamp)), the URI with some escapes decoded first; requests older than 5 minutes are
  refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from workspace import (
    Api,
    Change,
    Connector,
    Credential,
    Page,
    PushResult,
    RemoteObject,
    RemoteProperty,
    RemoteRow,
    Watermark,
    WebhookHit,
    WebhookRefused,
    WebhookRequest,
    hookimpl,
    json_of,
)

PAGE = 100
#: Webhook requests older than this are refused (HubSpot's own advice).
MAX_AGE_MS = 5 * 60 * 1000
#: Escapes HubSpot decodes in the URI before signing.
_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")

CONTACTS = RemoteObject(
    "contacts",
    "Contacts",
    (
        RemoteProperty("email", "Email", "email"),
        RemoteProperty("firstname", "First name"),
        RemoteProperty("lastname", "Last name"),
        RemoteProperty("phone", "Phone number", "phone"),
        RemoteProperty("mobilephone", "Mobile phone number", "phone"),
        RemoteProperty("company", "Company name"),
        RemoteProperty("jobtitle", "Job title"),
        RemoteProperty("website", "Website URL"),
        RemoteProperty("address", "Street address"),
        RemoteProperty("city", "City"),
        RemoteProperty("state", "State/Region"),
        RemoteProperty("zip", "Postal code"),
        RemoteProperty("country", "Country/Region"),
        RemoteProperty("lifecyclestage", "Lifecycle stage"),
        RemoteProperty("hs_lead_status", "Lead status"),
    ),
)
COMPANIES = RemoteObject(
    "companies",
    "Companies",
    (
        RemoteProperty("name", "Company name"),
        RemoteProperty("domain", "Company domain name"),
        RemoteProperty("phone", "Phone number", "phone"),
        RemoteProperty("address", "Street address"),
        RemoteProperty("city", "City"),
        RemoteProperty("state", "State/Region"),
        RemoteProperty("zip", "Postal code"),
        RemoteProperty("country", "Country/Region"),
        RemoteProperty("industry", "Industry"),
        RemoteProperty("website", "Website URL"),
        RemoteProperty("numberofemployees", "Number of employees", "number"),
        RemoteProperty("description", "Description", "long_text"),
    ),
)
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
SINGULAR = {"contact": "contacts", "company": "companies"}


class HubSpot(Connector):
    kind = "hubspot"
    label = "HubSpot"
    default_base_url = "https://api.hubapi.com"
    credentials = (
        Credential("access_token", "Private app access token", hint="pat-..."),
        Credential(
            "client_secret",
            "App client secret",
            hint="Only to check the signatures of webhooks; leave empty without webhooks",
            required=False,
        ),
    )
    objects = (CONTACTS, COMPANIES)
    can_push = True
    webhook_help = "Subscribe the app's webhooks (creation, property change, deletion) here."

    def headers(self, config: Mapping[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {config.get('access_token', '')}"}

    def check(self, api: Api) -> None:
        api.get("/crm/v3/objects/contacts", params={"limit": 1}, step="reading contacts")

    # ---- pulling -------------------------------------------------------------------

    def pull(self, api: Api, object: str, cursor: Any) -> Iterator[Page]:
        state = dict(cursor or {})
        if state.get("phase") != "changes":
            yield from self._full(api, object, state)
            state = {"phase": "changes", "since": state["since"] + 1, "seen": []}
        yield from self._changes(api, object, state)

    def _full(self, api: Api, object: str, state: dict[str, Any]) -> Iterator[Page]:
        if "since" not in state:  # changes after this one are the next pull's
            state["since"] = self._newest(api, object)
        names = [p.name for p in self._object(object).properties]
        while True:
            params: dict[str, Any] = {"limit": PAGE, "properties": ",".join(names)}
            if state.get("after"):
                params["after"] = state["after"]
            body = json_of(
                api.get(f"/crm/v3/objects/{object}", params=params, step=f"listing {object}"),
                f"listing {object}",
            )
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            rows = [self._row(object, item) for item in body.get("results") or []]
            if not after:
                # Every row modified up to the newest change before the pull began was
                # listed: what comes next changed strictly after it.
                changes = {"since": state["since"] + 1, "seen": []}
                yield Page(rows, {"phase": "changes", **changes})
                return
            state["after"] = after
            yield Page(rows, dict(state, phase="full"))

    def _newest(self, api: Api, object: str) -> int:
        step = f"finding the newest change of {object}"
        search = {
            "sorts": [{"propertyName": MODIFIED[object], "direction": "DESCENDING"}],
            "properties": [MODIFIED[object]],
            "limit": 1,
        }
        body = json_of(api.post(f"/crm/v3/objects/{object}/search", json=search, step=step), step)
        results = body.get("results") or []
        return _modified_ms(object, results[0]) if results else 0

    def _changes(self, api: Api, object: str, state: dict[str, Any]) -> Iterator[Page]:
        names = [p.name for p in self._object(object).properties]
        step = f"searching changed {object}"
        mark = Watermark(state)
        while True:
            search = _search(object, names, int(mark.since or 0), mark.offset)
            response = api.post(f"/crm/v3/objects/{object}/search", json=search, step=step)
            results = [
                r for r in json_of(response, step).get("results") or [] if isinstance(r, dict)
            ]
            if not results:
                return
            fresh = mark.read([(str(r.get("id")), _modified_ms(object, r)) for r in results])
            cursor = {"phase": "changes", **mark.cursor()}
            yield Page([self._row(object, results[i]) for i in fresh], cursor)
            if len(results) < PAGE:
                return

    def _row(self, object: str, item: Any) -> RemoteRow:
        if not isinstance(item, dict):
            return RemoteRow(None, {}, item, problem="a result that is not an object")
        remote_id = item.get("id")
        properties = item.get("properties")
        if (
            not isinstance(remote_id, str | int)
            or isinstance(remote_id, bool)
            or not str(remote_id)
        ):
            return RemoteRow(None, {}, item, problem="the record has no id")
        if not isinstance(properties, dict):
            return RemoteRow(str(remote_id), {}, item, problem="properties: not an object")
        values: dict[str, Any] = {}
        for prop in self._object(object).properties:
            value = properties.get(prop.name)
            if value is not None and not isinstance(value, str | int | float):
                kind = type(value).__name__
                return RemoteRow(
                    str(remote_id), {}, item, problem=f"{prop.name}: a {kind}, not text"
                )
            values[prop.name] = None if value in (None, "") else str(value)
        return RemoteRow(str(remote_id), values, item, deleted=bool(item.get("archived")))

    def _object(self, name: str) -> RemoteObject:
        return CONTACTS if name == "contacts" else COMPANIES

    # ---- reading some, pushing -----------------------------------------------------

    def fetch(self, api: Api, object: str, remote_ids: list[str]) -> list[RemoteRow]:
        step = f"reading {object}"
        found: dict[str, RemoteRow] = {}
        names = [p.name for p in self._object(object).properties]
        for start in range(0, len(remote_ids), PAGE):
            chunk = remote_ids[start : start + PAGE]
            read = {"properties": names, "inputs": [{"id": i} for i in chunk]}
            body = json_of(
                api.post(f"/crm/v3/objects/{object}/batch/read", json=read, step=step), step
            )
            for item in body.get("results") or []:
                row = self._row(object, item)
                if row.remote_id is not None:
                    found[row.remote_id] = row
        gone = [
            RemoteRow(i, {}, {"id": i, "archived": True}, deleted=True)
            for i in remote_ids
            if i not in found
        ]
        return [*found.values(), *gone]

    def push(self, api: Api, object: str, changes: list[Change]) -> list[PushResult]:
        step = f"updating {object}"
        results: list[PushResult] = []
        for start in range(0, len(changes), PAGE):
            chunk = changes[start : start + PAGE]
            inputs = [
                {
                    "id": c.remote_id,
                    "properties": {k: "" if v is None else str(v) for k, v in c.values.items()},
                }
                for c in chunk
            ]
            response = api.post(
                f"/crm/v3/objects/{object}/batch/update", json={"inputs": inputs}, step=step
            )
            body = json_of(response, step)
            missing: set[str] = set()
            for error in body.get("errors") or []:
                missing.update(str(i) for i in ((error.get("context") or {}).get("ids") or []))
            results += [
                PushResult(c.remote_id, "not found in HubSpot" if c.remote_id in missing else None)
                for c in chunk
            ]
        return results

    # ---- webhooks ------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest, config: Mapping[str, str]) -> None:
        secret = config.get("client_secret") or ""
        if not secret:
            raise WebhookRefused("no app client secret is saved to check HubSpot's signature")
        stamp = request.headers.get("x-hubspot-request-timestamp", "")
        given = request.headers.get("x-hubspot-signature-v3", "")
        if not stamp.isdigit() or not given:
            raise WebhookRefused("the v3 signature or its timestamp is missing")
        if abs(time.time() * 1000 - int(stamp)) > MAX_AGE_MS:
            raise WebhookRefused("the request is older than 5 minutes")
        uri = request.url
        for escape in _DECODED:
            uri = uri.replace(escape, unquote(escape)).replace(escape.lower(), unquote(escape))
        message = f"{request.method}{uri}{request.body.decode('utf-8', 'replace')}{stamp}"
        digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), given):
            raise WebhookRefused("the v3 signature does not match")

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookHit]:
        try:
            events = json.loads(request.body)
        except ValueError:
            return []
        hits: dict[tuple[str, str], WebhookHit] = {}
        for event in events if isinstance(events, list) else []:
            if not isinstance(event, dict):
                continue
            kind, _, change = str(event.get("subscriptionType", "")).partition(".")
            object, remote_id = SINGULAR.get(kind), event.get("objectId")
            if object is None or remote_id is None:
                continue
            key = (object, str(remote_id))
            hits[key] = WebhookHit(object, str(remote_id), deleted=change == "deletion")
        return list(hits.values())


def _search(object: str, names: list[str], low: int, skip: int) -> dict[str, Any]:
    """Changes at or after ``low`` (epoch ms), oldest first, skipping ``skip`` of them."""
    bound = {"propertyName": MODIFIED[object], "operator": "GTE", "value": str(low)}
    return {
        "filterGroups": [{"filters": [bound]}],
        "sorts": [{"propertyName": MODIFIED[object], "direction": "ASCENDING"}],
        "properties": names,
        "limit": PAGE,
        "after": str(skip),
    }


def _modified_ms(object: str, item: dict[str, Any]) -> int:
    text = (item.get("properties") or {}).get(MODIFIED[object]) or item.get("updatedAt") or ""
    text = str(text)
    if text.isdigit():
        return int(text)
    try:
        return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


@hookimpl
def register_connectors(register: Any) -> None:
    register(HubSpot)
