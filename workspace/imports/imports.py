"""CSV imports: a file's rows become records through the same write path as the API, with
dedupe applied under an import-wide duplicate policy, and every row kept with its outcome.

Two steps, as in every spreadsheet tool: *upload* stores the rows exactly as read and
matches columns to fields by name; *run* writes them with the mapping and duplicate policy a
person confirmed. A run takes only rows still pending, a batch (``bulk_limit`` rows) per
transaction, and that transaction also records the batch's outcomes: a run cut short by a
crash or restart is finished by running again, and no row is ever written twice (a second
runner racing the first finds its rows already decided and rolls back).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from workspace import models as m
from workspace.activity import jsonable
from workspace.clock import utcnow
from workspace.db import Tx, transaction
from workspace.errors import Conflict, NotFound, ValidationFailed
from workspace.imports import key_match
from workspace.principal import Access
from workspace.records import records, restrictive
from workspace.records.csv_cells import unguard
from workspace.records.match_keys import policy_override
from workspace.records.write_items import Item, Outcome
from workspace.runtime import Runtime
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

#: Duplicate policies an import offers: the record type's own rules, or one of the entry
#: path policies forms use.
POLICIES = {
    "rules": "Follow the record type's dedupe rules",
    "create": "Create a new record anyway",
    "review": "Create a new record and put the pair in the review queue",
    "update": "Update the record on file with the row's values",
    "fill_empty": "Fill only the empty fields of the record on file",
    "refuse": "Skip the row (it is listed as rejected)",
}
DEFAULT_POLICY = "rules"
OUTCOMES = ("pending", "created", "updated", "unchanged", "rejected")
DELIMITERS = ",;\t|"
#: Rows inserted per statement when an upload is stored.
_STORE_CHUNK = 1000


class _AlreadyDecided(Exception):
    """Another run wrote this batch first; this run's copy of it must not commit."""


def read_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a CSV file as spreadsheets write them: UTF-8 (with or without
    the byte order mark Excel adds) or, failing that, Windows-1252; separated by whichever
    of comma, semicolon, tab or pipe the header row holds most of (csv.Sniffer guesses
    wrong on short files). Blank rows are dropped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)  # ties keep the comma, listed first
    try:
        table = [
            row
            for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            if any(row)
        ]
    except csv.Error as exc:
        raise ValidationFailed.single("file", f"is not a readable CSV file: {exc}") from None
    if not table:
        raise ValidationFailed.single("file", "is empty: it needs a header row and data rows")
    header = [unguard(cell).strip() for cell in table[0]]
    if not any(header):
        raise ValidationFailed.single("file", "has an empty first row: it must name the columns")
    return header, table[1:]


def suggest_mapping(rt: RecordTypeDef, headers: list[str]) -> dict[str, str]:
    """Columns matched to fields whose name or key reads the same (case, spaces, accents and
    punctuation aside), each field at most once: {column index: field key}."""
    by_name: dict[str, str] = {}
    for f in rt.fields:
        if f.type.outside_record:  # a file field's files are uploaded, not imported
            continue
        by_name.setdefault(_folded(f.key), f.key)
        by_name[_folded(f.name)] = f.key
    mapping: dict[str, str] = {}
    for index, header in enumerate(headers):
        key = by_name.get(_folded(header))
        if key is not None and key not in mapping.values():
            mapping[str(index)] = key
    return mapping


def create_import(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, name: str, data: bytes
) -> dict[str, Any]:
    """Store an uploaded file's rows as read (nothing written to records yet) with a
    suggested column mapping."""
    acc.require("member")
    headers, rows = read_csv(data)
    limit = runtime.settings.import_max_rows
    if not rows:
        raise ValidationFailed.single("file", "has a header row but no data rows")
    if len(rows) > limit:
        raise ValidationFailed.single(
            "file", f"has {len(rows):,} rows; an import takes at most {limit:,}"
        )
    with transaction(runtime.control, write=True) as conn:
        import_id: int = conn.execute(
            insert(m.imports).values(
                workspace_id=acc.workspace_id,
                record_type_id=rt.id,
                name=_display_name(name),
                created_by=acc.user_id,
                created_at=utcnow(),
                status="uploaded",
                headers=headers,
                mapping=suggest_mapping(rt, headers),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        for start in range(0, len(rows), _STORE_CHUNK):
            chunk = rows[start : start + _STORE_CHUNK]
            conn.execute(
                insert(m.import_rows),
                [
                    {"import_id": import_id, "row_number": start + i + 1, "cells": cells}
                    | {"outcome": "pending"}
                    for i, cells in enumerate(chunk)
                ],
            )
    return get_import(runtime, acc, rt, import_id)


def run_import(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    import_id: int,
    mapping: Any,
    policy: Any = DEFAULT_POLICY,
    match_on: Any = None,
) -> dict[str, Any]:
    """Write the import's pending rows as records (see the module docstring). ``match_on``
    names a field whose value finds the record on file a row is (see ``key_match``)."""
    acc.require("member")
    found = _row(runtime, acc, rt, import_id)
    columns = _checked_mapping(rt, found.headers, mapping)
    if policy not in POLICIES:
        raise ValidationFailed.single("policy", "must be one of " + ", ".join(POLICIES))
    key = key_match.checked_key(rt, match_on, policy)
    if found.status == "done":
        raise Conflict("this import has already run; upload the file again to import it anew")
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(m.imports)
            .where(m.imports.c.id == import_id)
            .values(status="running", mapping=mapping, policy=policy)
        )
    by_import = replace(acc.principal, source="import", source_ref=found.name)
    importer = replace(acc, principal=by_import)
    while _write_batch(runtime, importer, rt, import_id, columns, policy, key):
        pass
    with transaction(runtime.control, write=True) as conn:
        conn.execute(
            update(m.imports)
            .where(m.imports.c.id == import_id)
            .values(status="done", finished_at=utcnow())
        )
    return get_import(runtime, acc, rt, import_id)


def get_import(runtime: Runtime, acc: Access, rt: RecordTypeDef, import_id: int) -> dict[str, Any]:
    """An import with its rows counted by outcome."""
    found = _row(runtime, acc, rt, import_id)
    with transaction(runtime.control) as conn:
        return _public(found, _counts(conn, [import_id])[import_id])


def list_imports(runtime: Runtime, acc: Access, rt: RecordTypeDef) -> list[dict[str, Any]]:
    """The record type's imports, newest first, their rows counted in one query."""
    with transaction(runtime.control) as conn:
        found = conn.execute(
            select(m.imports)
            .where(m.imports.c.record_type_id == rt.id)
            .where(m.imports.c.workspace_id == acc.workspace_id)
            .order_by(m.imports.c.id.desc())
        ).all()
        counts = _counts(conn, [row.id for row in found])
    return [_public(row, counts[row.id]) for row in found]


def newest_by_name(
    runtime: Runtime, acc: Access, record_type_id: int, names: Collection[str]
) -> dict[str, int]:
    """The newest import of the type for each file name in ``names`` (name -> import id):
    one read of the imports, none of their rows (the activity feed names its sources so)."""
    if not names:
        return {}
    t = m.imports
    with transaction(runtime.control) as conn:
        rows = conn.execute(
            select(t.c.id, t.c.name)
            .where(t.c.record_type_id == record_type_id)
            .where(t.c.workspace_id == acc.workspace_id)
            .where(t.c.name.in_(sorted(names)))
            .order_by(t.c.id.desc())
        ).all()
    found: dict[str, int] = {}
    for row in rows:
        found.setdefault(row.name, row.id)
    return found


def _counts(conn: Connection, import_ids: list[int]) -> dict[int, dict[str, int]]:
    """Rows per outcome (every outcome listed, 0 when none) of each import."""
    counts = {import_id: dict.fromkeys(OUTCOMES, 0) for import_id in import_ids}
    if import_ids:
        t = m.import_rows
        for import_id, outcome, n in conn.execute(
            select(t.c.import_id, t.c.outcome, func.count())
            .where(t.c.import_id.in_(import_ids))
            .group_by(t.c.import_id, t.c.outcome)
        ):
            counts[import_id][outcome] = n
    return counts


def import_rows(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    import_id: int,
    *,
    outcome: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> dict[str, Any]:
    """An import's rows in file order, optionally of one outcome; ``next_after`` pages on."""
    _row(runtime, acc, rt, import_id)
    if outcome is not None and outcome not in OUTCOMES:
        raise ValidationFailed.single("outcome", "must be one of " + ", ".join(OUTCOMES))
    if not 1 <= limit <= 1000:
        raise ValidationFailed.single("limit", "must be from 1 to 1000")
    t = m.import_rows
    query = select(t).where(t.c.import_id == import_id).where(t.c.row_number > after)
    if outcome is not None:
        query = query.where(t.c.outcome == outcome)
    with transaction(runtime.control) as conn:
        found = conn.execute(query.order_by(t.c.row_number).limit(limit + 1)).all()
    items = [
        {
            "row": r.row_number,
            "cells": r.cells,
            "outcome": r.outcome,
            "record": r.record_id,
            "detail": r.detail,
        }
        for r in found[:limit]
    ]
    more = len(found) > limit
    return {"items": items, "next_after": items[-1]["row"] if more else None}


def _write_batch(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    import_id: int,
    columns: dict[int, str],
    policy: str,
    key: FieldDef | None,
) -> bool:
    """Write the next batch of pending rows; False when none are left."""
    t = m.import_rows
    with transaction(runtime.control) as conn:
        pending = conn.execute(
            select(t.c.id, t.c.cells)
            .where(t.c.import_id == import_id)
            .where(t.c.outcome == "pending")
            .order_by(t.c.row_number)
            .limit(runtime.settings.bulk_limit)
        ).all()
    if not pending:
        return False
    texts = [_texts(row.cells, columns) for row in pending]
    ids = [row.id for row in pending]
    keys: list[key_match.Key | None] = []
    if key is not None:
        keys = [key_match.key_of(rt, acc, key, row) for row in texts]
        chosen = key_match.first_of_each_key(keys)
        texts, ids, keys = (
            [texts[i] for i in chosen],
            [ids[i] for i in chosen],
            [keys[i] for i in chosen],
        )

    def record(tx: Tx, outcomes: list[Outcome]) -> None:
        for row_id, outcome in zip(ids, outcomes, strict=True):
            decided = tx.control.execute(
                update(t)
                .where(t.c.id == row_id)
                .where(t.c.outcome == "pending")
                .values(**_decided(rt, outcome))
            )
            if decided.rowcount != 1:
                raise _AlreadyDecided

    # Another run may have taken these rows; then the next select moves past them.
    with suppress(_AlreadyDecided):
        _write(runtime, acc, rt, texts, policy, key, keys, record)
    return True


def _write(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    texts: list[dict[str, str]],
    policy: str,
    key: FieldDef | None,
    keys: list[key_match.Key | None],
    record: Callable[[Tx, list[Outcome]], None],
) -> None:
    """Write a batch's rows: as creates under the policy, or matched on ``key`` first."""
    override = None if policy == "rules" else policy_override(policy)
    if key is None:
        records.create_from_texts(runtime, acc, rt, texts, override=override, after=record)
        return

    def build(rt: RecordTypeDef, tx: Tx) -> list[Item]:
        return key_match.build_items(rt, acc, tx, key, policy, texts, keys)

    records.write_built(runtime, acc, rt, build, override=override, after=record)


def _decided(rt: RecordTypeDef, outcome: Outcome) -> dict[str, Any]:
    """An import row's columns for what became of it (a restrictive value kept on file
    instead of the row's looser one is said, never dropped silently)."""
    if outcome.error is not None:
        problem = {"message": outcome.error.message, "fields": outcome.error.fields}
        return {"outcome": "rejected", "record_id": None, "detail": problem}
    kept = (
        {"message": restrictive.kept_text(rt, outcome.kept), "kept": jsonable(outcome.kept)}
        if outcome.kept
        else None
    )
    if outcome.merged_into is not None:
        return {"outcome": "updated", "record_id": outcome.merged_into, "detail": kept}
    record_id = outcome.record["id"] if outcome.record else None
    duplicates = [c.record_id for c in outcome.candidates]
    queued = {"possible_duplicates": duplicates} if duplicates else None
    status = outcome.status if outcome.status in OUTCOMES else "created"
    return {"outcome": status, "record_id": record_id, "detail": queued}


def _texts(cells: list[str], columns: dict[int, str]) -> dict[str, str]:
    """The mapped, non-blank cells of a row by field key: a blank cell is "not given", so it
    never clears a value on file when a row updates a record. A cell our own export guarded
    against spreadsheet formulas reads as the value it holds."""
    texts = {}
    for index, key in columns.items():
        cell = unguard(cells[index]).strip() if index < len(cells) else ""
        if cell:
            texts[key] = cell
    return texts


def _checked_mapping(rt: RecordTypeDef, headers: list[str], mapping: Any) -> dict[int, str]:
    """{column index: field key} from a mapping of column index (as text) -> field key
    (blank: not imported), naming each problem by column."""
    if not isinstance(mapping, Mapping):
        raise ValidationFailed.single("mapping", "must be an object of column number -> field")
    errors: dict[str, str] = {}
    columns: dict[int, str] = {}
    for column, key in mapping.items():
        index = int(column) if str(column).isdigit() else -1
        if not 0 <= index < len(headers):
            errors[f"mapping.{column}"] = f"there is no column {column} in the file"
        elif key in (None, ""):
            continue
        elif (f := rt.field_by_key(key) if isinstance(key, str) else None) is None:
            errors[f"mapping.{column}"] = f"{key!r} is not a field of {rt.name}"
        elif f.type.outside_record:
            errors[f"mapping.{column}"] = f"{key!r} takes uploaded files, not a column's text"
        elif key in columns.values():
            errors[f"mapping.{column}"] = f"another column already goes to {key!r}"
        else:
            columns[index] = key
    if not errors and not columns:
        errors["mapping"] = "choose a field for at least one column"
    if errors:
        raise ValidationFailed("the column mapping cannot be used", fields=errors)
    return columns


def _row(runtime: Runtime, acc: Access, rt: RecordTypeDef, import_id: int) -> Any:
    with transaction(runtime.control) as conn:
        found = conn.execute(
            select(m.imports)
            .where(m.imports.c.id == import_id)
            .where(m.imports.c.workspace_id == acc.workspace_id)
            .where(m.imports.c.record_type_id == rt.id)
        ).first()
    if found is None:
        raise NotFound("import not found")
    return found


def _public(row: Any, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.record_type_id,
        "name": row.name,
        "status": row.status,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
        "headers": row.headers,
        "mapping": row.mapping,
        "policy": row.policy,
        "rows": sum(counts.values()),
        "counts": counts,
    }


def _display_name(name: str) -> str:
    """The file's own name without any folder a browser sent, for people only."""
    base = re.split(r"[\\/]", name or "")[-1].strip()
    return base[:255] or "upload.csv"


def _folded(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())
