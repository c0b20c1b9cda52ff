"""Public forms: their definitions (admins), and finding one by its public address.

A form belongs to a record type and writes records as the member who made it (the activity
says "form" and names the form), so a form can never do more than that member could. Its
address is a random slug; deleting a form hides it and keeps its submissions.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import NotFound, Unavailable, WorkspaceError
from workspace.forms import config as form_config
from workspace.forms.config import FormConfig, Placed
from workspace.names import clean_name
from workspace.principal import RANK, Access, Principal
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types

F, S, U, M = m.forms, m.form_submissions, m.users, m.memberships


@dataclass(frozen=True)
class FormRow:
    """A stored form, as the public side needs it."""

    id: int
    workspace_id: int
    record_type_id: int
    slug: str
    name: str
    is_open: bool
    config: FormConfig
    created_by: int
    creator_email: str
    creator_active: bool


@dataclass(frozen=True)
class Live:
    """A form that can take submissions now: who it writes as, and the type it writes."""

    form: FormRow
    acc: Access
    rt: RecordTypeDef

    @property
    def shown(self) -> list[Placed]:
        return form_config.shown(self.form.config, self.rt)

    @property
    def placed(self) -> list[Placed]:
        return form_config.placed(self.form.config, self.rt)


def source_ref(form_id: int) -> str:
    """How the activity history names a form (``activity.source_ref``)."""
    return f"form:{form_id}"


# ---- the public side -------------------------------------------------------------------


def by_slug(runtime: Runtime, slug: str) -> FormRow:
    """The form at ``/f/<slug>``; 404 for an unknown or deleted one."""
    query = (
        select(F, U.c.email.label("creator_email"), U.c.disabled_at.label("creator_disabled"))
        .join(U, U.c.id == F.c.created_by, isouter=True)
        .where(F.c.slug == slug, F.c.deleted_at.is_(None))
    )
    with transaction(runtime.control) as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("form not found")
    return FormRow(
        id=row["id"],
        workspace_id=row["workspace_id"],
        record_type_id=row["record_type_id"],
        slug=row["slug"],
        name=row["name"],
        is_open=bool(row["is_open"]),
        config=form_config.load_config(row["config"]),
        created_by=row["created_by"],
        creator_email=row["creator_email"] or "",
        creator_active=row["creator_email"] is not None and row["creator_disabled"] is None,
    )


def live(runtime: Runtime, form: FormRow) -> Live | None:
    """The form ready to write, or None when it cannot: its record type was deleted, or
    the member it writes as left the workspace or can no longer write."""
    principal = Principal(
        form.created_by, form.creator_email, source="form", source_ref=source_ref(form.id)
    )
    try:
        acc, rt = definitions.open_type(runtime, principal, form.workspace_id, form.record_type_id)
    except Unavailable:
        raise  # a passing outage, not a form that cannot write
    except WorkspaceError:
        return None
    if not form.creator_active or not acc.can("member") or not form_config.shown(form.config, rt):
        return None
    return Live(form, acc, rt)


# ---- the builder -----------------------------------------------------------------------


def list_forms(runtime: Runtime, acc: Access) -> list[dict[str, Any]]:
    """The workspace's forms with their number of submissions and the latest one."""
    acc.require("member")
    counts = (
        select(
            S.c.form_id,
            func.count().label("submissions"),
            func.max(S.c.received_at).label("last_received"),
        )
        .group_by(S.c.form_id)
        .subquery()
    )
    query = (
        select(F, counts.c.submissions, counts.c.last_received)
        .join(counts, counts.c.form_id == F.c.id, isouter=True)
        .where(F.c.workspace_id == acc.workspace_id, F.c.deleted_at.is_(None))
        .order_by(F.c.name, F.c.id)
    )
    with transaction(runtime.control) as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return [
        {
            **_public(row),
            "submissions": row["submissions"] or 0,
            "last_received": row["last_received"],
        }
        for row in rows
    ]


def get_form(runtime: Runtime, acc: Access, form_id: int) -> dict[str, Any]:
    acc.require("member")
    with transaction(runtime.control) as conn:
        return _public(_row(conn, acc, form_id))


def create_form(
    runtime: Runtime, acc: Access, record_type_id: int, name: Any = None
) -> dict[str, Any]:
    """A new, open form showing every field of the type a stranger may fill in; it writes
    records as ``acc``'s member."""
    acc.require("admin")
    rt = record_types.get_type(runtime, acc, record_type_id)
    now = utcnow()
    row = {
        "workspace_id": acc.workspace_id,
        "record_type_id": rt.id,
        "slug": secrets.token_urlsafe(16),
        "name": clean_name(name if name not in (None, "") else f"{rt.name} form"),
        "is_open": True,
        "config": form_config.default_config(rt),
        "created_by": acc.user_id,
        "created_at": now,
        "updated_at": now,
    }
    with transaction(runtime.control, write=True) as conn:
        row["id"] = inserted_id(conn.execute(insert(F).values(row)))
    return _public(row)


def update_form(
    runtime: Runtime, acc: Access, form_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change ``name``, ``is_open`` and ``config`` (each optional). The config is checked
    against the record type as it is now. A form whose maker can no longer write records is
    taken over by the admin saving it."""
    acc.require("admin")
    with transaction(runtime.control) as conn:
        current = _row(conn, acc, form_id)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if "name" in changes:
        values["name"] = clean_name(changes["name"])
    if "is_open" in changes:
        values["is_open"] = bool(changes["is_open"])
    if "config" in changes:
        rt = record_types.get_type(runtime, acc, current["record_type_id"])
        hosts = runtime.settings.form_redirect_host_set
        values["config"] = form_config.clean_config(rt, changes["config"], hosts)
    with transaction(runtime.control, write=True) as conn:
        if not _can_write(conn, acc.workspace_id, current["created_by"]):
            values["created_by"] = acc.user_id
        conn.execute(update(F).where(F.c.id == form_id).values(values))
        return _public(_row(conn, acc, form_id))


def delete_form(runtime: Runtime, acc: Access, form_id: int) -> None:
    """Hide the form (its address answers 404); its submissions stay on file."""
    acc.require("admin")
    with transaction(runtime.control, write=True) as conn:
        _row(conn, acc, form_id)
        conn.execute(update(F).where(F.c.id == form_id).values(deleted_at=utcnow()))


def writer_ok(runtime: Runtime, acc: Access, form: Mapping[str, Any]) -> bool:
    """Whether the member a form writes as can still write records here."""
    with transaction(runtime.control) as conn:
        return _can_write(conn, acc.workspace_id, form["created_by"])


def names(runtime: Runtime, acc: Access, refs: list[str]) -> dict[str, str]:
    """Form names for activity ``source_ref`` values (``form:<id>``), so a history can say
    which form made a change."""
    ids = {int(r.split(":", 1)[1]) for r in refs if r.startswith("form:") and r[5:].isdigit()}
    if not ids:
        return {}
    query = select(F.c.id, F.c.name).where(F.c.workspace_id == acc.workspace_id, F.c.id.in_(ids))
    with transaction(runtime.control) as conn:
        return {source_ref(row.id): row.name for row in conn.execute(query)}


def _can_write(conn: Connection, workspace_id: int, user_id: int) -> bool:
    role = conn.execute(
        select(M.c.role)
        .join(U, U.c.id == M.c.user_id)
        .where(M.c.workspace_id == workspace_id, M.c.user_id == user_id, U.c.disabled_at.is_(None))
    ).scalar()
    return role is not None and RANK[role] >= RANK["member"]


def _row(conn: Connection, acc: Access, form_id: int) -> dict[str, Any]:
    row = (
        conn.execute(
            select(F).where(
                F.c.id == form_id, F.c.workspace_id == acc.workspace_id, F.c.deleted_at.is_(None)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("form not found")
    return dict(row)


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "record_type": row["record_type_id"],
        "slug": row["slug"],
        "path": f"/f/{row['slug']}",
        "is_open": bool(row["is_open"]),
        "config": form_config.load_config(row["config"]).public(),
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
