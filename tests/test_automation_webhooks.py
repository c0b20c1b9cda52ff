"""The outbound webhook action against a real HTTP receiver on loopback: signed, with an
idempotency key that repeats only on a retry; a 500 then a 200 is retried and succeeds; a
receiver that hangs hits the 10 s timeout; loopback is refused unless the operator allows
private hosts; a redirect to another host is not followed; the secret is never shown."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.helpers import Api, field, make_type, records_path
from workspace.boot import build_runtime
from workspace.clock import utcnow
from workspace.jobs.worker import run_until_idle
from workspace.runtime import Runtime

SECRET = "a-secret-of-twenty-chars"


class Receiver:
    """An HTTP server that records every POST and answers from a script of statuses
    (``"hang"`` sleeps past the timeout; ``"redirect"`` sends the caller to localhost)."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.script: list[Any] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append({"headers": dict(self.headers), "body": body})
                answer = receiver.script.pop(0) if receiver.script else 200
                if answer == "hang":
                    time.sleep(12)
                    answer = 200
                if answer == "redirect":
                    self.send_response(307)
                    self.send_header("Location", f"http://localhost:{self.server.server_port}/")
                    self.end_headers()
                    return
                self.send_response(answer)
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def open_runtime(settings: Any, runtime: Runtime) -> Iterator[Runtime]:
    """A worker's runtime whose operator allows private hosts (the receiver is loopback)."""
    opened = build_runtime(dataclasses.replace(settings, allow_private_hosts=True), runtime.pm)
    yield opened
    opened.close()


@pytest.fixture
def leads(api: Api, ws: int) -> dict[str, Any]:
    rt, _ = make_type(
        api,
        ws,
        "Lead",
        field("Name", "text"),
        field("Email", "email"),
        field("Status", "single_choice", choices=["Lead", "Customer"]),
        field("In nurture", "checkbox"),
    )
    return {"rt": rt, "path": records_path(ws, rt)}


def hook(api: Api, ws: int, leads: dict[str, Any], url: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Nurture stop",
        "record_type": leads["rt"]["id"],
        "trigger": {"type": "record_updated", "to": {"status": "Customer"}},
        "actions": [
            {"type": "set_fields", "values": {"in_nurture": False}},
            {
                "type": "webhook",
                "url": url,
                "body": {"email": "{{ record.email }}", "event": "unsubscribe"},
                "secret": SECRET,
                **extra,
            },
        ],
    }
    return api.post(f"/workspaces/{ws}/automations", body, expect=201)


def become_customer(api: Api, leads: dict[str, Any]) -> dict[str, Any]:
    ada = api.post(
        leads["path"],
        {"fields": {"name": "Ada", "email": "ada@example.org", "in_nurture": True}},
        expect=201,
    )
    api.patch(f"{leads['path']}/{ada['id']}", {"fields": {"status": "Customer"}}, expect=200)
    return ada


def only_run(api: Api, ws: int, auto: dict[str, Any]) -> dict[str, Any]:
    (run,) = api.get(f"/workspaces/{ws}/automations/runs", automation=auto["id"])["items"]
    return api.get(f"/workspaces/{ws}/automations/runs/{run['id']}")


def test_a_customer_leaves_nurture_and_marketing_hears_once_signed(
    api, ws, leads, receiver, open_runtime
):
    auto = hook(api, ws, leads, receiver.url)
    assert "secret" not in json.dumps(auto["actions"][1]).replace("secret_sealed", "")
    assert SECRET not in json.dumps(auto)
    ada = become_customer(api, leads)
    run_until_idle(open_runtime)
    (got,) = receiver.got
    assert json.loads(got["body"]) == {"email": "ada@example.org", "event": "unsubscribe"}
    headers = {k.lower(): v for k, v in got["headers"].items()}
    stamp = headers["x-workspace-timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + got["body"], hashlib.sha256)
    assert headers["x-workspace-signature"] == "sha256=" + expected.hexdigest()
    assert abs(int(stamp) - time.time()) < 60
    run = only_run(api, ws, auto)
    assert headers["idempotency-key"] == f"automation-run-{run['id']}-step-1"
    assert run["state"] == "done" and run["steps"][1]["output"]["status"] == 200
    fields = api.get(f"{leads['path']}/{ada['id']}")["fields"]
    assert fields["in_nurture"] is False
    run_until_idle(open_runtime)
    assert len(receiver.got) == 1


def test_a_receiver_answering_500_then_200_is_retried_with_the_same_key(
    api, ws, leads, receiver, open_runtime
):
    receiver.script = [500]
    auto = hook(api, ws, leads, receiver.url)
    become_customer(api, leads)
    run_until_idle(open_runtime)
    run = only_run(api, ws, auto)
    assert run["state"] == "retrying" and run["error"].startswith("127.0.0.1 answered 500")
    assert [s["state"] for s in run["steps"]] == ["done", "failed"]
    assert run["steps"][1]["error"] == run["error"]  # the message, not the class path
    run_until_idle(open_runtime, now=utcnow() + dt.timedelta(minutes=3))
    run = only_run(api, ws, auto)
    assert run["state"] == "done"
    assert [s["attempt"] for s in run["steps"] if s["action"] == "webhook"] == [1, 2]
    keys = {g["headers"]["Idempotency-Key"] for g in receiver.got}
    assert len(receiver.got) == 2 and len(keys) == 1
    # The fields step committed once: the retry started at the webhook.
    assert [s["action"] for s in run["steps"] if s["state"] == "done"] == ["set_fields", "webhook"]


def test_a_receiver_that_hangs_hits_the_timeout(api, ws, leads, receiver, open_runtime):
    receiver.script = ["hang"]
    auto = hook(api, ws, leads, receiver.url)
    become_customer(api, leads)
    started = time.monotonic()
    run_until_idle(open_runtime)
    assert 9 < time.monotonic() - started < 30
    run = only_run(api, ws, auto)
    assert run["state"] == "retrying" and "did not answer within 10 s" in run["error"]


def test_loopback_is_refused_unless_the_operator_allows_private_hosts(
    api, ws, leads, receiver, runtime
):
    auto = hook(api, ws, leads, receiver.url)
    become_customer(api, leads)
    run_until_idle(runtime)  # the test settings allow no private hosts
    run = only_run(api, ws, auto)
    assert run["state"] == "dead"  # at once: retrying cannot help
    assert "loopback, private" in run["error"] and "WORKSPACE_ALLOW_PRIVATE_HOSTS" in run["error"]
    assert receiver.got == []


def test_a_redirect_to_another_host_is_not_followed(api, ws, leads, receiver, open_runtime):
    receiver.script = ["redirect"]
    auto = hook(api, ws, leads, receiver.url)
    become_customer(api, leads)
    run_until_idle(open_runtime)
    run = only_run(api, ws, auto)
    assert run["state"] == "dead" and "another site" in run["error"]
    assert len(receiver.got) == 1


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"url": "ftp://example.com/x"}, "actions[1].url"),
        ({"url": "https://user:pw@example.com/x"}, "actions[1].url"),
        ({"secret": "short"}, "actions[1].secret"),
        ({"body": {"x": "{{ record.name"}}, "actions[1].body.x"),
    ],
)
def test_bad_webhooks_are_refused_on_save(api, ws, leads, change, where):
    body = {
        "name": "Bad",
        "record_type": leads["rt"]["id"],
        "trigger": {"type": "record_created"},
        "actions": [
            {"type": "set_fields", "values": {"in_nurture": False}},
            {"type": "webhook", "url": "https://example.com/x", **change},
        ],
    }
    found = api.post(f"/workspaces/{ws}/automations", body, expect=422)["error"]
    assert where in found["fields"], found


def test_an_edit_keeps_the_sealed_secret(api, ws, leads, receiver, open_runtime):
    auto = hook(api, ws, leads, receiver.url)
    edited = api.patch(
        f"/workspaces/{ws}/automations/{auto['id']}", {"actions": auto["actions"]}, expect=200
    )
    assert edited["actions"][1]["secret_sealed"] == auto["actions"][1]["secret_sealed"]
    become_customer(api, leads)
    run_until_idle(open_runtime)
    assert receiver.got[0]["headers"]["X-Workspace-Signature"].startswith("sha256=")
