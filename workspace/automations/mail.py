"""Email from automations: a workspace's SMTP server (its password sealed like storage
credentials) and sending one message through it.

The server's host is an admin's word, so it is treated like an S3 endpoint: resolved once,
checked against the same rules (``workspace.net``: no internal address unless the operator
allows private hosts), and connected to at the address that was checked, with TLS still
verifying the name. Every message carries a Message-ID made from the step's idempotency key:
a step retried after a timeout sends the same Message-ID, so the receiving side can drop the
repeat (delivery is at least once, like every effect outside the workspace).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from sqlalchemy import delete, insert, select

from workspace import crypto
from workspace import models as m
from workspace.clock import utcnow
from workspace.db import transaction
from workspace.errors import NotFound, ValidationFailed
from workspace.identity import InvalidEmail, email_address
from workspace.net import pinned_address
from workspace.principal import Access
from workspace.runtime import Runtime

MS = m.mail_settings
SECURITY = ("starttls", "tls", "none")
TIMEOUT = 10.0


def get_settings(runtime: Runtime, acc: Access) -> dict[str, Any]:
    """The workspace's SMTP server, without its password (``has_password`` says if one is
    kept)."""
    acc.require("admin")
    row = _row(runtime, acc.workspace_id)
    if row is None:
        raise NotFound("no mail server is set for this workspace")
    return _public(row)


def set_settings(runtime: Runtime, acc: Access, body: dict[str, Any]) -> dict[str, Any]:
    """Save the SMTP server; a password not sent keeps the one kept (empty string: none)."""
    acc.require("admin")
    host = body.get("host")
    if not isinstance(host, str) or not host.strip() or any(c.isspace() for c in host.strip()):
        raise ValidationFailed.single("host", "must be a host name or address")
    port = body.get("port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValidationFailed.single("port", "must be a port number from 1 to 65535")
    security = body.get("security", "starttls")
    if security not in SECURITY:
        raise ValidationFailed.single("security", "must be one of " + ", ".join(SECURITY))
    sender = address(body.get("from_address"), "from_address")
    username = body.get("username") or None
    if username is not None and not isinstance(username, str):
        raise ValidationFailed.single("username", "must be text")
    current = _row(runtime, acc.workspace_id)
    sealed = current["sealed"] if current is not None else None
    if "password" in body:
        password = body["password"]
        if password is not None and not isinstance(password, str):
            raise ValidationFailed.single("password", "must be text")
        key = runtime.settings.resolved_secret_key()
        sealed = crypto.seal(key, {"secret": password}) if password else None
    row = {
        "workspace_id": acc.workspace_id,
        "host": host.strip(),
        "port": port,
        "security": security,
        "username": username,
        "sealed": sealed,
        "from_address": sender,
        "updated_by": acc.user_id,
        "updated_at": utcnow(),
    }
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(MS).where(MS.c.workspace_id == acc.workspace_id))
        conn.execute(insert(MS).values(row))
    return _public(row)


def address(value: Any, where: str) -> str:
    """An email address as written (its syntax checked, not rewritten): special-use domains
    such as ``corp.local`` are real addresses inside companies, as for email fields."""
    if not isinstance(value, str):
        raise ValidationFailed.single(where, "must be an email address")
    try:
        email_address(value)
    except InvalidEmail as exc:
        raise ValidationFailed.single(where, f"is not a valid email address: {exc}") from None
    return value


def send(
    runtime: Runtime,
    workspace_id: int,
    *,
    to: str,
    subject: str,
    text: str,
    key: str,
) -> dict[str, Any]:
    """Send one message through the workspace's server; what the run log shows of it.
    Raises LookupError when the workspace has no server, ``HostRefused`` for a refused
    host, and ``smtplib``/``OSError`` errors for the rest."""
    row = _row(runtime, workspace_id)
    if row is None:
        raise LookupError("this workspace has no mail server (set one under automations/mail)")
    message = EmailMessage()
    message["From"] = row["from_address"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    domain = row["from_address"].rpartition("@")[2]
    message_id = f"<{key}.{workspace_id}@{domain}>"
    message["Message-ID"] = message_id
    message.set_content(text)
    at = pinned_address(row["host"], allow_private=runtime.settings.allow_private_hosts)
    with _connect(row, at) as smtp:
        if row["security"] == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if row["username"]:
            password = ""
            if row["sealed"]:
                key = runtime.settings.resolved_secret_key()
                password = str(crypto.open_sealed(key, row["sealed"])["secret"])
            smtp.login(row["username"], password)
        refused = smtp.send_message(message)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    return {"sent_to": to, "subject": subject, "message_id": message_id, "server": row["host"]}


class _PinnedSMTP(smtplib.SMTP):
    """SMTP to a checked address, the host name kept for STARTTLS's certificate check."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self._address = address
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._address, port), timeout)


class _PinnedSMTPS(smtplib.SMTP_SSL):
    """Implicit TLS (port 465) to a checked address, verifying the host name."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self._address = address
        super().__init__(context=ssl.create_default_context(), **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        plain = socket.create_connection((self._address, port), timeout)
        return self.context.wrap_socket(plain, server_hostname=host)


def _connect(row: Any, at: str) -> smtplib.SMTP:
    kind = _PinnedSMTPS if row["security"] == "tls" else _PinnedSMTP
    smtp = kind(at, timeout=TIMEOUT)
    smtp.connect(row["host"], row["port"])
    return smtp


def _row(runtime: Runtime, workspace_id: int) -> Any:
    with transaction(runtime.control) as conn:
        return conn.execute(select(MS).where(MS.c.workspace_id == workspace_id)).mappings().first()


def _public(row: Any) -> dict[str, Any]:
    return {
        "host": row["host"],
        "port": row["port"],
        "security": row["security"],
        "username": row["username"],
        "has_password": bool(row["sealed"]),
        "from_address": row["from_address"],
        "updated_at": row["updated_at"],
    }
