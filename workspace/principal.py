"""Who is acting: the authenticated caller and their standing in one workspace."""

from __future__ import annotations

from dataclasses import dataclass

from workspace.errors import PermissionDenied

ROLES = ("viewer", "member", "admin", "owner")
RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    """An authenticated user, and through what they act (api, ui, cli, form...)."""

    user_id: int
    email: str
    is_admin: bool = False
    source: str = "api"
    source_ref: str | None = None
    #: (automation id, record id) of each automation run that led to this change, oldest
    #: first; carried into the outbox so the automations' loop guard can stop a cycle.
    chain: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Access:
    """A principal's membership in one workspace; services take this, not raw ids."""

    principal: Principal
    workspace_id: int
    role: str
    phone_region: str

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    def require(self, role: str) -> None:
        """Refuse unless the member has at least ``role``. Members may know the workspace
        exists, so this is a 403 (non-members get 404 before they get here)."""
        if not self.can(role):
            raise PermissionDenied(f"this needs the {role} role in the workspace")
