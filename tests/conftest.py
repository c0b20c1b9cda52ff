"""Test fixtures: every database test runs on SQLite and on MySQL (MariaDB).

MySQL is found at WORKSPACE_TEST_MYSQL_URL (default root@127.0.0.1:3306). It is required:
a test run without it fails loudly instead of quietly skipping half the suite. Set
WORKSPACE_TEST_DATABASES=sqlite to run the SQLite half only, on purpose.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pymysql
import pytest
from litestar.testing import TestClient
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from tests.helpers import Api
from workspace import migrate
from workspace import models as m
from workspace.access import auth, users, workspaces
from workspace.app import create_app
from workspace.boot import build_runtime
from workspace.db import transaction
from workspace.jobs.kinds import PERIODIC
from workspace.principal import Access, Principal
from workspace.runtime import Runtime
from workspace.settings import Settings

pytest_plugins = ["tests.browser", "tests.rebinding", "tests.storage_servers"]

MYSQL_URL = os.environ.get("WORKSPACE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
DATABASES = [
    d.strip() for d in os.environ.get("WORKSPACE_TEST_DATABASES", "sqlite,mysql").split(",")
]


def _mysql_admin() -> pymysql.Connection:
    url = make_url(MYSQL_URL)
    try:
        return pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            connect_timeout=5,
        )
    except pymysql.MySQLError as exc:
        pytest.exit(
            f"MySQL is required for the test suite and not reachable at {MYSQL_URL}: {exc}. "
            "Start MariaDB (see .ci/run) or set WORKSPACE_TEST_DATABASES=sqlite on purpose.",
            returncode=3,
        )


def _run_admin(sql: str) -> None:
    conn = _mysql_admin()
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.mysql_only`` tests exist only in their MySQL variant (deselected, not
    skipped, on SQLite: there is nothing missing, the test does not apply)."""
    keep, drop = [], []
    for item in items:
        sqlite = "[sqlite" in item.nodeid or "-sqlite" in item.nodeid
        (drop if item.get_closest_marker("mysql_only") and sqlite else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on a fresh event loop in a thread of their own.

    Playwright's sync API (the session-wide browser in tests/browser.py) leaves its loop
    marked as running on the main thread, so no other loop can start there once a browser
    test has run on the same worker; a thread has its own running-loop slot.
    """
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    call = pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names})
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, call).result()
    return True


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated database per backend and xdist worker, shared by that worker's tests.

    Tests isolate themselves by creating their own users and workspaces.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'workspace.db'}"
    else:
        # One database per test process (xdist worker), dropped at the end of the session.
        name = f"ws_test_{os.getpid()}"
        _run_admin(f"DROP DATABASE IF EXISTS `{name}`")
        _run_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        request.addfinalizer(lambda: _run_admin(f"DROP DATABASE IF EXISTS `{name}`"))
        url = make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    runtime = build_runtime(Settings(database_url=url, data_dir=tmp_path_factory.mktemp("data")))
    migrate.upgrade(runtime.control)
    runtime.close()
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No API rate limits: the suite's requests all come from one address ("testclient") in
    # bursts. tests/test_rate_limits.py sets them.
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        migrate_on_start=False,
        db_timeout=5,
        api_rate_limit=0,
        api_address_rate_limit=0,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    _unschedule_periodic_tasks(rt)
    yield rt
    rt.close()


def _unschedule_periodic_tasks(rt: Runtime) -> None:
    """Start every test as a new installation does, with no periodic task scheduled: the
    database is shared by the tests of one process, and a test that runs the worker at a
    moment ahead of the clock leaves the tasks scheduled after it."""
    with transaction(rt.control, write=True) as conn:
        conn.execute(delete(m.jobs).where(m.jobs.c.kind.startswith(PERIODIC)))


@pytest.fixture
def client(settings: Settings, runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def make_user(runtime: Runtime) -> Any:
    """``make_user(admin=False) -> (user dict, raw API token)`` with a unique email."""

    def make(admin: bool = False, name: str = "") -> tuple[dict[str, Any], str]:
        # API-only accounts: hashing a password costs ~1 s of CPU on a busy CI machine.
        email = f"u{uuid.uuid4().hex[:12]}@example.com"
        user = users.create_user(runtime, email, name=name, password=None, is_admin=admin)
        _, token = auth.create_token(runtime, user["id"], "test")
        return user, token

    return make


@pytest.fixture
def owner(make_user: Any) -> tuple[dict[str, Any], str]:
    return make_user()


@pytest.fixture
def api(client: TestClient[Any], owner: tuple[dict[str, Any], str]) -> Api:
    """An API client authenticated as ``owner``."""
    return Api(client, owner[1])


@pytest.fixture
def as_user(client: TestClient[Any]) -> Any:
    return lambda token: Api(client, token)


@pytest.fixture
def ws(api: Api) -> int:
    """A fresh workspace owned by ``owner``."""
    return int(api.post("/workspaces", {"name": "Test workspace"}, expect=201)["id"])


@pytest.fixture
def access(runtime: Runtime, owner: tuple[dict[str, Any], str], ws: int) -> Access:
    """Service-level access of ``owner`` to ``ws`` (for tests below the HTTP layer)."""
    user = owner[0]
    return workspaces.access(runtime, Principal(user["id"], user["email"]), ws)


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database on the backend under test, for migrating step by step."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"ws_migrate_{os.getpid()}"
    _run_admin(f"DROP DATABASE IF EXISTS `{name}`")
    _run_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    yield make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    _run_admin(f"DROP DATABASE IF EXISTS `{name}`")
