"""API tokens across server processes: a process may trust a verified token for
``auth_cache_seconds``; after that a token revoked elsewhere stops working."""

from __future__ import annotations

import dataclasses
import time

import pytest

from workspace.access import auth
from workspace.boot import build_runtime
from workspace.errors import NotAuthenticated


@pytest.fixture
def two_processes(settings):
    quick = dataclasses.replace(settings, auth_cache_seconds=1)
    first, second = build_runtime(quick), build_runtime(quick)
    yield first, second
    first.close()
    second.close()


def test_revocation_in_one_process_reaches_the_other_within_the_cache_time(
    two_processes, make_user
):
    first, second = two_processes
    user, token = make_user()
    principal = auth.authenticate_token(first, token)
    assert auth.cached_principal(first, token) == principal
    auth.revoke_token(second, user["id"], int(principal.source_ref.split(":")[1]))
    with pytest.raises(NotAuthenticated):
        auth.authenticate_token(second, token)  # the revoking process knows at once
    time.sleep(1.1)
    assert auth.cached_principal(first, token) is None
    with pytest.raises(NotAuthenticated):
        auth.authenticate_token(first, token)


def test_revoking_clears_this_process_at_once(runtime, make_user):
    user, token = make_user()
    principal = auth.authenticate_token(runtime, token)
    auth.revoke_token(runtime, user["id"], int(principal.source_ref.split(":")[1]))
    assert auth.cached_principal(runtime, token) is None


def test_zero_seconds_means_no_cache(settings, make_user):
    runtime = build_runtime(dataclasses.replace(settings, auth_cache_seconds=0))
    _, token = make_user()
    auth.authenticate_token(runtime, token)
    assert auth.cached_principal(runtime, token) is None
    runtime.close()
