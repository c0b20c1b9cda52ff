"""Browser fixtures: the app served by a real uvicorn on loopback, driven by Debian's
Chromium through Playwright (no browser download: ``executable_path``)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from workspace.access import users
from workspace.app import create_app
from workspace.boot import build_runtime
from workspace.runtime import Runtime
from workspace.settings import Settings

CHROMIUM = os.environ.get("WORKSPACE_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).parent.parent / "test-output" / "screenshots"
PASSWORD = "correct horse battery staple"


class LiveServer:
    def __init__(self, runtime: Runtime, url: str) -> None:
        self.runtime = runtime
        self.url = url

    def user(self, name: str = "Test User") -> dict[str, Any]:
        email = f"ui{uuid.uuid4().hex[:10]}@example.com"
        return users.create_user(self.runtime, email, name=name, password=PASSWORD)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("live"),
        migrate_on_start=False,
        api_rate_limit=0,  # as the suite's own settings (tests/conftest.py)
        api_address_rate_limit=0,
    )
    with serving(settings) as server:
        yield server


@contextmanager
def serving(settings: Settings) -> Iterator[LiveServer]:
    """The app with ``settings`` served by uvicorn on loopback until the block ends (for
    tests that need an operator setting the shared ``live_server`` does not have)."""
    runtime = build_runtime(settings)
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, runtime),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield LiveServer(runtime, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is required for the browser tests and missing at {CHROMIUM}")
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page: Any, request: pytest.FixtureRequest, name: str) -> Path:
    """Save a full-page screenshot into test-output/screenshots for a human to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^\w.-]+", "_", request.node.name)
    path = SHOTS / f"{test}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Any, server: LiveServer, email: str) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))
