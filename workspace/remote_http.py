"""The HTTP side of a connection: one vendor API as a connector calls it.

Every request goes through :mod:`workspace.outbound` (connections only to checked addresses,
redirects within the site, a size cap on answers). What a sync needs on top is the same for
every vendor, so it lives here rather than in each connector:

* 429: wait as long as ``Retry-After`` says (seconds or an HTTP date), or back off
  exponentially when the vendor sends none (HubSpot, Mailchimp and Stripe document none);
  a wait longer than :data:`MAX_WAIT` stops the sync with :class:`RateLimited` (its cursor is
  kept, the next pull goes on).
* 5xx, timeouts, refused or dropped connections, and what a connector says is worth sending
  again (``retry_later``): retry with exponential backoff, at most :data:`ATTEMPTS` times,
  then :class:`RemoteUnavailable`.
* 401: :class:`CredentialsRejected` at once; retrying a wrong key only locks accounts.
* any other 4xx: :class:`RemoteError` with the vendor's own words.

Retrying a POST is safe because every write a connector sends is idempotent (same values,
or an idempotency key the vendor honours).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from workspace import outbound
from workspace.clock import utcnow
from workspace.net import HostRefused


class RemoteError(Exception):
    """The tool refused a request or could not be reached; ``step`` names what was being
    done ("listing contacts") for the connection page."""

    def __init__(self, message: str, *, step: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.step = step
        self.status = status

    def __str__(self) -> str:
        return f"{self.step}: {self.message}" if self.step else self.message


class CredentialsRejected(RemoteError):
    """401: nothing more is tried until an admin saves working credentials."""


class RemoteUnavailable(RemoteError):
    """Server errors or timeouts that retries with backoff did not get past."""


class RateLimited(RemoteError):
    """The tool asked to wait longer than a sync waits; the next pull carries on."""


class WebhookRefused(Exception):
    """A webhook whose signature (or timestamp, or secret) does not check out: 401."""


class Speaker(Protocol):
    """What the API needs of a connector (``workspace.remote.Connector``): how the tool
    authenticates, words its errors, and asks for a retry."""

    def headers(self, config: Mapping[str, str]) -> dict[str, str]: ...

    def error_message(self, status: int, body: Any) -> str: ...

    def retry_later(self, status: int, body: Any) -> bool: ...


#: Tries of one request that fails with a server error or a timeout.
ATTEMPTS = 5
#: 429 answers waited out for one request.
RATE_LIMIT_WAITS = 8
#: First backoff, doubled per attempt.
BACKOFF = 0.5
#: The longest wait a sync sits through (Retry-After beyond it stops the sync).
MAX_WAIT = 60.0


@dataclass
class Waits:
    """What a sync sat through, for its run page: rate limits, retries, seconds waited."""

    rate_limited: int = 0
    retried: int = 0
    seconds: float = 0.0
    last: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "rate_limited": self.rate_limited,
            "retried": self.retried,
            "waited_seconds": round(self.seconds, 1),
            "last": self.last,
        }


@dataclass
class Api:
    """One connection's API: ``request`` with the behaviour described above."""

    connector: Speaker
    base_url: str
    config: Mapping[str, str]
    client: httpx.Client
    sleep: Callable[[float], None] = time.sleep
    waits: Waits = field(default_factory=Waits)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def get(self, path: str, *, step: str, **request: Any) -> httpx.Response:
        return self.request("GET", path, step=step, **request)

    def post(self, path: str, *, step: str, **request: Any) -> httpx.Response:
        return self.request("POST", path, step=step, **request)

    def request(self, method: str, path: str, *, step: str, **request: Any) -> httpx.Response:
        """Send a request (httpx's ``params``, ``json``, ``data``, ``headers``...) and return
        the answer of a 2xx; ``step`` names it in errors ("listing contacts")."""
        headers = {**self.connector.headers(self.config), **request.pop("headers", {})}
        url = self.url(path)
        failures = limits = 0
        while True:
            try:
                response = outbound.fetch(self.client, method, url, headers=headers, **request)
            except HostRefused as exc:
                raise RemoteError(str(exc), step=step) from None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                failures += 1
                reason = _transport_reason(exc)
                if failures >= ATTEMPTS:
                    raise RemoteUnavailable(f"{reason} ({failures} attempts)", step=step) from None
                self._wait(_backoff(failures), f"retried after {reason}", retry=True)
                continue
            except httpx.RequestError as exc:  # a redirect off the site, an answer too large
                raise RemoteError(str(exc), step=step) from None
            status = response.status_code
            if status < 400:
                return response
            body = _body(response)
            message = self.connector.error_message(status, body)
            if status == 429:
                limits += 1
                wait = retry_after(response) or _backoff(limits)
                if wait > MAX_WAIT or limits > RATE_LIMIT_WAITS:
                    raise RateLimited(
                        f"rate limited: {message} (asked to wait {wait:g} s)",
                        step=step,
                        status=status,
                    )
                self._wait(wait, f"rate limited, waited {wait:g} s", limited=True)
                continue
            if status >= 500 or self.connector.retry_later(status, body):
                failures += 1
                if failures >= ATTEMPTS:
                    raise RemoteUnavailable(
                        f"HTTP {status}: {message} ({failures} attempts)", step=step, status=status
                    )
                self._wait(_backoff(failures), f"retried after HTTP {status}", retry=True)
                continue
            if status == 401:
                raise CredentialsRejected(
                    f"credentials rejected: {message}", step=step, status=status
                )
            raise RemoteError(f"HTTP {status}: {message}", step=step, status=status)

    def _wait(
        self, seconds: float, note: str, *, retry: bool = False, limited: bool = False
    ) -> None:
        self.waits.retried += int(retry)
        self.waits.rate_limited += int(limited)
        self.waits.seconds += seconds
        self.waits.last = note
        self.sleep(seconds)


def json_of(response: httpx.Response, step: str) -> Any:
    """The answer's JSON, or RemoteError naming the step (a proxy's HTML page, say)."""
    try:
        return response.json()
    except ValueError:
        raise RemoteError("the answer is not JSON", step=step) from None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max((when - utcnow()).total_seconds(), 0.0)


def _backoff(attempt: int) -> float:
    return float(min(BACKOFF * 2 ** (attempt - 1), MAX_WAIT))


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def _transport_reason(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return f"connection failed ({type(exc).__name__})"
