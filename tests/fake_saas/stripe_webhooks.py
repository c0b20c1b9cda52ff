"""Stripe webhooks: signed deliveries of the events the fake records.

Documented behaviour (docs.stripe.com "Receive Stripe events in your webhook endpoint" and
"Verify webhook signatures"; github.com/stripe/stripe-python ``stripe/_webhook.py``): one event
per POST, JSON body, ``Stripe-Signature: t=<unix seconds>,v1=<signature>`` where the signature
is the hex HMAC-SHA256 of ``"<t>.<raw body>"`` with the endpoint's ``whsec_`` secret, and
receivers reject timestamps outside a tolerance (300 s in stripe-python). Bodies are
pretty-printed, so a receiver that re-serialises the JSON before checking fails, as against
Stripe. An event that does not get a 2xx stays queued, as Stripe retries it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from typing import Any

from tests.fake_saas.webhooks import Delivery, post


def signature_header(payload: bytes | str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` (Stripe's v1 scheme)."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    digest = hmac.new(secret.encode(), f"{timestamp}.{text}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class WebhookQueue:
    """Events waiting for delivery to one webhook endpoint (one ``whsec_`` secret)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def queue(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.pending.append(event)

    def deliver(
        self,
        url: str,
        event: dict[str, Any],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
    ) -> Delivery:
        """POST one event signed with ``Stripe-Signature``; override ``timestamp`` (stale),
        ``secret`` (another endpoint's) or the whole ``signature`` header to test a receiver."""
        payload = json.dumps(event, indent=2).encode()
        stamp = int(time.time()) if timestamp is None else timestamp
        header = signature or signature_header(payload, secret or self.secret, stamp)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": header,
        }
        delivery = post(url, payload, headers)
        delivery.events = [str(event["id"])]
        return delivery

    def deliver_pending(self, url: str) -> list[Delivery]:
        """Send each queued event, oldest first; failed ones stay queued for a retry."""
        with self._lock:
            queued, self.pending = self.pending, []
        deliveries, failed = [], []
        for event in queued:
            delivery = self.deliver(url, event)
            deliveries.append(delivery)
            if not delivery.ok:
                failed.append(event)
        with self._lock:
            self.pending[:0] = failed
        return deliveries
