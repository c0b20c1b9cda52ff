"""Restrictive values shared by the records of one person that are kept apart on purpose.

A person may be on file twice by design (a contact at two accounts), so a dedupe rule lets
the copies be. When a rule has ``propagate`` on, a restrictive value (Blacklisted, an
opt-out) that tightens on one record is written, in the same transaction, to every record of
the type that holds the same key under that rule, wherever it is looser there; each copy's
history says where the value came from ("propagated from #123 by rule Email"). A record
created for a person already on file takes the tightest value of their other records the
same way (:func:`inherit`). Only tightening travels: loosening stays a person's act on each
record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from workspace import activity
from workspace.errors import VersionConflict
from workspace.matching import RuleContext
from workspace.records import match_keys, restrictive
from workspace.records.write_items import Item
from workspace.schema.record_values import record_out, to_columns
from workspace.schema.rows import update_row
from workspace.schema.tables import RecordTypeDef


def propagate(
    conn: Connection,
    rt: RecordTypeDef,
    rows: dict[int, dict[str, Any]],
    entries: list[activity.Entry],
    ctx: RuleContext,
    touch: dict[str, Any],
) -> list[activity.Entry]:
    """The history entries of the records that took a value tightened by ``entries``
    (the batch's changes; ``rows`` the records as now stored). ``touch``: the batch's
    ``updated_at``/``updated_by``."""
    rules = [rd for rd in rt.dedupe if rd.propagate and not rd.rule.fuzzy]
    fields = {f.key: f for f in restrictive.fields_of(rt)}
    if not rules or not fields:
        return []
    made: list[activity.Entry] = []
    for entry in entries:
        sent = {c["field"]: c["new"] for c in entry.changes if c["field"] in fields}
        if not sent or entry.record_id not in rows:
            continue
        values = record_out(rt, rows[entry.record_id])["fields"]
        for rd in rules:
            keys = match_keys.keys_for(rt, rd, values, ctx)
            held = match_keys.holders(conn, rt, rd, keys)
            others = sorted({r for ids in held.values() for r in ids} - {entry.record_id})
            why = f"propagated from #{entry.record_id} by rule {rd.rule.label}"
            made.extend(_tighten(conn, rt, others, sent, why, touch))
    return made


def inherit(
    conn: Connection, rt: RecordTypeDef, creates: list[Item], ctx: RuleContext
) -> dict[int, dict[str, str]]:
    """Give each of ``creates`` the tightest restrictive values of the records that hold its
    keys under a propagating rule; returns, per item index, why each field took its value."""
    rules = [rd for rd in rt.dedupe if rd.propagate and not rd.rule.fuzzy]
    fields = restrictive.fields_of(rt)
    notes: dict[int, dict[str, str]] = {}
    if not rules or not fields:
        return notes
    for item in creates:
        for rd in rules:
            keys = match_keys.keys_for(rt, rd, item.parsed.values, ctx)
            others = sorted(
                {r for ids in match_keys.holders(conn, rt, rd, keys).values() for r in ids}
            )
            if not others:
                continue
            rows = conn.execute(rt.lock_by_ids, {"record_ids": others}).mappings().all()
            for row in rows:
                if row["deleted_at"] is not None:
                    continue
                for f in fields:
                    theirs = f.type.from_row(f, dict(row))
                    if restrictive.rank(f, theirs) > restrictive.rank(
                        f, item.parsed.values.get(f.key)
                    ):
                        item.parsed.values[f.key] = theirs
                        why = f"propagated from #{row['id']} by rule {rd.rule.label}"
                        notes.setdefault(item.index, {})[f.key] = why
    return notes


def _tighten(
    conn: Connection,
    rt: RecordTypeDef,
    record_ids: list[int],
    sent: dict[str, Any],
    why: str,
    touch: dict[str, Any],
) -> list[activity.Entry]:
    if not record_ids:
        return []
    locked = conn.execute(rt.lock_by_ids, {"record_ids": record_ids}).mappings().all()
    made = []
    for row in map(dict, locked):
        if row["deleted_at"] is not None:
            continue
        changes, new = [], {}
        for key, value in sent.items():
            f = rt.field_by_key(key)
            assert f is not None
            theirs = f.type.from_row(f, row)
            if restrictive.rank(f, value) > restrictive.rank(f, theirs):
                new[key] = value
                changes.append({**activity.change(key, theirs, value), "reason": why})
        if not new:
            continue
        values = {**to_columns(rt, new), **touch, "version": row["version"] + 1}
        if update_row(conn, rt, row["id"], row["version"], values) != 1:
            raise VersionConflict(f"record {row['id']} changed during the update; retry")
        made.append(activity.Entry(row["id"], "update", changes))
    return made
