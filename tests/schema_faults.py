"""Failure injection for schema-change tests: fail a step, or let the process "die"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.schema_checks import expire_lease, type_row
from workspace.types import schema_changes


class Crash(Exception):
    """The injected failure."""


def fail_after(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[tuple[Any, ...]]:
    """``owner.name`` does its work, then fails (the DDL has run, the rest has not).

    Returns the list the arguments of each call are appended to."""
    real = getattr(owner, name)
    calls: list[tuple[Any, ...]] = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        real(*args, **kwargs)
        raise Crash(f"injected failure after {name}")

    monkeypatch.setattr(owner, name, failing)
    return calls


def fail_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """The next call of ``owner.name`` fails before doing anything; later calls work."""
    real = getattr(owner, name)
    calls = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise Crash(f"injected failure in {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)


def die_mid_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies: nothing finishes or undoes the written-down change."""
    monkeypatch.setattr(schema_changes, "complete", lambda runtime, record_type_id: None)


def recover(runtime: Any, monkeypatch: pytest.MonkeyPatch, record_type_id: int) -> None:
    """Another process starts after the lease ran out."""
    monkeypatch.undo()
    assert type_row(runtime, record_type_id)["pending_change"] is not None
    schema_changes.recover_all(runtime)  # the lease is still running: nothing happens
    assert type_row(runtime, record_type_id)["pending_change"] is not None
    expire_lease(runtime, record_type_id)
    schema_changes.recover_all(runtime)
