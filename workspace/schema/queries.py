"""Record queries: filter trees, sorting, search and keyset pagination as SQLAlchemy Core.

User input arrives as JSON (``{"and": [{"field": "status", "op": "eq", "value": "Won"}]}``)
and is parsed into expressions through each field's FieldType. No user text is ever formatted
into SQL; identifiers come from the definition, values travel as bound parameters.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    false,
    func,
    literal,
    or_,
    select,
    true,
)

from workspace import json_input
from workspace.errors import BadRequest, ValidationFailed
from workspace.schema.fields import (
    OPERATORS,
    FieldDef,
    FieldError,
    FieldTypeRegistry,
    ValueContext,
)
from workspace.schema.tables import RecordTypeDef

MAX_CONDITIONS = 100
MAX_DEPTH = 6
MAX_ID_DIGITS = 18
#: System columns that can be filtered and sorted like fields, with the type that reads them.
SYSTEM_FIELDS = {
    "id": "number",
    "created_at": "datetime",
    "updated_at": "datetime",
    "created_by": "user",
    "updated_by": "user",
}


@dataclass(frozen=True)
class SortKey:
    field: FieldDef
    descending: bool


def system_field(key: str, registry: FieldTypeRegistry) -> FieldDef:
    return FieldDef(
        id=0,
        key=key,
        name=key,
        type=registry.get(SYSTEM_FIELDS[key]),
        config={},
        position=-1,
        column=key,
    )


def resolve_field(rt: RecordTypeDef, key: Any, registry: FieldTypeRegistry) -> FieldDef:
    if isinstance(key, str):
        found = rt.field_by_key(key)
        if found is not None:
            return found
        if key in SYSTEM_FIELDS:
            return system_field(key, registry)
    raise ValidationFailed.single(str(key), "no such field in this record type")


# ---- filters ---------------------------------------------------------------------------


def parse_filter(
    rt: RecordTypeDef, tree: Any, registry: FieldTypeRegistry, ctx: ValueContext
) -> ColumnElement[bool]:
    """Parse a JSON filter tree; a list means "all of these"."""
    counter = [0]
    if tree is None:
        return true()
    return _node(rt, {"and": tree} if isinstance(tree, list) else tree, registry, ctx, 0, counter)


def _node(
    rt: RecordTypeDef,
    node: Any,
    registry: FieldTypeRegistry,
    ctx: ValueContext,
    depth: int,
    counter: list[int],
) -> ColumnElement[bool]:
    if depth > MAX_DEPTH:
        raise BadRequest(f"filter: nested more than {MAX_DEPTH} levels deep")
    if not isinstance(node, dict):
        raise BadRequest("filter: each condition must be an object")
    groups = [k for k in ("and", "or") if k in node]
    if groups:
        if len(node) != 1 or not isinstance(node[groups[0]], list):
            raise BadRequest('filter: a group is {"and": [...]} or {"or": [...]} alone')
        parts = [_node(rt, child, registry, ctx, depth + 1, counter) for child in node[groups[0]]]
        if groups[0] == "and":
            return and_(true(), *parts)
        return or_(false(), *parts)
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise BadRequest(f"filter: more than {MAX_CONDITIONS} conditions")
    return _condition(rt, node, registry, ctx)


def _condition(
    rt: RecordTypeDef, node: dict[str, Any], registry: FieldTypeRegistry, ctx: ValueContext
) -> ColumnElement[bool]:
    unknown = set(node) - {"field", "op", "value"}
    if unknown or "field" not in node or "op" not in node:
        raise BadRequest('filter: a condition is {"field": ..., "op": ..., "value": ...}')
    f = resolve_field(rt, node["field"], registry)
    op = node["op"]
    label = f"filter.{f.key}"
    if op not in OPERATORS:
        raise ValidationFailed.single(label, f"unknown operator {str(op)[:20]!r}")
    if not f.type.operators:
        raise ValidationFailed.single(label, f"{f.type.label} fields cannot be filtered on")
    if op not in f.type.operators:
        allowed = ", ".join(o for o in OPERATORS if o in f.type.operators)
        raise ValidationFailed.single(label, f"a {f.type.name} field supports: {allowed}")
    if op not in {"is_empty", "not_empty"} and "value" not in node:
        raise ValidationFailed.single(label, f"operator {op} needs a value")
    try:
        return f.type.filter(f, rt.table, op, node.get("value"), ctx)
    except FieldError as exc:
        raise ValidationFailed.single(label, str(exc)) from None


def search_filter(rt: RecordTypeDef, text: str) -> ColumnElement[bool]:
    """Substring search over every searchable field (each type decides how) and the id."""
    text = text.strip()
    if not text:
        return true()
    parts = [f.type.search(f, rt.table, text) for f in searchable(rt)]
    # isdigit() is also true for "²" and "٣"; only plain digits that fit a BIGINT are ids.
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
        parts.append(rt.table.c.id == int(text))
    return or_(false(), *parts)


def searchable(rt: RecordTypeDef) -> list[FieldDef]:
    return [f for f in rt.scalar_fields if f.type.searchable]


# ---- sorting and pagination ------------------------------------------------------------


def parse_sort(rt: RecordTypeDef, spec: str | None, registry: FieldTypeRegistry) -> list[SortKey]:
    """``"name,-amount"``: comma-separated keys, a leading ``-`` sorts descending."""
    keys: list[SortKey] = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        descending = part.startswith("-")
        f = resolve_field(rt, part.lstrip("-+"), registry)
        if not f.type.sortable:
            raise ValidationFailed.single(
                f"sort.{f.key}", f"records cannot be sorted by a {f.type.label} field"
            )
        if any(k.field.key == f.key for k in keys):
            raise ValidationFailed.single(f"sort.{f.key}", "appears twice")
        keys.append(SortKey(f, descending))
    if len(keys) > 5:
        raise ValidationFailed.single("sort", "at most 5 sort keys")
    return keys


def order_by(rt: RecordTypeDef, keys: list[SortKey]) -> list[ColumnElement[Any]]:
    clauses: list[ColumnElement[Any]] = []
    for key in keys:
        expr = key.field.type.sort_key(key.field, rt.table)
        clauses.append(expr.desc() if key.descending else expr.asc())
    clauses.append(rt.table.c.id.asc())
    return clauses


def after_row(
    conn: Connection, rt: RecordTypeDef, keys: list[SortKey], after_id: int
) -> ColumnElement[bool]:
    """Keyset condition "comes after record ``after_id``" for the given sort.

    The boundary values are read from the row itself, so a cursor is just an id. NULLs sort
    first ascending and last descending on both SQLite and MySQL; the condition follows that.
    """
    exprs = [k.field.type.sort_key(k.field, rt.table) for k in keys]
    if exprs:
        row = conn.execute(select(*exprs).where(rt.table.c.id == after_id)).first()
        if row is None:
            raise BadRequest("cursor: the record it points at no longer exists; start over")
        values = list(row)
    else:
        values = []
    condition: ColumnElement[bool] = rt.table.c.id > after_id
    for expr, key, value in reversed(list(zip(exprs, keys, values, strict=True))):
        if value is None:
            later = false() if key.descending else expr.is_not(None)
            same = expr.is_(None)
        else:
            # A bound parameter of the key's type: a bare True/False would become SQL's
            # TRUE/FALSE constant, which SQLAlchemy refuses to compare with < and >.
            bound = literal(value, expr.type)
            later = or_(expr < bound, expr.is_(None)) if key.descending else expr > bound
            same = expr == bound
        condition = or_(later, and_(same, condition))
    return condition


def encode_cursor(record_id: int, sort_spec: str) -> str:
    raw = json.dumps({"id": record_id, "sort": sort_spec}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort_spec: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json_input.loads(base64.urlsafe_b64decode(padded.encode()))
        record_id, sort = data["id"], data["sort"]
    except (ValueError, KeyError, TypeError):
        record_id = sort = None
    # A forged id must not reach the database: SQLite overflows past 64 bits.
    if type(record_id) is not int or not 0 < record_id < 2**63 or not isinstance(sort, str):
        raise BadRequest("cursor: not a cursor this server handed out")
    if sort != sort_spec:
        raise BadRequest("cursor: it belongs to a different sort order; start over")
    return record_id


def base_select(rt: RecordTypeDef, deleted: str = "exclude") -> Select[Any]:
    table = rt.table
    query = select(table)
    if deleted == "exclude":
        return query.where(table.c.deleted_at.is_(None))
    if deleted == "only":
        return query.where(table.c.deleted_at.is_not(None))
    return query


def count_select(rt: RecordTypeDef, where: ColumnElement[bool] | None) -> Select[Any]:
    """Count the rows of ``rt`` matching ``where`` (a ``Select.whereclause``: None is all)."""
    query = select(func.count()).select_from(rt.table)
    return query if where is None else query.where(where)
