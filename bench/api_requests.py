"""The HTTP requests of each API phase, built on demand from the request number."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

import contact_data as data
from load_client import Request

BATCH = 100


class ContactRequests:
    """Requests against one contacts record type; ``ids`` fills while the bulk load runs."""

    def __init__(self, base: str, records: int) -> None:
        self.base, self.records = base, records
        self.ids: list[int] = []

    def bulk_bodies(self) -> list[bytes]:
        """Every bulk body, prepared before the phase so the client only sends."""
        return [
            json.dumps({"items": [{"fields": data.contact(i)} for i in range(s, end)]}).encode()
            for s in range(0, self.records, BATCH)
            for end in [min(s + BATCH, self.records)]
        ]

    def keep_ids(self, i: int, payload: bytes) -> bool:
        results = json.loads(payload)["results"]
        self.ids.extend(r["id"] for r in results)
        return all(r["status"] == "created" for r in results)

    def create(self, i: int) -> Request:
        return "POST", self.base, json.dumps({"fields": data.contact(i, tag="n")}).encode()

    def get(self, i: int) -> Request:
        return "GET", f"{self.base}/{self.ids[data.pick(i, len(self.ids), 1)]}", None

    def page(self, i: int) -> Request:
        status, amount = data.filter_params(i)
        flt = [
            {"field": "status", "op": "eq", "value": status},
            {"field": "amount", "op": "gt", "value": amount},
        ]
        query = quote(json.dumps(flt, separators=(",", ":")))
        return "GET", f"{self.base}?filter={query}&sort=name&limit=25", None

    def email(self, i: int) -> Request:
        email = data.email_of(data.pick(i, self.records, 2))
        flt = quote(json.dumps([{"field": "email", "op": "eq", "value": email}]))
        return "GET", f"{self.base}?filter={flt}&limit=1", None

    def update(self, i: int) -> Request:
        body = json.dumps({"fields": {"amount": data.new_amount(i)}}).encode()
        return "PATCH", f"{self.base}/{self.ids[data.pick(i, len(self.ids), 3)]}", body

    def phases(
        self,
    ) -> dict[str, tuple[Callable[[int], Request], Callable[[int, bytes], bool] | None]]:
        """operation -> (request builder, check of a 2xx body: False counts as a miss)."""
        return {
            "create": (self.create, None),
            "get": (self.get, None),
            "page": (self.page, has_items),
            "email": (self.email, has_items),
            "update": (self.update, None),
        }


def has_items(i: int, payload: bytes) -> bool:
    return b'"items":[]' not in payload
