"""Checking an automation when it is saved, and again before each run.

Every problem is a 422 naming the step and the field (``actions[1].values.status: no such
field in Lead``): an unknown trigger or action, a field that does not exist (or no longer
does), a value its field type refuses, a template that does not parse, a filter the records
API would refuse. Run time checks the definition against the type as it is then, so a field
deleted since disables the automation with a notice instead of failing run after run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from workspace import crypto
from workspace.automations import mail, templates
from workspace.automations.kinds import Registries
from workspace.errors import NotFound, ValidationFailed, WorkspaceError
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema import queries
from workspace.schema.fields import FieldDef, ValueContext
from workspace.schema.record_values import parse_values
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types

MAX_ACTIONS = 50
MAX_CHANGED = 20


@dataclass(frozen=True)
class Definition:
    """An automation's parts, checked: what the engine runs."""

    record_type_id: int
    trigger: dict[str, Any]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]


class Checks:
    """What triggers and actions check their config with (see ``kinds.Checks``)."""

    def __init__(self, runtime: Runtime, acc: Access, rt: RecordTypeDef) -> None:
        self.runtime, self.acc, self.rt = runtime, acc, rt
        self.record_type_id = rt.id

    def only(self, config: Mapping[str, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise ValidationFailed.single(f"{where}.{unknown[0]}", "is not a setting here")

    def _type(self, record_type_id: Any, where: str) -> RecordTypeDef:
        if record_type_id is None or record_type_id == self.rt.id:
            return self.rt
        if not isinstance(record_type_id, int) or isinstance(record_type_id, bool):
            raise ValidationFailed.single(where, "must be a record type id")
        try:
            return record_types.get_type(self.runtime, self.acc, record_type_id)
        except NotFound:
            raise ValidationFailed.single(where, "no such record type") from None

    def field(self, key: Any, where: str, rt: RecordTypeDef | None = None) -> FieldDef:
        rt = rt or self.rt
        found = rt.field_by_key(key) if isinstance(key, str) else None
        if found is None:
            raise ValidationFailed.single(where, f"no such field in {rt.name}: {key!r}")
        return found

    def relation(self, key: Any, where: str) -> FieldDef:
        found = self.field(key, where)
        if found.type.name != "relation":
            raise ValidationFailed.single(where, f"{found.key} is not a relation field")
        return found

    def backlink(self, record_type_id: Any, key: Any, where: str) -> FieldDef:
        """A relation field of another type that points at this automation's type."""
        other = self._type(record_type_id, where)
        found = self.field(key, where, other)
        if found.type.name != "relation" or found.config.get("target") != self.rt.id:
            raise ValidationFailed.single(where, f"{found.key} does not point at {self.rt.name}")
        return found

    def values(
        self, values: Any, where: str, *, record_type_id: int | None = None
    ) -> dict[str, Any]:
        """Field values to write: every key a field, templates that parse, literal values
        the field type takes."""
        rt = self._type(record_type_id, where)
        if not isinstance(values, Mapping) or not values:
            raise ValidationFailed.single(where, "must be an object of field key -> value")
        literal: dict[str, Any] = {}
        for key, value in values.items():
            f = self.field(key, f"{where}.{key}", rt)
            if f.type.outside_record:
                raise ValidationFailed.single(f"{where}.{key}", "files cannot be set here")
            self.template(value, f"{where}.{key}")
            if not templates.is_template(value):
                literal[key] = value
        parsed = parse_values(rt, literal, ValueContext(self.acc.phone_region), partial=True)
        if parsed.errors:
            key, reason = next(iter(parsed.errors.items()))
            raise ValidationFailed.single(f"{where}.{key}", reason)
        return dict(values)

    def template(self, value: Any, where: str) -> Any:
        reason = templates.problem(value)
        if reason is not None:
            raise ValidationFailed.single(where, reason)
        return value

    def filter(self, tree: Any, where: str) -> Any:
        ctx = ValueContext(self.acc.phone_region)
        try:
            queries.parse_filter(self.rt, tree, self.runtime.field_types, ctx)
        except WorkspaceError as exc:
            name = next(iter(exc.fields), "")
            reason = exc.fields[name] if name else exc.message
            name = name.removeprefix("filter.")
            raise ValidationFailed.single(f"{where}.{name}" if name else where, reason) from None
        return tree

    def url(self, value: Any, where: str) -> str:
        """An http(s) URL with a host; whether the host may be reached is decided when the
        step runs (names move), with the same rules as storage and database hosts."""
        parsed = urlsplit(value) if isinstance(value, str) else None
        if parsed is None or parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ValidationFailed.single(where, "must be an http:// or https:// URL")
        if parsed.username or parsed.password:
            raise ValidationFailed.single(where, "must not carry a user name or password")
        return str(value)

    def address(self, value: Any, where: str) -> str:
        return mail.address(value, where)

    def seal(self, secret: str) -> str:
        return crypto.seal(self.runtime.settings.resolved_secret_key(), {"secret": secret})

    def unseal(self, sealed: Any, where: str) -> str:
        try:
            return unseal(self.runtime, sealed)
        except (crypto.CredentialsUnreadable, TypeError, ValueError, KeyError) as exc:
            raise ValidationFailed.single(where, f"cannot be read: {exc}; enter it again") from None

    def integer(self, value: Any, where: str, *, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationFailed.single(where, f"must be a whole number from {low} to {high}")
        return value


def unseal(runtime: Runtime, sealed: Any) -> str:
    if not isinstance(sealed, str):
        raise TypeError("not a sealed secret")
    return str(crypto.open_sealed(runtime.settings.resolved_secret_key(), sealed)["secret"])


def check(runtime: Runtime, acc: Access, regs: Registries, body: Mapping[str, Any]) -> Definition:
    """``body``'s record type, trigger, conditions and actions, checked and cleaned."""
    rt = _record_type(runtime, acc, body.get("record_type"))
    checks = Checks(runtime, acc, rt)
    return Definition(
        record_type_id=rt.id,
        trigger=_trigger(regs, checks, body.get("trigger")),
        conditions=_conditions(checks, body.get("conditions")),
        actions=_actions(regs, checks, body.get("actions")),
    )


def _record_type(runtime: Runtime, acc: Access, value: Any) -> RecordTypeDef:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed.single("record_type", "must be the id of a record type")
    try:
        return record_types.get_type(runtime, acc, value)
    except NotFound:
        raise ValidationFailed.single("record_type", "no such record type") from None


def _trigger(regs: Registries, checks: Checks, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
        raise ValidationFailed.single("trigger.type", "is required")
    if raw["type"] not in regs.triggers:
        known = ", ".join(regs.triggers.names())
        raise ValidationFailed.single("trigger.type", f"unknown trigger (known: {known})")
    trigger = regs.triggers.get(raw["type"])
    config = {k: v for k, v in raw.items() if k != "type"}
    return {"type": trigger.name, **trigger.check(config, checks)}


def _conditions(checks: Checks, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or set(raw) - {"filter", "changed"}:
        raise ValidationFailed.single(
            "conditions", 'must be {"filter": <records filter>, "changed": [...]}'
        )
    out: dict[str, Any] = {}
    if raw.get("filter") is not None:
        out["filter"] = checks.filter(raw["filter"], "conditions.filter")
    changed = raw.get("changed") or []
    if not isinstance(changed, list) or len(changed) > MAX_CHANGED:
        raise ValidationFailed.single(
            "conditions.changed", f"must be a list of at most {MAX_CHANGED}"
        )
    tests = []
    for i, test in enumerate(changed):
        where = f"conditions.changed[{i}]"
        if not isinstance(test, Mapping) or set(test) - {"field", "from", "to"}:
            raise ValidationFailed.single(where, 'must be {"field": key, "from"?: .., "to"?: ..}')
        checks.field(test.get("field"), f"{where}.field")
        tests.append(dict(test))
    if tests:
        out["changed"] = tests
    return out


def _actions(regs: Registries, checks: Checks, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed.single("actions", "must be a list of at least one action")
    if len(raw) > MAX_ACTIONS:
        raise ValidationFailed.single("actions", f"holds at most {MAX_ACTIONS} actions")
    out = []
    for i, step in enumerate(raw):
        where = f"actions[{i}]"
        if not isinstance(step, Mapping) or not isinstance(step.get("type"), str):
            raise ValidationFailed.single(f"{where}.type", "is required")
        if step["type"] not in regs.actions:
            known = ", ".join(regs.actions.names())
            raise ValidationFailed.single(f"{where}.type", f"unknown action (known: {known})")
        action = regs.actions.get(step["type"])
        config = {k: v for k, v in step.items() if k != "type"}
        out.append({"type": action.name, **action.check(config, checks, where)})
    return out
