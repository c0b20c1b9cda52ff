"""Mailchimp webhooks: the events audience changes queue, and their form-encoded delivery.

Documented behaviour (mailchimp.com/developer "Sync audience data with webhooks"): Mailchimp
POSTs ``application/x-www-form-urlencoded`` bodies with a ``type`` (subscribe, unsubscribe,
profile, upemail, cleaned), ``fired_at`` (``2009-03-26 21:35:57``, UTC) and ``data[...]``
fields, nested with brackets (``data[merges][FNAME]``). ``data[id]`` is the member's
``unique_email_id``; unsubscribes carry ``data[action]`` ``unsub`` (or ``delete`` when the
contact was archived) and ``data[reason]``. Requests are not signed: the receiver is expected to
put a secret in the webhook URL's query string, so :meth:`WebhookQueue.deliver_pending` posts
to the URL exactly as given. A webhook only reports the sources it was set up for (``user``,
``admin``, ``api``); API changes are off by default to avoid loops, and so here. When the URL
is saved Mailchimp checks it with a GET (:meth:`WebhookQueue.validate`).
"""

from __future__ import annotations

import threading
from typing import Any

from tests.fake_saas.clock import Clock, from_ms
from tests.fake_saas.forms import encode
from tests.fake_saas.mailchimp_audience import Audience
from tests.fake_saas.webhooks import Delivery, post

HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailChimp"}


class WebhookQueue:
    """The events waiting for delivery to one webhook URL, and their delivery."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def queue(
        self,
        audience: Audience,
        kind: str,
        member: dict[str, Any],
        source: str,
        **extra: str,
    ) -> None:
        merges = {"EMAIL": member["email_address"], **member["merge_fields"]}
        data: dict[str, Any] = {
            "id": member["unique_email_id"],
            "list_id": audience.id,
            "email": member["email_address"],
            "email_type": member["email_type"],
            "ip_opt": member["ip_opt"],
            "web_id": str(member["web_id"]),
            "merges": merges,
        }
        if kind == "subscribe":
            data["ip_signup"] = member["ip_signup"]
        elif kind == "unsubscribe":
            data |= {"action": extra.get("action", "unsub"), "reason": "manual", "campaign_id": ""}
        elif kind == "upemail":
            data = {
                "list_id": audience.id,
                "new_id": member["unique_email_id"],
                "new_email": member["email_address"],
                "old_email": extra["old_email"],
            }
        elif kind == "cleaned":
            email = member["email_address"]
            data = {"list_id": audience.id, "campaign_id": "", "reason": "hard", "email": email}
        fired_at = from_ms(self.clock.now_ms()).strftime("%Y-%m-%d %H:%M:%S")
        event = {"type": kind, "fired_at": fired_at, "data": data, "source": source}
        with self._lock:
            self.pending.append(event)

    def deliver(self, url: str, event: dict[str, Any]) -> Delivery:
        """POST one event (``type``, ``fired_at``, ``data``) form-encoded to ``url``."""
        body = {k: v for k, v in event.items() if k != "source"}
        return post(url, encode(body).encode(), dict(HEADERS))

    def deliver_pending(
        self, url: str, *, sources: tuple[str, ...] = ("user", "admin")
    ) -> list[Delivery]:
        """Send the queued events from ``sources`` one by one; failed ones stay queued, and
        events from other sources are dropped, since a webhook not set up for them never
        reports them."""
        with self._lock:
            events, self.pending = self.pending, []
        deliveries, failed = [], []
        for event in events:
            if event["source"] not in sources:
                continue
            delivery = self.deliver(url, event)
            deliveries.append(delivery)
            if not delivery.ok:
                failed.append(event)
        with self._lock:
            self.pending[:0] = failed
        return deliveries

    def validate(self, url: str) -> Delivery:
        """The GET Mailchimp sends when a webhook URL is saved; the receiver must answer 200."""
        return post(url, b"", {"User-Agent": "MailChimp.com WebHook Validator"}, method="GET")
