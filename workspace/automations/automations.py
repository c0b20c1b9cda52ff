"""Automations of a workspace: create, read, change, turn on and off, duplicate, delete.

Every save checks the whole definition (``checks``) and refuses it naming the step and the
field. An automation acts as the member who made it (source ``automation``, source_ref
``automation:<id>``); making or changing one takes an admin, since it writes with the
maker's rights long after the maker clicked save.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, insert, select, update

from workspace import models as m
from workspace.automations import checks, engine
from workspace.automations.kinds import Registries, registries
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import NotFound, ValidationFailed
from workspace.names import clean_name
from workspace.principal import Access
from workspace.runtime import Runtime

A, W = m.automations, m.workspaces
EDITABLE = ("name", "record_type", "trigger", "conditions", "actions", "enabled")
HOOK_PATH = "/api/v1/hooks/automations/"


def list_automations(
    runtime: Runtime, acc: Access, *, record_type_id: int | None = None
) -> list[dict[str, Any]]:
    query = select(A).where(A.c.workspace_id == acc.workspace_id).order_by(A.c.id)
    if record_type_id is not None:
        query = query.where(A.c.record_type_id == record_type_id)
    with transaction(runtime.control) as conn:
        return [public(dict(r)) for r in conn.execute(query).mappings()]


def get(runtime: Runtime, acc: Access, automation_id: int) -> dict[str, Any]:
    return public(load(runtime, acc, automation_id))


def names_for_refs(runtime: Runtime, acc: Access, refs: set[str]) -> dict[str, str]:
    """Automation names for activity ``source_ref`` values (``automation:<id>``), so a
    history can say "by automation <name>"."""
    rests = [ref.removeprefix("automation:") for ref in refs if ref.startswith("automation:")]
    ids = [int(rest) for rest in rests if rest.isdigit()]
    if not ids:
        return {}
    query = select(A.c.id, A.c.name).where(A.c.workspace_id == acc.workspace_id, A.c.id.in_(ids))
    with transaction(runtime.control) as conn:
        return {f"automation:{row.id}": row.name for row in conn.execute(query)}


def with_names(runtime: Runtime, acc: Access, page: dict[str, Any]) -> dict[str, Any]:
    """A page of activity whose entries made by an automation say which one
    (``source_name``: "by automation <name>" in the API's words)."""
    refs = {i["source_ref"] for i in page["items"] if i["source"] == "automation"}
    known = names_for_refs(runtime, acc, {r for r in refs if r})
    for item in page["items"]:
        if item["source_ref"] in known:
            item["source_name"] = known[item["source_ref"]]
    return page


def create(runtime: Runtime, acc: Access, body: Mapping[str, Any]) -> dict[str, Any]:
    acc.require("admin")
    _known_keys(body)
    regs = registries(runtime.pm)
    definition = checks.check(runtime, acc, regs, body)
    enabled = _flag(body.get("enabled", True))
    now = utcnow()
    row = {
        "workspace_id": acc.workspace_id,
        "name": clean_name(body.get("name")),
        "enabled": enabled,
        "notice": None,
        **_parts(definition),
        "hook_secret": _secret(regs, definition),
        "next_fire_at": _next_fire(runtime, acc, regs, definition, enabled),
        "version": 1,
        "created_by": acc.user_id,
        "created_at": now,
        "updated_at": now,
    }
    with transaction(runtime.control, write=True) as conn:
        row["id"] = inserted_id(conn.execute(insert(A).values(row)))
    return public(row)


def update_automation(
    runtime: Runtime, acc: Access, automation_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change any of name, record type, trigger, conditions, actions and enabled; the
    result is checked whole. Turning an automation on clears its notice."""
    acc.require("admin")
    _known_keys(changes)
    current = load(runtime, acc, automation_id)
    body = {**engine.definition_body(current), **changes}
    regs = registries(runtime.pm)
    definition = checks.check(runtime, acc, regs, body)
    enabled = _flag(changes.get("enabled", current["enabled"]))
    values: dict[str, Any] = {
        **_parts(definition),
        "enabled": enabled,
        "next_fire_at": _next_fire(runtime, acc, regs, definition, enabled),
        "version": current["version"] + 1,
        "updated_at": utcnow(),
    }
    if "name" in changes:
        values["name"] = clean_name(changes["name"])
    if enabled:
        values["notice"] = None
    if current["hook_secret"] is None or not regs.triggers.get(definition.trigger["type"]).inbound:
        values["hook_secret"] = _secret(regs, definition)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(update(A).where(A.c.id == automation_id).values(values))
    return get(runtime, acc, automation_id)


def set_enabled(runtime: Runtime, acc: Access, automation_id: int, enabled: bool) -> dict[str, Any]:
    return update_automation(runtime, acc, automation_id, {"enabled": enabled})


def duplicate(runtime: Runtime, acc: Access, automation_id: int) -> dict[str, Any]:
    """A copy, turned off (two automations doing the same thing is rarely meant)."""
    current = load(runtime, acc, automation_id)
    body = {**engine.definition_body(current), "name": f"{current['name']} (copy)"}
    return create(runtime, acc, {**body, "enabled": False})


def delete_automation(runtime: Runtime, acc: Access, automation_id: int) -> None:
    """Delete it with its runs, their log and its inbound payloads (foreign keys cascade);
    the jobs of runs under way find nothing left to do."""
    acc.require("admin")
    load(runtime, acc, automation_id)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(A).where(A.c.id == automation_id))


# ---- helpers ---------------------------------------------------------------------------


def load(runtime: Runtime, acc: Access, automation_id: int) -> dict[str, Any]:
    query = select(A).where(A.c.id == automation_id, A.c.workspace_id == acc.workspace_id)
    with transaction(runtime.control) as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("automation not found")
    return dict(row)


def _known_keys(body: Mapping[str, Any]) -> None:
    unknown = sorted(set(body) - set(EDITABLE))
    if unknown:
        raise ValidationFailed.single(unknown[0], "is not part of an automation")


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed.single("enabled", "must be true or false")
    return value


def _parts(definition: checks.Definition) -> dict[str, Any]:
    return {
        "record_type_id": definition.record_type_id,
        "trigger_type": definition.trigger["type"],
        "trigger": definition.trigger,
        "conditions": definition.conditions,
        "actions": definition.actions,
    }


def _secret(regs: Registries, definition: checks.Definition) -> str | None:
    inbound = regs.triggers.get(definition.trigger["type"]).inbound
    return secrets.token_urlsafe(32) if inbound else None


def _next_fire(
    runtime: Runtime,
    acc: Access,
    regs: Registries,
    definition: checks.Definition,
    enabled: bool,
) -> Any:
    if not enabled:
        return None
    trigger = regs.triggers.get(definition.trigger["type"])
    with transaction(runtime.control) as conn:
        zone_name = conn.execute(
            select(W.c.time_zone).where(W.c.id == acc.workspace_id)
        ).scalar_one()
    config = {k: v for k, v in definition.trigger.items() if k != "type"}
    return trigger.next_fire(config, utcnow(), engine.zone_of(zone_name))


def public(row: Mapping[str, Any]) -> dict[str, Any]:
    secret = row.get("hook_secret")
    return {
        "id": row["id"],
        "name": row["name"],
        "record_type": row["record_type_id"],
        "enabled": row["enabled"],
        "notice": row["notice"],
        "trigger": row["trigger"],
        "conditions": row["conditions"],
        "actions": row["actions"],
        "hook_path": HOOK_PATH + secret if secret else None,
        "next_fire_at": row["next_fire_at"],
        "version": row["version"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
