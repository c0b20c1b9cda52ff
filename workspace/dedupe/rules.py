"""Which dedupe rules a record type uses, on which fields, in which modes.

Adding a rule computes the keys of every record already on file while writes are paused, so
no write slips past it; duplicates already on file go to the review queue (the oldest record
keeps the enforced key). It follows the written-down-change protocol of schema changes: a
crash half way leaves nothing that recovery cannot clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from workspace import models as m
from workspace.clock import utcnow
from workspace.db import inserted_id, transaction
from workspace.errors import NotFound, ValidationFailed
from workspace.matching import RuleContext
from workspace.principal import Access
from workspace.records import match_keys
from workspace.records.match_keys import Candidate
from workspace.runtime import Runtime
from workspace.schema import ddl
from workspace.schema.record_values import load_records
from workspace.schema.tables import RecordTypeDef, RuleDef
from workspace.types import record_types, schema_changes

DR = m.dedupe_rules
CREATE_MODES = ("off", "block", "update", "warn")
UPDATE_MODES = ("off", "block", "warn")
POLICIES = ("overwrite", "fill_empty", "ignore")
BATCH = 1000


def list_rules(runtime: Runtime, acc: Access, record_type_id: int) -> list[dict[str, Any]]:
    rt = record_types.get_type(runtime, acc, record_type_id)
    return [public_rule(rt, rd) for rd in rt.dedupe]


def public_rule(rt: RecordTypeDef, rd: RuleDef) -> dict[str, Any]:
    key = {f.id: f.key for f in rt.fields}
    return {
        "id": rd.id,
        "rule": rd.rule.name,
        "label": rd.rule.label,
        "fuzzy": rd.rule.fuzzy,
        "fields": [key.get(fid) for fid in rd.field_ids],  # None: a skipped position
        "on_create": rd.on_create,
        "on_update": rd.on_update,
        "merge_policy": {key[fid]: p for fid, p in rd.merge_policy.items() if fid in key},
        "threshold": rd.threshold,
        "propagate_restrictive": rd.propagate,
    }


def add_rule(
    runtime: Runtime, acc: Access, record_type_id: int, spec: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply a rule to fields of a type; existing records get their keys now."""
    acc.require("admin")
    rt = record_types.get_type(runtime, acc, record_type_id)
    values = _clean(runtime, rt, spec, partial=False)
    probe = _rule_def(runtime, 0, values)
    if any(rd.signature == probe.signature for rd in rt.dedupe):
        raise ValidationFailed.single("fields", "this rule already applies to these fields")
    op = {"op": "dedupe_rule", "signature": probe.signature}
    schema_changes.begin(runtime, rt.id, op, pause=True)
    with schema_changes.undo_on_error(runtime, rt.id):
        data = runtime.data_engine(acc.workspace_id)
        with transaction(data, write=True) as conn:
            ddl.ensure_keys_table(conn, rt)
        _backfill(runtime, acc, rt, probe)
        with transaction(runtime.control, write=True) as conn:
            rule_id = inserted_id(
                conn.execute(insert(DR).values(record_type_id=rt.id, created_at=utcnow(), **values))
            )
            schema_changes.finish(conn, rt.id)
    return _public(runtime, acc, record_type_id, int(rule_id))


def change_rule(
    runtime: Runtime, acc: Access, record_type_id: int, rule_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Modes, merge policy and threshold; the fields of a rule do not change (add another)."""
    acc.require("admin")
    rt = record_types.get_type(runtime, acc, record_type_id)
    old = _find(rt, rule_id)
    if "rule" in changes or "fields" in changes:
        raise ValidationFailed.single("fields", "cannot change; delete the rule and add another")
    values = _clean(runtime, rt, {**public_rule(rt, old), **changes}, partial=True)
    new = _rule_def(runtime, rule_id, values)
    schema_changes.begin(runtime, rt.id, {"op": "indexes"}, pause=True)
    with schema_changes.undo_on_error(runtime, rt.id):
        if new.enforced != old.enforced:
            with transaction(runtime.data_engine(acc.workspace_id), write=True) as conn:
                _set_enforced(conn, rt, new)
        with transaction(runtime.control, write=True) as conn:
            conn.execute(update(DR).where(DR.c.id == rule_id).values(values))
            schema_changes.finish(conn, rt.id)
    return _public(runtime, acc, record_type_id, rule_id)


def delete_rule(runtime: Runtime, acc: Access, record_type_id: int, rule_id: int) -> None:
    acc.require("admin")
    rt = record_types.get_type(runtime, acc, record_type_id)
    rd = _find(rt, rule_id)
    with transaction(runtime.control, write=True) as conn:
        conn.execute(delete(DR).where(DR.c.id == rule_id))
        schema_changes.publish(conn, rt.id)
    runtime.data_engines.forget(acc.workspace_id)  # the keys where the records are now (#6)
    with transaction(runtime.data_engine(acc.workspace_id), write=True) as conn:
        table = rt.keys_table
        conn.execute(delete(table).where(table.c.signature == rd.signature))


# ---- keys of the records on file -------------------------------------------------------


def _backfill(runtime: Runtime, acc: Access, rt: RecordTypeDef, rd: RuleDef) -> None:
    """Keys for every live record, batch by batch in id order: for an enforced rule the
    oldest holder of each key keeps it enforced; records sharing a key of an exact rule are
    queued as possible duplicates (a fuzzy rule's keys only say whom to compare: the scan
    scores those)."""
    data = runtime.data_engine(acc.workspace_id)
    ctx = RuleContext(acc.phone_region)
    table, first_holder = rt.table, dict[str, int]()
    pairs: list[tuple[int, Candidate]] = []
    reason = [f"same {rd.rule.label.lower()}"]
    last = 0
    while True:
        with transaction(data, write=True) as conn:
            rows = (
                conn.execute(
                    select(table)
                    .where(table.c.id > last, table.c.deleted_at.is_(None))
                    .order_by(table.c.id)
                    .limit(BATCH)
                )
                .mappings()
                .all()
            )
            if not rows:
                break
            keyed = []
            for record in load_records(conn, rt, rows):
                for key in match_keys.keys_for(rt, rd, record["fields"], ctx):
                    oldest = first_holder.setdefault(key, record["id"])
                    if oldest != record["id"] and not rd.rule.fuzzy:  # fuzzy: a scan scores
                        pairs.append((record["id"], Candidate(oldest, rd.rule.name, 1.0, reason)))
                    enforced = True if rd.enforced and oldest == record["id"] else None
                    keyed.append(
                        {
                            "signature": rd.signature,
                            "key": key,
                            "record_id": record["id"],
                            "enforced": enforced,
                        }
                    )
            if keyed:
                conn.execute(insert(rt.keys_table), keyed)
            last = rows[-1]["id"]
        schema_changes.renew(runtime, rt.id)
    with transaction(runtime.control, write=True) as conn:
        match_keys.queue_pairs(conn, rt, pairs, acc.principal)


def _set_enforced(conn: Connection, rt: RecordTypeDef, rd: RuleDef) -> None:
    """Enforced: the oldest holder of each key gets the flag (the unique index allows one);
    not enforced: no record has it."""
    table = rt.keys_table
    mine = table.c.signature == rd.signature
    conn.execute(update(table).where(mine).values(enforced=None))
    if not rd.enforced:
        return
    oldest = conn.execute(
        select(table.c.key, func.min(table.c.record_id)).where(mine).group_by(table.c.key)
    ).all()
    flag = (
        update(table)
        .where(mine, table.c.key == bindparam("k"), table.c.record_id == bindparam("r"))
        .values(enforced=True)
    )
    if oldest:
        conn.execute(flag, [{"k": key, "r": record_id} for key, record_id in oldest])


# ---- validation ------------------------------------------------------------------------


def _clean(
    runtime: Runtime, rt: RecordTypeDef, spec: Mapping[str, Any], *, partial: bool
) -> dict[str, Any]:
    allowed = {"rule", "fields", "on_create", "on_update", "merge_policy", "threshold"}
    allowed.add("propagate_restrictive")
    unknown = set(spec) - allowed - {"id", "label", "fuzzy"}
    if unknown:
        raise ValidationFailed(
            "unknown keys", fields={k: "is not a known key" for k in sorted(unknown)}
        )
    name = str(spec.get("rule"))
    if name not in runtime.dedupe_rules:
        choices = ", ".join(runtime.dedupe_rules.names())
        raise ValidationFailed.single("rule", f"must be one of: {choices}")
    rule = runtime.dedupe_rules.get(name)
    field_ids = _clean_fields(rt, rule, spec.get("fields"))
    on_create = spec.get("on_create", "warn" if rule.fuzzy else "block")
    on_update = spec.get("on_update", "warn" if rule.fuzzy else "block")
    modes = ("off", "warn") if rule.fuzzy else None
    _check_mode("on_create", on_create, modes or CREATE_MODES, rule.fuzzy)
    _check_mode("on_update", on_update, modes or UPDATE_MODES, rule.fuzzy)
    return {
        "rule": rule.name,
        "field_ids": field_ids,
        "on_create": on_create,
        "on_update": on_update,
        "merge_policy": _clean_policy(rt, spec.get("merge_policy") or {}),
        "threshold": _clean_threshold(spec.get("threshold"), rule.fuzzy),
        "propagate_restrictive": _clean_propagate(rt, rule, field_ids, spec),
    }


def _clean_fields(rt: RecordTypeDef, rule: Any, keys: Any) -> list[int]:
    low, high = rule.arity
    if not isinstance(keys, list) or not low <= len(keys) <= high:
        raise ValidationFailed.single("fields", f"must list {low} to {high} field keys")
    ids = []
    for position, key in enumerate(keys):
        if key is None and position > 0:  # a position the rule should not read
            ids.append(0)
            continue
        f = rt.field_by_key(str(key))
        if f is None:
            raise ValidationFailed.single("fields", f"{key!r} is not a field of this type")
        if f.type.name not in rule.field_types:
            kinds = ", ".join(sorted(rule.field_types))
            raise ValidationFailed.single("fields", f"{key!r} is not a {kinds} field")
        ids.append(f.id)
    return ids


def _check_mode(name: str, mode: Any, allowed: tuple[str, ...], fuzzy: bool) -> None:
    if mode not in allowed:
        why = " (a fuzzy rule only finds candidates for review)" if fuzzy else ""
        raise ValidationFailed.single(name, f"must be one of {', '.join(allowed)}{why}")


def _clean_policy(rt: RecordTypeDef, policy: Any) -> dict[str, str]:
    if not isinstance(policy, Mapping):
        raise ValidationFailed.single("merge_policy", "must map field keys to a policy")
    cleaned = {}
    for key, value in policy.items():
        f = rt.field_by_key(str(key))
        if f is None or value not in POLICIES:
            raise ValidationFailed.single(
                "merge_policy", f"{key!r}: a field key with one of {', '.join(POLICIES)}"
            )
        cleaned[str(f.id)] = value
    return cleaned


def _clean_threshold(value: Any, fuzzy: bool) -> float | None:
    if value is None:
        return None
    if not fuzzy:
        raise ValidationFailed.single("threshold", "only fuzzy rules have a threshold")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValidationFailed.single("threshold", "must be a number above 0 and at most 1")
    return float(value)


def _clean_propagate(
    rt: RecordTypeDef, rule: Any, field_ids: list[int], spec: Mapping[str, Any]
) -> bool:
    """Propagation copies restrictive values between records that are the same person, so
    it needs an exact rule on an email field and a restrictive field to copy."""
    value = spec.get("propagate_restrictive", False)
    if not isinstance(value, bool):
        raise ValidationFailed.single("propagate_restrictive", "must be true or false")
    if not value:
        return False
    emails = [f for fid in field_ids if (f := rt.field_by_id(fid)) and f.type.name == "email"]
    if rule.fuzzy or not emails:
        raise ValidationFailed.single(
            "propagate_restrictive",
            "needs an exact rule on an email field (records that are the same person)",
        )
    if not any(f.config.get("restrictive") for f in rt.fields):
        raise ValidationFailed.single(
            "propagate_restrictive", f"{rt.name} has no restrictive field to propagate"
        )
    return True


def _rule_def(runtime: Runtime, rule_id: int, values: Mapping[str, Any]) -> RuleDef:
    return RuleDef(
        id=rule_id,
        rule=runtime.dedupe_rules.get(values["rule"]),
        field_ids=tuple(values["field_ids"]),
        on_create=values["on_create"],
        on_update=values["on_update"],
        merge_policy={int(k): v for k, v in values["merge_policy"].items()},
        threshold=values["threshold"],
        propagate=values["propagate_restrictive"],
    )


def _find(rt: RecordTypeDef, rule_id: int) -> RuleDef:
    found = next((rd for rd in rt.dedupe if rd.id == rule_id), None)
    if found is None:
        raise NotFound("dedupe rule not found")
    return found


def _public(runtime: Runtime, acc: Access, record_type_id: int, rule_id: int) -> dict[str, Any]:
    rt = record_types.get_type(runtime, acc, record_type_id)
    return public_rule(rt, _find(rt, rule_id))
