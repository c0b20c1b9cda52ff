"""What every workspace page shows around its content: the switcher and the type list."""

from __future__ import annotations

from typing import Any

from workspace.access import workspaces
from workspace.access.sessions import SessionUser
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.types import record_types
from workspace.work import notifications


def workspace_context(
    runtime: Runtime, user: SessionUser, workspace_id: int
) -> tuple[Access, dict[str, Any]]:
    """The caller's access (404 for non-members) and the layout's context."""
    acc = workspaces.access(runtime, user.principal, workspace_id)
    context = {
        "user": user,
        "acc": acc,
        "workspace": workspaces.get(runtime, acc),
        "workspaces": workspaces.list_for(runtime, user.principal),
        "types": record_types.list_types(runtime, acc),
        "unread": notifications.unread_count(runtime, acc),  # the bell
    }
    return acc, context
