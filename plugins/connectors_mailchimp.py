"""Built-in connector ``mailchimp``: the members of one audience (Marketing API 3.0).

Read from mailchimp.com/developer ("List members info", "Sync audience data with webhooks",
"Fundamentals"):

* The API lives at ``https://<dc>.api.mailchimp.com/3.0/``, the data center being the end of
  the API key (``...-us6``); HTTP Basic with any user name and the key as password.
* A member's id is the MD5 of the lower-cased address (the "subscriber hash").
* Members are read oldest change first (``sort_field=last_changed``). ``since_last_changed``
  means strictly after a second, and many members share a second (an import), so the cursor
  is a ``Watermark``: the last second read and the members read at it; the next page asks
  from just before that second and skips them.
* The status is what the workspace cares about: subscribed, unsubscribed, cleaned (the
  address bounced), pending (not confirmed yet), transactional (never subscribed). It comes
  in as ``status`` and as three yes/no properties a field can be mapped to: marketing consent
  (subscribed only), email invalid (cleaned), unsubscribed (opted out).
* Webhooks are form-encoded and unsigned (the secret address is the check); the member's
  current state is read back before anything is written.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

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
    Watermark,
    WebhookHit,
    WebhookRequest,
    hookimpl,
    json_of,
)

PAGE = 100
MERGE = {"first_name": "FNAME", "last_name": "LNAME", "phone": "PHONE"}
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")

MEMBERS = RemoteObject(
    "members",
    "Audience members",
    (
        RemoteProperty("email", "Email address", "email", read_only=True),
        RemoteProperty("first_name", "First name (FNAME)"),
        RemoteProperty("last_name", "Last name (LNAME)"),
        RemoteProperty("phone", "Phone (PHONE)", "phone"),
        RemoteProperty("status", "Status", read_only=True),
        RemoteProperty("marketing_consent", "Marketing consent (subscribed)", "checkbox", True),
        RemoteProperty("email_invalid", "Email invalid (cleaned)", "checkbox", True),
        RemoteProperty("unsubscribed", "Unsubscribed (opted out)", "checkbox", True),
    ),
)


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


class Mailchimp(Connector):
    kind = "mailchimp"
    label = "Mailchimp"
    default_base_url = "https://us1.api.mailchimp.com/3.0/"
    credentials = (
        Credential("api_key", "API key", hint="Ends in its data center, e.g. ...-us6"),
        Credential("list_id", "Audience ID", secret=False, hint="Audience > Settings"),
    )
    objects = (MEMBERS,)
    can_push = True
    webhook_help = (
        "Add this address as the audience's webhook (subscribes, unsubscribes, profile "
        "updates, cleaned addresses; from users and admins, not from the API)."
    )

    def base_url(self, config: Mapping[str, str]) -> str:
        center = str(config.get("api_key", "")).rpartition("-")[2]
        return (
            f"https://{center}.api.mailchimp.com/3.0/"
            if center.isalnum()
            else self.default_base_url
        )

    def headers(self, config: Mapping[str, str]) -> dict[str, str]:
        token = base64.b64encode(f"workspace:{config.get('api_key', '')}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def check(self, api: Api) -> None:
        list_id = _list_id(api)
        api.get(f"lists/{list_id}", params={"fields": "id,name"}, step="reading the audience")

    def pull(self, api: Api, object: str, cursor: Any) -> Iterator[Page]:
        mark = Watermark(cursor)
        step = "listing audience members"
        path = f"lists/{_list_id(api)}/members"
        while True:
            params: dict[str, Any] = {
                "count": PAGE,
                "offset": mark.offset,
                "sort_field": "last_changed",
                "sort_dir": "ASC",
            }
            if mark.since is not None:  # strictly after the second before: that second on
                before = _instant(mark.since) - timedelta(seconds=1)
                params["since_last_changed"] = before.isoformat()
            body = json_of(api.get(path, params=params, step=step), step)
            members = [m for m in body.get("members") or [] if isinstance(m, dict)]
            if not members:
                return
            stamps = [(str(m.get("id")), _second(m)) for m in members]
            fresh = mark.read(stamps)
            yield Page([self._row(members[i]) for i in fresh], mark.cursor())
            if len(members) < PAGE:
                return

    def _row(self, member: Any) -> RemoteRow:
        if not isinstance(member, dict):
            return RemoteRow(None, {}, member, problem="a member that is not an object")
        email, status = member.get("email_address"), member.get("status")
        remote_id = member.get("id")
        if not isinstance(remote_id, str) or not remote_id:
            return RemoteRow(None, {}, member, problem="the member has no id")
        if not isinstance(email, str) or status not in STATUSES:
            return RemoteRow(
                remote_id, {}, member, problem="email_address or status: missing or not text"
            )
        merge = member.get("merge_fields") or {}
        if not isinstance(merge, dict):
            return RemoteRow(remote_id, {}, member, problem="merge_fields: not an object")
        values: dict[str, Any] = {"email": email, "status": status}
        for name, tag in MERGE.items():
            value = merge.get(tag)
            if value is not None and not isinstance(value, str):
                return RemoteRow(remote_id, {}, member, problem=f"merge_fields.{tag}: not text")
            values[name] = value or None
        values |= {
            "marketing_consent": status == "subscribed",
            "email_invalid": status == "cleaned",
            "unsubscribed": status == "unsubscribed",
        }
        return RemoteRow(remote_id, values, member, deleted=status == "archived")

    def fetch(self, api: Api, object: str, remote_ids: list[str]) -> list[RemoteRow]:
        path = f"lists/{_list_id(api)}/members"
        rows = []
        for remote_id in remote_ids:
            try:
                response = api.get(f"{path}/{remote_id}", step="reading a member")
            except RemoteError as exc:
                if exc.status != 404:
                    raise
                rows.append(RemoteRow(remote_id, {}, {"id": remote_id}, deleted=True))
                continue
            rows.append(self._row(json_of(response, "reading a member")))
        return rows

    def push(self, api: Api, object: str, changes: list[Change]) -> list[PushResult]:
        path = f"lists/{_list_id(api)}/members"
        results = []
        for change in changes:
            merge = {
                MERGE[k]: "" if v is None else str(v)
                for k, v in change.values.items()
                if k in MERGE
            }
            if not merge:
                results.append(PushResult(change.remote_id))
                continue
            try:
                api.request(
                    "PATCH",
                    f"{path}/{change.remote_id}",
                    json={"merge_fields": merge},
                    step="updating a member",
                )
            except RemoteError as exc:
                if exc.status not in (400, 404):
                    raise
                results.append(PushResult(change.remote_id, exc.message))
                continue
            results.append(PushResult(change.remote_id))
        return results

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookHit]:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        kind = form.get("type", "")
        email = form.get("data[new_email]") if kind == "upemail" else form.get("data[email]")
        if not email:
            return []
        deleted = kind == "unsubscribe" and form.get("data[action]") == "delete"
        return [WebhookHit("members", subscriber_hash(email), deleted=deleted)]


def _window(state: dict[str, Any]) -> dict[str, Any]:
    """The query of the next page. After a second read to its end, members changed strictly
    after it; inside a second (a page ended in it), from that second on, skipping those
    read (a member changed meanwhile leaves the second and would shift an offset kept
    across pulls)."""
    params: dict[str, Any] = {"count": PAGE, "sort_field": "last_changed", "sort_dir": "ASC"}
    if state["since"] and state.get("complete"):
        params |= {"since_last_changed": state["since"], "offset": 0}
    elif state["since"]:
        before = _instant(state["since"]) - timedelta(seconds=1)
        params |= {"since_last_changed": before.isoformat(), "offset": state["done"]}
    else:
        params["offset"] = state["done"]
    return params


def _list_id(api: Api) -> str:
    list_id = str(api.config.get("list_id") or "").strip()
    if not list_id.isalnum():
        raise RemoteError("the audience id is missing or not an id", step="reading the settings")
    return list_id


def _second(member: dict[str, Any]) -> str | None:
    """The member's last change, in one spelling (offsets vary), for the watermark."""
    try:
        return _instant(str(member.get("last_changed") or "")).isoformat()
    except ValueError:
        return None


def _instant(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@hookimpl
def register_connectors(register: Any) -> None:
    register(Mailchimp)
