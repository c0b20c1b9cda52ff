"""The Connector extension point: what a plugin for one SaaS tool knows.

A connector knows one vendor's API: its remote objects and their properties, how to read a
page of rows after a cursor, how to read some rows by id, how to send changes, and how to
check and read the vendor's webhooks. Everything else is the server's and the same for every
connector (``workspace.connectors``): connections with sealed credentials and checked hosts,
mappings of properties to fields, field owners, the external-id map, matching through
dedupe rules, payloads kept with their outcomes, cursors that move only after a page
committed, conflicts. Built-in connectors are plugins in ``plugins/`` and register through
``register_connectors`` exactly as a third-party one does.

Connectors are stateless: every call gets the :class:`~workspace.remote_http.Api` of one
connection (base URL, credentials, an HTTP client that waits out rate limits and retries
server errors), so one instance serves every connection of its kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from workspace.registry import Registry
from workspace.remote_http import (
    Api,
    CredentialsRejected,
    RateLimited,
    RemoteError,
    RemoteUnavailable,
    WebhookRefused,
)

__all__ = [
    "Api",
    "Change",
    "Connector",
    "ConnectorRegistry",
    "Credential",
    "CredentialsRejected",
    "Page",
    "PushResult",
    "RateLimited",
    "RemoteError",
    "RemoteObject",
    "RemoteProperty",
    "RemoteRow",
    "RemoteUnavailable",
    "Watermark",
    "WebhookHit",
    "WebhookRefused",
    "WebhookRequest",
]


# ---- what a connector describes ------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """One setting of a connection: an API key (``secret``: sealed at rest, never shown
    again) or a plain setting such as an audience id."""

    name: str
    label: str
    secret: bool = True
    hint: str = ""
    required: bool = True


@dataclass(frozen=True)
class RemoteProperty:
    """A property of a remote object, as the mapping screen offers it. ``type`` is the
    field type a new field for it would have (text, email, phone, checkbox, date, number);
    ``read_only`` properties are never pushed."""

    name: str
    label: str
    type: str = "text"
    read_only: bool = False


@dataclass(frozen=True)
class RemoteObject:
    """A kind of remote row (HubSpot contacts, Mailchimp audience members...)."""

    name: str
    label: str
    properties: tuple[RemoteProperty, ...]

    def property(self, name: str) -> RemoteProperty | None:
        return next((p for p in self.properties if p.name == name), None)


# ---- what flows in and out -----------------------------------------------------------


@dataclass
class RemoteRow:
    """One remote row as pulled: its id (None when the payload had none), its values by
    property name (already in the server's terms, e.g. Mailchimp's status as consent and
    flags), the payload as received (kept with the outcome), whether the tool deleted it,
    and ``problem``: why the connector could not read it (then it is kept as rejected)."""

    remote_id: str | None
    values: dict[str, Any]
    payload: Any
    deleted: bool = False
    problem: str | None = None


@dataclass
class Page:
    """Rows in the order they happened, and the cursor to continue after them. The server
    stores ``cursor`` (JSON) in the same transaction as the page's writes."""

    rows: list[RemoteRow]
    cursor: Any


@dataclass(frozen=True)
class Change:
    """Values to set on one remote row; ``key`` is the same for every attempt to send the
    same change (an idempotency key for tools that take one)."""

    remote_id: str
    values: dict[str, Any]
    key: str


@dataclass(frozen=True)
class PushResult:
    remote_id: str
    error: str | None = None


@dataclass(frozen=True)
class WebhookRequest:
    """A vendor's webhook call as received: the full URL it was sent to, headers with
    lower-case names, the body's bytes untouched (signatures are over them)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class WebhookHit:
    """A remote row a webhook tells about. With ``row`` the webhook carried its state;
    without, the server reads the row from the tool (``fetch``) before writing."""

    object: str
    remote_id: str
    row: RemoteRow | None = None
    deleted: bool = False


class Watermark:
    """Where a pull of changes stands when the tool orders them by a coarse time stamp
    (Mailchimp's seconds, HubSpot's milliseconds) and many rows share one: the last instant
    read and the ids already read at it.

    A pull asks for "changed at or after ``since``, oldest first" from the start of that
    instant and skips the ids seen there: rows that changed again since and left the instant
    cannot shift the others past an offset, and rows arriving later at the same instant are
    not lost. Within one pull, pages of the same instant follow by offset. When more than
    :data:`MAX_SEEN` rows share an instant only their count is kept (and used as an offset).
    """

    MAX_SEEN = 10_000

    def __init__(self, cursor: Mapping[str, Any] | None) -> None:
        cursor = cursor or {}
        self.since: Any = cursor.get("since")
        self.seen: set[str] = set(cursor.get("seen") or [])
        resume = self.since is not None and "seen" in cursor
        self.offset = 0 if resume else int(cursor.get("done", 0))

    def read(self, page: list[tuple[str, Any]]) -> list[int]:
        """Take one page of ``(id, instant)`` in the order served; return the positions of the
        rows not read before, and move on past the page."""
        fresh = [
            i for i, (rid, at) in enumerate(page) if not (at == self.since and rid in self.seen)
        ]
        if not page:
            return fresh
        last = page[-1][1]
        if last == self.since:
            self.offset += len(page)
            self.seen.update(rid for rid, at in page if at == last)
        else:
            at_last = [rid for rid, at in page if at == last]
            self.since, self.seen, self.offset = last, set(at_last), len(at_last)
        return fresh

    def cursor(self) -> dict[str, Any]:
        if len(self.seen) > self.MAX_SEEN:
            return {"since": self.since, "done": self.offset}
        return {"since": self.since, "seen": sorted(self.seen)}


# ---- the extension point -------------------------------------------------------------


class Connector:
    """Base class of connectors. Subclasses set the class attributes and implement
    ``check``, ``pull``, ``fetch``; ``push`` and the webhook methods if the tool has them."""

    kind: ClassVar[str]
    label: ClassVar[str]
    #: The vendor's API address; a connection may point elsewhere (a proxy, a sandbox).
    default_base_url: ClassVar[str]
    credentials: ClassVar[tuple[Credential, ...]]
    objects: ClassVar[tuple[RemoteObject, ...]]
    #: Whether pushes are supported (the mapping screen offers push only then).
    can_push: ClassVar[bool] = False
    #: What to tell an admin about setting up the tool's webhooks (sent to the connection's
    #: secret address; ``verify_webhook`` checks a signature too where the tool signs).
    webhook_help: ClassVar[str] = ""
    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            cls.name = cls.kind

    def object(self, name: str) -> RemoteObject | None:
        return next((o for o in self.objects if o.name == name), None)

    def base_url(self, config: Mapping[str, str]) -> str:
        """The API address for a connection's settings (Mailchimp's depends on the key)."""
        return self.default_base_url

    def headers(self, config: Mapping[str, str]) -> dict[str, str]:
        """Headers for every request: how the tool authenticates."""
        return {}

    def error_message(self, status: int, body: Any) -> str:
        """The tool's own words for a refused request (its error document, parsed as JSON
        when it was JSON)."""
        if isinstance(body, dict):
            for key in ("message", "detail", "title"):
                if isinstance(body.get(key), str):
                    return str(body[key])
            error = body.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return str(error["message"])
        return f"HTTP {status}"

    def retry_later(self, status: int, body: Any) -> bool:
        """Whether a refused request is worth sending again shortly (Stripe's 409 for a
        request with the same idempotency key still being worked on)."""
        return False

    def check(self, api: Api) -> None:
        """Test the connection with one cheap authenticated read; raise RemoteError (its
        ``step`` naming what failed) otherwise."""
        raise NotImplementedError

    def pull(self, api: Api, object: str, cursor: Any) -> Iterator[Page]:
        """Pages of rows after ``cursor`` (None: from the start, a full pull), oldest change
        first, each with the cursor to go on from. An incremental pull after a full one is
        the same call with the stored cursor."""
        raise NotImplementedError

    def fetch(self, api: Api, object: str, remote_ids: list[str]) -> list[RemoteRow]:
        """The current state of some rows (a webhook told they changed); a row the tool no
        longer has comes back ``deleted``."""
        raise NotImplementedError

    def push(self, api: Api, object: str, changes: list[Change]) -> list[PushResult]:
        """Send changes; each must be safe to send twice (the same ``key``)."""
        raise NotImplementedError

    def verify_webhook(self, request: WebhookRequest, config: Mapping[str, str]) -> None:
        """Check a webhook's signature with the connection's settings; raise WebhookRefused.
        The default accepts: the secret address is the only check (Mailchimp)."""

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookHit]:
        """The rows a verified webhook tells about."""
        return []


class ConnectorRegistry(Registry[Connector]):
    """Connectors by kind, filled through the ``register_connectors`` hook."""

    kind = "connector"
