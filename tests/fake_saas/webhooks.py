"""Sending a fake vendor's webhook to the URL a test names, and remembering how it went.

The fakes build the body and the signature headers; this module only posts them (with httpx,
which the project already uses) and records the outcome, so a test can assert on what the
receiver answered and a failed delivery can stay queued for a retry, as the vendors do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx


@dataclass
class Delivery:
    """One webhook POST: what was sent and what came back (``status`` 0 if nothing did)."""

    url: str
    body: bytes
    headers: dict[str, str]
    status: int = 0
    response_body: bytes = b""
    error: str = ""
    events: list[str] = field(default_factory=list)  # the vendor's event ids in the body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def post(
    url: str, body: bytes, headers: dict[str, str], *, method: str = "POST", timeout: float = 10.0
) -> Delivery:
    """Send ``body`` to ``url``; network failures become a :class:`Delivery` with ``error``."""
    delivery = Delivery(url=url, body=body, headers=dict(headers))
    try:
        response = httpx.request(method, url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        delivery.error = f"{type(exc).__name__}: {exc}"
        return delivery
    delivery.status = response.status_code
    delivery.response_body = response.content
    return delivery
