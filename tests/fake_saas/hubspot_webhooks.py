"""HubSpot webhooks: the events a change queues, their delivery, and the request signatures.

Documented behaviour (developers.hubspot.com "Webhooks API" and "Validating requests from
HubSpot"; github.com/HubSpot/hubspot-api-python ``hubspot/utils/signature.py``): HubSpot POSTs
a JSON array of up to 100 events (``eventId, subscriptionId, portalId, appId, occurredAt,
subscriptionType`` such as ``contact.propertyChange``, ``attemptNumber, objectId,
changeSource``, and ``propertyName``/``propertyValue`` for property changes). The v3 signature
is base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) with the timestamp from
``X-HubSpot-Request-Timestamp`` in epoch milliseconds; receivers reject timestamps older than
5 minutes. Before signing, HubSpot decodes a fixed set of percent-escapes in the URI. The
legacy v1 header (SHA-256 hex of secret + body, ``X-HubSpot-Signature-Version: v1``) is sent
too. A delivery that does not get a 2xx stays queued and is retried with ``attemptNumber`` + 1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from typing import Any
from urllib.parse import unquote

from tests.fake_saas.clock import Clock
from tests.fake_saas.hubspot_crm import ObjectSchema, Record
from tests.fake_saas.webhooks import Delivery, post

_SUBSCRIPTIONS = {"creation": 1, "propertyChange": 2, "deletion": 3}
# HubSpot decodes these in the request URI before signing (docs, "Validate the v3 signature").
_DECODED_IN_URI = ("%3A", "%2F", "%3F", "%40", "%21", "%24",
                   "%27", "%28", "%29", "%2A", "%2C", "%3B")  # fmt: skip


def signature_v3(
    client_secret: str, method: str, uri: str, body: bytes | str, timestamp_ms: int | str
) -> str:
    """The ``X-HubSpot-Signature-v3`` value for a request (HubSpot's documented algorithm)."""
    for encoded in _DECODED_IN_URI:
        uri = uri.replace(encoded, unquote(encoded)).replace(encoded.lower(), unquote(encoded))
    text = body.decode() if isinstance(body, bytes) else body
    message = f"{method}{uri}{text}{timestamp_ms}".encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_v1(client_secret: str, body: bytes | str) -> str:
    """The legacy ``X-HubSpot-Signature`` (version v1): SHA-256 hex of secret + body."""
    text = body.decode() if isinstance(body, bytes) else body
    return hashlib.sha256(f"{client_secret}{text}".encode()).hexdigest()


class WebhookQueue:
    """The events waiting for delivery, and their delivery, for one HubSpot app."""

    def __init__(self, clock: Clock, client_secret: str, portal_id: int, app_id: int) -> None:
        self.clock, self.client_secret = clock, client_secret
        self.portal_id, self.app_id = portal_id, app_id
        self.pending: list[dict[str, Any]] = []
        self._next_event = 1
        self._lock = threading.Lock()

    def queue(
        self,
        schema: ObjectSchema,
        change: str,
        record: Record,
        source: str,
        name: str | None,
        value: str | None,
    ) -> None:
        """Record one change (a :data:`~tests.fake_saas.hubspot_crm.Listener`)."""
        event: dict[str, Any] = {
            "eventId": 0,
            "subscriptionId": _SUBSCRIPTIONS[change],
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": self.clock.now_ms(),
            "subscriptionType": f"{schema.singular}.{change}",
            "attemptNumber": 0,
            "objectId": record.id,
            "changeSource": source,
        }
        if name is not None:
            event |= {"propertyName": name, "propertyValue": value}
        with self._lock:
            event["eventId"], self._next_event = self._next_event, self._next_event + 1
            self.pending.append(event)

    def deliver(
        self,
        url: str,
        events: list[dict[str, Any]],
        *,
        timestamp_ms: int | None = None,
        signature: str | None = None,
    ) -> Delivery:
        """POST ``events`` to ``url`` signed like HubSpot; override ``timestamp_ms`` (stale
        requests) or ``signature`` (forged ones) to test the receiver's checks."""
        body = json.dumps(events).encode()
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": str(stamp),
            "X-HubSpot-Signature-v3": signature
            or signature_v3(self.client_secret, "POST", url, body, stamp),
            "X-HubSpot-Signature": signature_v1(self.client_secret, body),
            "X-HubSpot-Signature-Version": "v1",
        }
        delivery = post(url, body, headers)
        delivery.events = [str(e.get("eventId")) for e in events]
        return delivery

    def deliver_pending(self, url: str, *, batch_size: int = 100) -> list[Delivery]:
        """Send the queued events in batches; a batch without a 2xx goes back in the queue."""
        with self._lock:
            events, self.pending = self.pending, []
        deliveries, failed = [], []
        for start in range(0, len(events), batch_size):
            batch = events[start : start + batch_size]
            delivery = self.deliver(url, batch)
            deliveries.append(delivery)
            if not delivery.ok:
                for event in batch:
                    event["attemptNumber"] += 1
                failed.extend(batch)
        with self._lock:
            self.pending[:0] = failed
        return deliveries
