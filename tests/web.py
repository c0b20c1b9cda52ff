"""Signing in through the real login form, for page tests on the TestClient."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.testing import TestClient

from tests.browser import PASSWORD
from workspace.access import users
from workspace.runtime import Runtime

HX = {"HX-Request": "true"}
__all__ = ["HX", "PASSWORD", "csrf", "log_in", "page_user", "sign_in"]


def page_user(runtime: Runtime, name: str = "Ada") -> dict[str, Any]:
    """An account that can log in (a password, unlike conftest's API-only accounts)."""
    email = f"web{uuid.uuid4().hex[:10]}@example.com"
    return users.create_user(runtime, email, name=name, password=PASSWORD)


def log_in(client: TestClient[Any], user: dict[str, Any]) -> None:
    client.cookies.clear()
    client.get("/login")
    response = client.post(
        "/login",
        data={"email": user["email"], "password": PASSWORD, "_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def sign_in(client: TestClient[Any], runtime: Runtime, name: str = "Ada") -> dict[str, Any]:
    user = page_user(runtime, name)
    log_in(client, user)
    return user


def csrf(client: TestClient[Any]) -> str:
    return str(client.cookies.get("ws_csrf"))
