"""Saved views of a record type: a name for a set of columns, a sort, filters and a search.

A view is shared with everyone in the workspace (the team works from the same "Open deals"),
so anyone who can read the records can use it; members and up save views, and a view is
deleted by whoever saved it or by an admin. The config is checked against the record type
when it is saved, with the same parsers the record list uses, so a saved view never holds a
field or operator the list would refuse at the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import NotFound, PermissionDenied, ValidationFailed, WorkspaceError
from workspace.names import clean_name
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema import queries
from workspace.schema.fields import ValueContext
from workspace.schema.tables import RecordTypeDef

V = m.views
#: What a view's config may hold; every key is optional.
CONFIG_KEYS = ("columns", "sort", "filter", "search")
#: Records' own columns a view may show besides the fields.
SYSTEM_COLUMNS = ("created_at", "updated_at")
MAX_VIEWS = 200
MAX_SEARCH = 200


def list_views(runtime: Runtime, acc: Access, rt: RecordTypeDef) -> list[dict[str, Any]]:
    """The saved views of a record type, by name. Everyone in the workspace sees them."""
    query = select(V).where(V.c.record_type_id == rt.id).order_by(V.c.name, V.c.id)
    with transaction(runtime.control) as conn:
        return [_public(dict(r._mapping)) for r in conn.execute(query)]


def get_view(runtime: Runtime, acc: Access, rt: RecordTypeDef, view_id: int) -> dict[str, Any]:
    with transaction(runtime.control) as conn:
        return _public(_row(conn, rt, view_id))


def create_view(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, name: Any, config: Any
) -> dict[str, Any]:
    """Save a view; 422 naming the setting (and field) when the config does not fit ``rt``."""
    acc.require("member")
    name = clean_name(name)
    cleaned = clean_config(runtime, acc, rt, config)
    try:
        return _insert(runtime, acc, rt, name, cleaned)
    except IntegrityError:
        # Saved at the same moment under the same name: the unique index referees, and the
        # loser hears what it would have heard a moment later. Anything else (the record type
        # deleted meanwhile) is not a name clash.
        with transaction(runtime.control) as conn:
            if _name_taken(conn, rt, name):
                raise _name_clash() from None
        raise


def _insert(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, name: str, cleaned: dict[str, Any]
) -> dict[str, Any]:
    with transaction(runtime.control, write=True) as conn:
        if _name_taken(conn, rt, name):
            raise _name_clash()
        count = conn.execute(
            select(func.count()).select_from(V).where(V.c.record_type_id == rt.id)
        ).scalar_one()
        if count >= MAX_VIEWS:
            raise ValidationFailed.single(
                "name", f"a record type holds at most {MAX_VIEWS} views; delete one first"
            )
        row = {
            "record_type_id": rt.id,
            "name": name,
            "config": cleaned,
            "created_by": acc.user_id,
            "created_at": utcnow(),
        }
        row["id"] = inserted_id(conn.execute(insert(V).values(row)))
    return _public(row)


def _name_taken(conn: Connection, rt: RecordTypeDef, name: str) -> bool:
    query = select(V.c.id).where(V.c.record_type_id == rt.id, V.c.name == name)
    return conn.execute(query).first() is not None


def _name_clash() -> ValidationFailed:
    return ValidationFailed.single("name", "another view of this record type has it")


def delete_view(runtime: Runtime, acc: Access, rt: RecordTypeDef, view_id: int) -> None:
    """Delete a view: its creator or an admin may."""
    with transaction(runtime.control, write=True) as conn:
        view = _public(_row(conn, rt, view_id))
        if not can_delete(acc, view):
            raise PermissionDenied("only the member who saved this view or an admin can delete it")
        conn.execute(delete(V).where(V.c.id == view_id))


def can_delete(acc: Access, view: Mapping[str, Any]) -> bool:
    return acc.can("admin") or (acc.can("member") and view["created_by"] == acc.user_id)


def clean_config(runtime: Runtime, acc: Access, rt: RecordTypeDef, config: Any) -> dict[str, Any]:
    """Check a view config against the record type; return it with empty settings left out."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ValidationFailed.single("config", "must be an object")
    unknown = sorted(str(k) for k in config if k not in CONFIG_KEYS)
    if unknown:
        raise ValidationFailed(
            f"config: unknown settings {', '.join(unknown)}",
            fields={f"config.{k}": "is not a setting of a view" for k in unknown},
        )
    cleaned: dict[str, Any] = {}
    if config.get("columns") is not None:
        cleaned["columns"] = _clean_columns(rt, config["columns"])
    if config.get("sort"):
        cleaned["sort"] = _clean_sort(runtime, rt, config["sort"])
    if config.get("filter") not in (None, [], {}):
        cleaned["filter"] = _clean_filter(runtime, acc, rt, config["filter"])
    search = config.get("search")
    if search:
        if not isinstance(search, str) or len(search) > MAX_SEARCH:
            raise ValidationFailed.single("search", f"must be text of at most {MAX_SEARCH} chars")
        cleaned["search"] = search
    return cleaned


def _clean_columns(rt: RecordTypeDef, columns: Any) -> list[str]:
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ValidationFailed.single("columns", "must be a list of field keys")
    seen: list[str] = []
    for key in columns:
        if rt.field_by_key(key) is None and key not in SYSTEM_COLUMNS:
            raise ValidationFailed.single("columns", f"{key[:80]!r} is not a field of {rt.name}")
        if key in seen:
            raise ValidationFailed.single("columns", f"{key!r} is listed twice")
        seen.append(key)
    return seen


def _clean_sort(runtime: Runtime, rt: RecordTypeDef, sort: Any) -> str:
    if not isinstance(sort, str):
        raise ValidationFailed.single("sort", 'must be text like "name,-amount"')
    try:
        keys = queries.parse_sort(rt, sort, runtime.field_types)
    except ValidationFailed as exc:
        raise _named("sort", exc) from None
    return ",".join(("-" if k.descending else "") + k.field.key for k in keys)


def _clean_filter(runtime: Runtime, acc: Access, rt: RecordTypeDef, tree: Any) -> Any:
    """The list parser is the judge: what it accepts, a view may hold."""
    try:
        queries.parse_filter(rt, tree, runtime.field_types, ValueContext(acc.phone_region))
    except WorkspaceError as exc:
        raise _named("filter", exc) from None
    return tree


def _named(setting: str, exc: WorkspaceError) -> ValidationFailed:
    """The parser's error as one about ``setting``, naming the field it tripped on:
    ``filter: amount: a number field supports: eq, ...``."""
    if exc.fields:
        key, reason = next(iter(exc.fields.items()))
        key = key.removeprefix(setting + ".")
        text = reason if key == setting else f"{key}: {reason}"
    else:
        text = exc.message.removeprefix(setting + ": ")
    return ValidationFailed.single(setting, text)


def _row(conn: Any, rt: RecordTypeDef, view_id: int) -> Any:
    row = conn.execute(select(V).where(V.c.id == view_id, V.c.record_type_id == rt.id)).first()
    if row is None:
        raise NotFound("view not found")
    return row._mapping


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "record_type": row["record_type_id"],
        "name": row["name"],
        "config": dict(row["config"] or {}),
        "created_by": row["created_by"],
        "created_at": row["created_at"],
    }
