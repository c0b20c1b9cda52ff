"""The ``workspace`` command line, including a real first start of ``workspace serve``."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import field, make_type
from workspace.cli import cli


@pytest.fixture
def env(settings, monkeypatch) -> dict[str, str]:
    values = {
        "WORKSPACE_DATABASE_URL": settings.database_url,
        "WORKSPACE_DATA_DIR": str(settings.data_dir),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def test_help_explains_each_command():
    out = CliRunner().invoke(cli, ["--help"]).output
    for command in ("serve", "migrate", "user", "token", "dedupe"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.MULTILINE), out


def test_migrate_user_create_and_token_create(env, runtime):
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).output.strip() == "database is up to date"
    email = f"cli{time.monotonic_ns()}@example.com"
    made = runner.invoke(cli, ["user", "create", email, "--password", "long enough pw"])
    assert made.exit_code == 0 and email in made.output
    again = runner.invoke(cli, ["user", "create", email, "--password", "long enough pw"])
    assert again.exit_code == 1 and "a user with this email exists" in again.output
    token = runner.invoke(cli, ["token", "create", email]).output.strip()
    assert token.startswith("wst_")
    unknown = runner.invoke(cli, ["token", "create", "nobody@example.com"])
    assert unknown.exit_code == 1 and "no user with email" in unknown.output


def test_short_password_is_refused(env):
    result = CliRunner().invoke(cli, ["user", "create", "x@example.com", "--password", "short"])
    assert result.exit_code == 1 and "at least 10 characters" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_first_start_prints_working_credentials(tmp_path: Path):
    """What a new user does: start on the embedded default and use the printed token."""
    port = _free_port()
    env = {**os.environ, "WORKSPACE_DATA_DIR": str(tmp_path / "data"), "WORKSPACE_PORT": str(port)}
    env.pop("WORKSPACE_DATABASE_URL", None)
    command = [sys.executable, "-m", "workspace", "serve"]
    with subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as server:
        try:
            token = _printed_token(server)
            assert (tmp_path / "data" / "workspace.db").exists()
            me = _get_json(f"http://127.0.0.1:{port}/api/v1/me", token)
            assert me["email"] == "admin@example.com" and me["is_admin"] is True
        finally:
            server.terminate()


def _printed_token(server: subprocess.Popen[str]) -> str:
    lines: list[str] = []
    while not any("API token" in line for line in lines):
        line = server.stdout.readline()  # type: ignore[union-attr]
        assert line, "server exited early:\n" + "".join(lines)
        lines.append(line)
    return lines[-1].split()[-1]


def _get_json(url: str, token: str) -> dict[str, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    for _ in range(100):
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return json.load(response)  # type: ignore[no-any-return]
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_dedupe_scan_queues_pairs(env, api, ws):
    rt, _ = make_type(
        api, ws, "P", field("Email", "email"), rows=[{"email": "a@x.org"}, {"email": "A@x.org"}]
    )
    api.post(
        f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "warn"},
        expect=201,
    )
    me = api.get("/me")["email"]
    result = CliRunner().invoke(cli, ["dedupe", "scan", str(ws), str(rt["id"]), "--as", me])
    assert result.exit_code == 0, result.output
    assert "compared 1 pairs" in result.output
    missing = CliRunner().invoke(cli, ["dedupe", "scan", str(ws), "999999", "--as", me])
    assert missing.exit_code == 1 and "record type not found" in missing.output
