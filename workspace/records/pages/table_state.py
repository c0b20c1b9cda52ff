"""The state of a table view, kept in the URL: columns, sort, filters and search.

A reload or a shared link shows the same view, and the page reads without JavaScript, so
every link and form on the table page is built from this one object. The query string:

    cols=name,email          shown columns in order (absent: every field)
    sort=-amount,name        the list API's sort spec
    q=ada                    free-text search
    match=any                conditions combined with "or" (default: all must hold)
    f0=stage&o0=eq&v0=Won    condition 0: field, operator, value(s); w0 is between's upper
                             bound and v0 repeats for "in"
    view=3                   the saved view this state came from (to mark it, and "changed")

Anything a link may hold that no longer fits the record type (a deleted field, an operator
its type lost) is dropped with a note instead of breaking the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlencode

from workspace.schema.fields import OPERATORS, FieldDef, FieldTypeRegistry
from workspace.schema.tables import RecordTypeDef

MAX_CONDITIONS = 20
MAX_SEARCH = 200
NO_VALUE = frozenset({"is_empty", "not_empty"})
#: Records' own columns that a table can show, sort and filter like fields.
SYSTEM_COLUMNS = {"created_at": "Created", "updated_at": "Updated"}
#: Field types whose filter values are picked from a list, never typed (no comma splitting).
PICKED = frozenset({"single_choice", "multiple_choice", "user", "relation", "checkbox"})
CONDITION_KEY = re.compile(r"f(\d{1,3})")

Params = Mapping[str, Sequence[str]]


def table_fields(rt: RecordTypeDef, registry: FieldTypeRegistry) -> dict[str, FieldDef]:
    """Every column a table of ``rt`` can show: its fields, then created and updated."""
    found = {f.key: f for f in rt.fields}
    datetime = registry.get("datetime")
    for key, name in SYSTEM_COLUMNS.items():
        found[key] = FieldDef(
            id=0, key=key, name=name, type=datetime, config={}, position=-1, column=key
        )
    return found


def default_op(f: FieldDef) -> str:
    for op in ("contains", "eq"):
        if op in f.type.operators:
            return op
    return next(op for op in OPERATORS if op in f.type.operators)


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    values: tuple[str, ...] = ()
    #: The upper bound of ``between``.
    high: str = ""

    @property
    def complete(self) -> bool:
        """Enough to filter by; an incomplete condition is shown in the form, not applied."""
        if self.op in NO_VALUE:
            return True
        if self.op == "between":
            return bool(self.values and self.high)
        return bool(self.values)

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""


@dataclass(frozen=True)
class ViewState:
    columns: tuple[str, ...] | None = None
    sort: str = ""
    search: str = ""
    conditions: tuple[Condition, ...] = ()
    any: bool = False
    view: int | None = None

    # ---- reading ----------------------------------------------------------------------

    @classmethod
    def from_query(
        cls, fields: Mapping[str, FieldDef], params: Params
    ) -> tuple[ViewState, list[str]]:
        """The state a query string describes, and notes about what was dropped from it."""
        notes: list[str] = []
        columns: tuple[str, ...] | None = None
        if "cols" in params:
            columns = _known(_split(_last(params, "cols")), fields)
        elif "col" in params:  # the columns form: one checkbox per column, in order
            columns = _known([c for c in params["col"] if c], fields)
        sort_keys: dict[str, str] = {}  # field key -> "key" or "-key", first mention wins
        for part in _split(_last(params, "sort"))[:5]:
            if part.lstrip("-") in fields and fields[part.lstrip("-")].type.sortable:
                sort_keys.setdefault(part.lstrip("-"), part)
        conditions = []
        for index in condition_indexes(params)[:MAX_CONDITIONS]:
            cond = read_condition(fields, params, index)
            if cond is None:
                notes.append(
                    f"A filter on “{_last(params, f'f{index}')[:60]}” was left out: "
                    "that field no longer exists."
                )
            else:
                conditions.append(cond)
        added = _last(params, "add")
        if added in fields and fields[added].type.operators and len(conditions) < MAX_CONDITIONS:
            conditions.append(Condition(added, default_op(fields[added])))
        view = _last(params, "view")
        state = cls(
            columns=columns,
            sort=",".join(sort_keys.values()),
            search=_last(params, "q").strip()[:MAX_SEARCH],
            conditions=tuple(conditions),
            any=_last(params, "match") == "any",
            view=int(view) if view.isdigit() and len(view) < 19 else None,
        )
        return state, notes

    @classmethod
    def from_qs(cls, fields: Mapping[str, FieldDef], qs: str) -> ViewState:
        return cls.from_query(fields, parse_qs(qs, keep_blank_values=True))[0]

    # ---- writing ----------------------------------------------------------------------

    def pairs(self, *, skip: Sequence[str] = ()) -> list[tuple[str, str]]:
        """The query string's (name, value) pairs; forms render them as hidden inputs."""
        out: list[tuple[str, str]] = []
        if self.view is not None:
            out.append(("view", str(self.view)))
        if self.columns is not None:
            out.append(("cols", ",".join(self.columns)))
        if self.sort:
            out.append(("sort", self.sort))
        if self.search:
            out.append(("q", self.search))
        if self.any:
            out.append(("match", "any"))
        for i, c in enumerate(self.conditions):
            out += [(f"f{i}", c.field), (f"o{i}", c.op)]
            out += [(f"v{i}", v) for v in c.values]
            if c.op == "between" and c.high:
                out.append((f"w{i}", c.high))
        return [(k, v) for k, v in out if k not in skip and k.rstrip("0123456789") not in skip]

    def params(self) -> dict[str, list[str]]:
        """The state as parsed query parameters (what ``from_query`` reads)."""
        return parse_qs(self.qs(), keep_blank_values=True)

    def qs(self, **extra: str) -> str:
        return urlencode(self.pairs() + [(k, v) for k, v in extra.items() if v])

    # ---- changes (each a new state, for a link) ---------------------------------------

    def shown(self, fields: Mapping[str, FieldDef]) -> list[FieldDef]:
        keys = (
            self.columns
            if self.columns is not None
            else [f for f in fields if f not in SYSTEM_COLUMNS]
        )
        return [fields[k] for k in keys if k in fields]

    def with_sort(self, key: str) -> ViewState:
        """A header click: sort by this column, or flip it when it already leads the sort."""
        first = self.sort.split(",")[0]
        return replace(self, sort=("-" + key) if first == key else key)

    def sort_of(self, key: str) -> tuple[int, str] | None:
        """(position, "ascending" | "descending") of a column in the sort, if it is there."""
        for i, part in enumerate(p for p in self.sort.split(",") if p):
            if part.lstrip("-") == key:
                return i + 1, "descending" if part.startswith("-") else "ascending"
        return None

    def without_column(self, fields: Mapping[str, FieldDef], key: str) -> ViewState:
        return replace(self, columns=tuple(f.key for f in self.shown(fields) if f.key != key))

    def moved(self, fields: Mapping[str, FieldDef], key: str, delta: int) -> ViewState:
        keys = [f.key for f in self.shown(fields)]
        i = keys.index(key)
        j = min(max(i + delta, 0), len(keys) - 1)
        keys[i], keys[j] = keys[j], keys[i]
        return replace(self, columns=tuple(keys))

    def without_condition(self, index: int) -> ViewState:
        return replace(self, conditions=self.conditions[:index] + self.conditions[index + 1 :])

    def with_columns(self, columns: Sequence[str] | None) -> ViewState:
        return replace(self, columns=None if columns is None else tuple(columns))

    def without_filters(self) -> ViewState:
        return replace(self, conditions=(), any=False)

    def cleared(self) -> ViewState:
        """The same columns and sort, every record."""
        return replace(self, conditions=(), search="", any=False)

    def as_view(self) -> ViewState:
        """Without the marker of a saved view (to compare with one)."""
        return replace(self, view=None, conditions=tuple(c for c in self.conditions if c.complete))

    @property
    def filtered(self) -> bool:
        return bool(self.search or any(c.complete for c in self.conditions))

    # ---- the list API and saved views -------------------------------------------------

    def filter_tree(self, fields: Mapping[str, FieldDef]) -> Any:
        """The list API's filter: the complete conditions, all or any of them."""
        parts = [api_condition(fields[c.field], c) for c in self.conditions if c.complete]
        if not parts:
            return None
        return {"or": parts} if self.any else parts

    def to_config(self, fields: Mapping[str, FieldDef]) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.columns is not None:
            config["columns"] = list(self.columns)
        if self.sort:
            config["sort"] = self.sort
        tree = self.filter_tree(fields)
        if tree:
            config["filter"] = tree
        if self.search:
            config["search"] = self.search
        return config

    @classmethod
    def from_config(
        cls, fields: Mapping[str, FieldDef], config: Mapping[str, Any], view: int | None = None
    ) -> ViewState:
        """A saved view's config as a state, through the URL form so both read alike."""
        params: dict[str, list[str]] = {}
        if config.get("columns") is not None:
            params["cols"] = [",".join(config["columns"])]
        params["sort"] = [str(config.get("sort") or "")]
        params["q"] = [str(config.get("search") or "")]
        tree = config.get("filter")
        if isinstance(tree, dict) and "or" in tree:
            params["match"] = ["any"]
        if isinstance(tree, dict):
            nodes = tree.get("or") or tree.get("and") or []
        else:
            nodes = tree if isinstance(tree, list) else []
        for i, node in enumerate(n for n in nodes if isinstance(n, dict) and "field" in n):
            params.update(_condition_params(i, node))
        state = cls.from_query(fields, params)[0]
        return replace(state, view=view)


# ---- conditions ----------------------------------------------------------------------


def condition_indexes(params: Params) -> list[int]:
    return sorted({int(m.group(1)) for k in params if (m := CONDITION_KEY.fullmatch(k))})


def read_condition(fields: Mapping[str, FieldDef], params: Params, index: int) -> Condition | None:
    """Condition ``index`` of a query string; None when its field does not exist."""
    f = fields.get(_last(params, f"f{index}"))
    if f is None or not f.type.operators:  # file fields cannot be filtered on
        return None
    op = _last(params, f"o{index}")
    if op not in f.type.operators:
        return Condition(f.key, default_op(f))
    if op in NO_VALUE:
        return Condition(f.key, op)
    raw = [v.strip() for v in params.get(f"v{index}", []) if v.strip()]
    if op == "in" and f.type.name not in PICKED:
        raw = [part.strip() for v in raw for part in v.split(",") if part.strip()]
    values = tuple(dict.fromkeys(raw)) if op == "in" else tuple(raw[:1])
    high = _last(params, f"w{index}").strip() if op == "between" else ""
    return Condition(f.key, op, values, high)


def api_condition(f: FieldDef, c: Condition) -> dict[str, Any]:
    node: dict[str, Any] = {"field": f.key, "op": c.op}
    if c.op in NO_VALUE:
        return node
    if c.op == "between":
        node["value"] = [api_value(f, c.value), api_value(f, c.high)]
    elif c.op == "in":
        node["value"] = [api_value(f, v) for v in c.values]
    else:
        node["value"] = api_value(f, c.value)
    return node


def api_value(f: FieldDef, text: str) -> Any:
    """URL text as the list API expects it: user and record ids are numbers."""
    if f.type.name in {"user", "relation"} and text.isdigit() and len(text) < 19:
        return int(text)
    return text


def _condition_params(index: int, node: Mapping[str, Any]) -> dict[str, list[str]]:
    value = node.get("value")
    out = {f"f{index}": [str(node["field"])], f"o{index}": [str(node.get("op", ""))]}
    if node.get("op") == "between" and isinstance(value, list) and len(value) == 2:
        out[f"v{index}"], out[f"w{index}"] = [_text(value[0])], [_text(value[1])]
    elif isinstance(value, list):
        out[f"v{index}"] = [_text(v) for v in value]
    elif value is not None:
        out[f"v{index}"] = [_text(value)]
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _last(params: Params, key: str) -> str:
    values = params.get(key) or [""]
    return str(values[-1])


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _known(keys: Sequence[str], fields: Mapping[str, FieldDef]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for k in keys if k in fields))
