"""The email action against a real SMTP server on loopback (aiosmtpd): the workspace's mail
settings with a sealed password, a message per run whose Message-ID repeats only when a
step is retried, a refused first attempt retried, no server set or a refused host sending
the run to the dead letter."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.helpers import Api, field, make_type, records_path
from workspace.boot import build_runtime
from workspace.clock import utcnow
from workspace.jobs.worker import run_until_idle
from workspace.runtime import Runtime

PASSWORD = "smtp-password-1"


class Mailbox:
    """What the server was handed (also the messages it refused), and a script of answers."""

    def __init__(self) -> None:
        self.tried: list[Any] = []
        self.delivered: list[Any] = []
        self.answers: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        self.tried.append(message)
        answer = self.answers.pop(0) if self.answers else "250 OK"
        if answer.startswith("250"):
            self.delivered.append((envelope.rcpt_tos, message))
        return answer


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"crm",
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def open_runtime(settings: Any, runtime: Runtime) -> Iterator[Runtime]:
    opened = build_runtime(dataclasses.replace(settings, allow_private_hosts=True), runtime.pm)
    yield opened
    opened.close()


@pytest.fixture
def welcome(api: Api, ws: int) -> dict[str, Any]:
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"), field("Email", "email"))
    auto = api.post(
        f"/workspaces/{ws}/automations",
        {
            "name": "Welcome",
            "record_type": rt["id"],
            "trigger": {"type": "record_created"},
            "actions": [
                {
                    "type": "email",
                    "to": "{{ record.email }}",
                    "subject": "Welcome, {{ record.name }}",
                    "text": "Hello {{ record.name }}, thanks for signing up.",
                }
            ],
        },
        expect=201,
    )
    return {"rt": rt, "path": records_path(ws, rt), "auto": auto}


def set_mail(api: Api, ws: int, port: int) -> dict[str, Any]:
    body = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "crm",
        "password": PASSWORD,
        "from_address": "crm@example.org",
    }
    return api.put(f"/workspaces/{ws}/automations/mail", body, expect=200)


def the_run(api: Api, ws: int, welcome: dict[str, Any]) -> dict[str, Any]:
    found = api.get(f"/workspaces/{ws}/automations/runs", automation=welcome["auto"]["id"])
    (run,) = found["items"]
    return api.get(f"/workspaces/{ws}/automations/runs/{run['id']}")


def test_a_new_lead_gets_one_welcome_email(api, ws, welcome, mailbox, open_runtime):
    box, port = mailbox
    saved = set_mail(api, ws, port)
    assert saved["has_password"] is True and PASSWORD not in str(saved)
    assert PASSWORD not in str(api.get(f"/workspaces/{ws}/automations/mail"))
    api.post(welcome["path"], {"fields": {"name": "Ada", "email": "ada@example.org"}}, expect=201)
    run_until_idle(open_runtime)
    ((to, message),) = box.delivered
    assert to == ["ada@example.org"] and message["Subject"] == "Welcome, Ada"
    assert message["From"] == "crm@example.org"
    assert "Hello Ada" in message.get_payload()
    run = the_run(api, ws, welcome)
    assert message["Message-ID"] == f"<automation-run-{run['id']}-step-0.{ws}@example.org>"
    assert (
        run["state"] == "done" and run["steps"][0]["output"]["message_id"] == message["Message-ID"]
    )
    run_until_idle(open_runtime)
    assert len(box.delivered) == 1


def test_addresses_at_special_use_domains_are_taken(api, ws, mailbox, open_runtime):
    box, port = mailbox
    body = {"host": "127.0.0.1", "port": port, "security": "none"}
    api.put(f"/workspaces/{ws}/automations/mail", {**body, "from_address": "crm@corp.local"})
    rt, _ = make_type(api, ws, "Lead", field("Name", "text"))
    action = {"type": "email", "to": "sales@corp.local", "subject": "New", "text": "A lead"}
    automation = {"name": "Tell sales", "record_type": rt["id"], "actions": [action]}
    api.post(
        f"/workspaces/{ws}/automations",
        {**automation, "trigger": {"type": "record_created"}},
        expect=201,
    )
    api.post(records_path(ws, rt), {"fields": {"name": "Ada"}}, expect=201)
    run_until_idle(open_runtime)
    ((to, message),) = box.delivered
    assert to == ["sales@corp.local"] and message["From"] == "crm@corp.local"
    refused = {**action, "to": "sales@corp..local"}
    found = api.post(
        f"/workspaces/{ws}/automations",
        {**automation, "trigger": {"type": "record_created"}, "actions": [refused]},
        expect=422,
    )["error"]
    assert "valid email address" in found["fields"]["actions[0].to"]


def test_a_refused_send_is_retried_with_the_same_message_id(
    api, ws, welcome, mailbox, open_runtime
):
    box, port = mailbox
    set_mail(api, ws, port)
    box.answers = ["451 4.3.0 Try again later"]
    api.post(welcome["path"], {"fields": {"name": "Bo", "email": "bo@example.org"}}, expect=201)
    run_until_idle(open_runtime)
    assert the_run(api, ws, welcome)["state"] == "retrying" and box.delivered == []
    run_until_idle(open_runtime, now=utcnow() + dt.timedelta(minutes=3))
    assert the_run(api, ws, welcome)["state"] == "done"
    first, second = box.tried
    assert first["Message-ID"] == second["Message-ID"] and len(box.delivered) == 1


def test_without_a_mail_server_the_run_goes_to_the_dead_letter(api, ws, welcome, open_runtime):
    api.get(f"/workspaces/{ws}/automations/mail", expect=404)
    api.post(welcome["path"], {"fields": {"name": "Cy", "email": "cy@example.org"}}, expect=201)
    run_until_idle(open_runtime)
    run = the_run(api, ws, welcome)
    assert run["state"] == "dead" and "no mail server" in run["error"]


def test_a_loopback_mail_server_is_refused_unless_allowed(api, ws, welcome, mailbox, runtime):
    box, port = mailbox
    set_mail(api, ws, port)
    api.post(welcome["path"], {"fields": {"name": "Di", "email": "di@example.org"}}, expect=201)
    run_until_idle(runtime)
    run = the_run(api, ws, welcome)
    assert run["state"] == "dead" and "loopback, private" in run["error"]
    assert box.tried == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"host": "", "from_address": "a@example.org"}, "host"),
        ({"host": "mail.example.org", "from_address": "nope"}, "from_address"),
        ({"host": "mail.example.org", "from_address": "a@example.org", "port": 0}, "port"),
        (
            {"host": "mail.example.org", "from_address": "a@example.org", "security": "ssl"},
            "security",
        ),
    ],
)
def test_bad_mail_settings_are_refused(api, ws, body, where):
    found = api.put(f"/workspaces/{ws}/automations/mail", body, expect=422)["error"]
    assert where in found["fields"]
