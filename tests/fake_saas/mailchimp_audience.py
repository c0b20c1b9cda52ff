"""Mailchimp audience members in memory: the member shape, the orders members are listed in,
and the ``fields``/``exclude_fields`` projection.

Documented behaviour (mailchimp.com/developer "Marketing API: List members", and the error
glossary): a member's ``id`` is the MD5 hash of the lower-cased e-mail address (the "subscriber
hash"); ``status`` is one of subscribed, unsubscribed, cleaned, pending, transactional, or
archived once deleted; ``merge_fields`` hold FNAME, LNAME, ADDRESS, PHONE, BIRTHDAY; times are
ISO 8601 with an offset (``2015-10-21T15:41:36+00:00``) and ``last_changed`` moves on every
change. ``fields``/``exclude_fields`` take comma-separated dotted paths
(``members.email_address,total_items``); an unknown path is 422 RequestedFieldsInvalid.

The list order with no filter is the order members joined. With ``since_last_changed`` /
``before_last_changed`` or ``sort_field=last_changed`` the fake serves the ``last_changed``
index instead (O(log N + page)); Mailchimp documents no default order, so a connector must not
assume one. "Changed after" is taken literally: strictly after the given second.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from tests.fake_saas.clock import iso_seconds
from tests.fake_saas.index import SortedIndex

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
MERGE_FIELDS = ("FNAME", "LNAME", "ADDRESS", "PHONE", "BIRTHDAY")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


@dataclass
class Audience:
    """One list ("audience") and its indexes; archived members leave the live indexes."""

    id: str
    name: str
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    changed_ms: dict[str, int] = field(default_factory=dict)
    joined: SortedIndex = field(default_factory=SortedIndex)  # (seq, hash), live
    by_change: SortedIndex = field(default_factory=SortedIndex)  # (ms, seq, hash), live
    archived: SortedIndex = field(default_factory=SortedIndex)  # (seq, hash)
    next_seq: int = 1

    def new_member(
        self, email: str, status: str, merge_fields: dict[str, Any], at_ms: int, source: str
    ) -> dict[str, Any]:
        member = member_shape(self.id, email, status, at_ms, source)
        set_merge_fields(member, merge_fields)
        key = member["id"]
        self.members[key], self.seq[key], self.changed_ms[key] = member, self.next_seq, at_ms
        self.next_seq += 1
        self.joined.add((self.seq[key], key))
        self.by_change.add((at_ms, self.seq[key], key))
        return member

    def touch(self, key: str, at_ms: int) -> None:
        """Record a change: ``last_changed`` moves and the member moves in the change index."""
        member = self.members[key]
        if member["status"] != "archived":
            self.by_change.remove((self.changed_ms[key], self.seq[key], key))
            self.by_change.add((at_ms, self.seq[key], key))
        self.changed_ms[key] = at_ms
        member["last_changed"] = iso_seconds(at_ms)

    def rekey(self, old: str, email: str) -> str:
        """Move a member to the hash of its new address (an e-mail change)."""
        new = subscriber_hash(email)
        member = self.members.pop(old)
        seq, ms = self.seq.pop(old), self.changed_ms.pop(old)
        self.joined.remove((seq, old))
        self.by_change.remove((ms, seq, old))
        member["id"], member["email_address"] = new, email
        self.members[new], self.seq[new], self.changed_ms[new] = member, seq, ms
        self.joined.add((seq, new))
        self.by_change.add((ms, seq, new))
        return new

    def archive(self, key: str, at_ms: int) -> None:
        seq = self.seq[key]
        self.joined.remove((seq, key))
        self.by_change.remove((self.changed_ms[key], seq, key))
        self.archived.add((seq, key))
        self.members[key]["status"] = "archived"
        self.touch(key, at_ms)

    def unarchive(self, key: str, status: str, at_ms: int) -> None:
        seq = self.seq[key]
        self.archived.remove((seq, key))
        self.joined.add((seq, key))
        self.by_change.add((self.changed_ms[key], seq, key))
        self.members[key]["status"] = status
        self.touch(key, at_ms)

    def page(
        self,
        *,
        offset: int,
        count: int,
        status: str | None,
        since_ms: int | None,
        before_ms: int | None,
        sort_field: str | None,
        descending: bool,
    ) -> tuple[int, list[str]]:
        """``(total_items, subscriber hashes of the page)``."""
        if status is None and sort_field is None and since_ms is None and before_ms is None:
            keys = self.joined.slice(offset, offset + count)
            return len(self.joined), [key[-1] for key in keys]
        if status is None and sort_field in (None, "last_changed"):
            # Keys are (ms, seq, hash): (ms,) sorts before every key of that instant.
            low = 0 if since_ms is None else self.by_change.left((since_ms + 1,))
            high = len(self.by_change)
            if before_ms is not None:
                high = self.by_change.left((before_ms,))
            if descending:
                keys = self.by_change.slice(max(high - offset - count, low), high - offset)[::-1]
            else:
                keys = self.by_change.slice(low + offset, min(low + offset + count, high))
            return max(high - low, 0), [key[-1] for key in keys]
        source = self.archived if status == "archived" else self.joined
        hits = [key[-1] for key in source if self._selected(key[-1], status, since_ms, before_ms)]
        if sort_field is not None:
            hits.sort(key=lambda h: (self._sort_value(h, sort_field), self.seq[h]))
            if descending:
                hits.reverse()
        return len(hits), hits[offset : offset + count]

    def _selected(
        self, key: str, status: str | None, since_ms: int | None, before_ms: int | None
    ) -> bool:
        ms = self.changed_ms[key]
        if status is not None and self.members[key]["status"] != status:
            return False
        return (since_ms is None or ms > since_ms) and (before_ms is None or ms < before_ms)

    def _sort_value(self, key: str, sort_field: str) -> str:
        if sort_field == "last_changed":
            return f"{self.changed_ms[key]:020d}"
        return str(self.members[key].get(sort_field) or "")


def member_shape(list_id: str, email: str, status: str, at_ms: int, source: str) -> dict[str, Any]:
    """A member as the API returns it (before ``_links``), with empty merge fields."""
    digest = hashlib.sha1(f"{list_id}:{email.lower()}".encode()).hexdigest()
    member: dict[str, Any] = {
        "id": subscriber_hash(email),
        "email_address": email,
        "unique_email_id": digest[:10],
        "contact_id": digest[8:40],
        "full_name": "",
        "web_id": int(digest[:7], 16),
        "email_type": "html",
        "status": status,
        "consents_to_one_to_one_messaging": True,
        "merge_fields": {name: "" for name in MERGE_FIELDS},
        "interests": {},
        "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
        "ip_signup": "",
        "timestamp_signup": "",
        "ip_opt": "",
        "timestamp_opt": iso_seconds(at_ms) if status == "subscribed" else "",
        "member_rating": 2,
        "last_changed": iso_seconds(at_ms),
        "language": "",
        "vip": False,
        "email_client": "",
        "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0,
                     "country_code": "", "timezone": "", "region": ""},
        "source": source,
        "tags_count": 0,
        "tags": [],
        "list_id": list_id,
    }  # fmt: skip
    return member


def set_merge_fields(member: dict[str, Any], values: dict[str, Any]) -> bool:
    """Apply the known merge tags (unknown ones are ignored); returns whether any changed."""
    merge = member["merge_fields"]
    before = dict(merge)
    for name, value in values.items():
        if name in MERGE_FIELDS:
            merge[name] = value if isinstance(value, dict) else "" if value is None else str(value)
    member["full_name"] = f"{merge['FNAME']} {merge['LNAME']}".strip()
    return merge != before


class FieldsInvalid(ValueError):
    pass


def project(
    data: dict[str, Any],
    fields: str | None,
    exclude: str | None,
    template: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply Mailchimp's ``fields`` / ``exclude_fields`` (dotted paths, comma-separated).

    Paths are checked against ``template`` (a response with one item in each list) so that an
    empty page still refuses a misspelt field."""
    shape = template or data
    if fields:
        paths = [p.strip().split(".") for p in fields.split(",") if p.strip()]
        for path in paths:
            _check(shape, path)
        data = _keep(data, paths)
    if exclude:
        for path in (p.strip().split(".") for p in exclude.split(",") if p.strip()):
            _check(shape, path)
            _drop(data, path)
    return data


def _check(value: Any, path: list[str]) -> None:
    if isinstance(value, list):
        for item in value[:1]:
            _check(item, path)
        return
    if not isinstance(value, dict) or path[0] not in value:
        raise FieldsInvalid(".".join(path))
    if len(path) > 1:
        _check(value[path[0]], path[1:])


def _keep(value: Any, paths: list[list[str]]) -> Any:
    if isinstance(value, list):
        return [_keep(item, paths) for item in value]
    if not isinstance(value, dict):
        return value
    kept: dict[str, Any] = {}
    for name in dict.fromkeys(path[0] for path in paths):
        deeper = [path[1:] for path in paths if path[0] == name]
        whole = any(not rest for rest in deeper)
        kept[name] = value[name] if whole else _keep(value[name], deeper)
    return kept


def _drop(value: Any, path: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _drop(item, path)
    elif isinstance(value, dict) and path[0] in value:
        if len(path) == 1:
            del value[path[0]]
        else:
            _drop(value[path[0]], path[1:])
