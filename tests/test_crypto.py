"""Stored credentials are encrypted: nothing readable at rest, and the wrong key fails loudly."""

from __future__ import annotations

import pytest

from workspace.crypto import CredentialsUnreadable, open_sealed, seal


def test_sealed_credentials_round_trip_and_hide_the_secret() -> None:
    token = seal("server key", {"password": "hunter2-secret", "user": "app"})
    assert "hunter2" not in token and "app" not in token
    assert open_sealed("server key", token) == {"password": "hunter2-secret", "user": "app"}


def test_the_same_secret_seals_differently_each_time() -> None:
    assert seal("k", {"password": "p"}) != seal("k", {"password": "p"})


def test_another_server_key_cannot_open_them() -> None:
    token = seal("old key", {"password": "p"})
    with pytest.raises(CredentialsUnreadable, match="WORKSPACE_SECRET_KEY"):
        open_sealed("new key", token)


def test_an_altered_token_is_refused() -> None:
    token = seal("k", {"password": "p"})
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(CredentialsUnreadable):
        open_sealed("k", altered)
