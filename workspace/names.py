"""Cleaning of user-given display names (workspaces, record types, fields)."""

from __future__ import annotations

from typing import Any

from workspace.errors import ValidationFailed


def clean_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed.single(field, "must not be empty")
    cleaned = " ".join(name.split())
    if len(cleaned) > 200:
        raise ValidationFailed.single(field, "must be at most 200 characters")
    return cleaned
