"""Record queries against a brute-force oracle: filters, sorts, search, keyset pagination.

Each test builds one dataset through the API (duplicates, empties, mixed case, non-ASCII,
LIKE wildcards), then hypothesis generates filter trees, sort specs and searches over it.
The oracle evaluates the same input in plain Python with the documented semantics, and the
API must agree on SQLite and MySQL alike. A disagreement is a bug in one of the two.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import operator
import random
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import cmp_to_key
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tests.helpers import Api, field, make_type, records_path
from workspace.schema.fields import OPERATORS
from workspace.schema.queries import MAX_CONDITIONS, MAX_DEPTH

STAGES = ("New", "Qualified", "Won", "Lost")  # deliberately not alphabetical: sorts by this
TAGS = ("red", "green", "blue", "Grün")
FIELDS = (
    field("Name", "text"),
    field("City", "text"),
    field("Qty", "number"),
    field("Amount", "number", decimals=2),
    field("Stage", "single_choice", choices=list(STAGES)),
    field("Due", "date"),
    field("Done", "checkbox"),
    field("Tags", "multiple_choice", choices=list(TAGS)),
)
POOLS: dict[str, tuple[Any, ...]] = {
    "name": ("alpha", "Alpha", "ALPHA", "beta", "Beta Max", "béta", "Éclair", "éclair", "Zoë",
             "zoë", "omega", "a_b", "a%b", "50% off", "back\\slash", "  padded  ", None, None),
    "city": ("Paris", "paris", "Zürich", "ZÜRICH", "São Paulo", "Oslo", None),
    "qty": (-5, 0, 1, 1, 2, 10, 10, 100, None),
    "amount": ("-1.50", "0.00", "1.05", "1.50", "10.10", "99.99", "1234.56", None),
    "stage": (*STAGES, "won", None, None),
    "due": ("2025-12-31", "2026-01-01", "2026-01-15", "2026-02-28", None),
}  # fmt: skip
KIND = {
    "name": "text", "city": "text", "qty": "number", "amount": "number", "id": "number",
    "stage": "choice", "due": "date", "done": "checkbox", "tags": "multi",
    "created_at": "datetime", "updated_at": "datetime",
}  # fmt: skip
ORDERED = ("eq", "neq", "in", "gt", "gte", "lt", "lte", "between", "is_empty", "not_empty")
OPS = {
    "text": (*ORDERED, "contains", "starts_with"),
    "number": ORDERED,
    "date": ORDERED,
    "datetime": ORDERED,
    "choice": ("eq", "neq", "in", "is_empty", "not_empty"),
    "checkbox": ("eq", "neq", "is_empty", "not_empty"),
    "multi": ("contains", "in", "is_empty", "not_empty"),
}
SEARCHABLE = ("name", "city", "stage")
COMPARE = {"eq": operator.eq, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
           "lte": operator.le}  # fmt: skip
BOUNDED = settings(max_examples=30, deadline=None)


# ---- the dataset -----------------------------------------------------------------------


@dataclass(repr=False)
class Deals:
    """The record type under test, its rows as the oracle sees them, and a query client."""

    api: Api
    path: str
    rows: list[dict[str, Any]]

    def __repr__(self) -> str:  # hypothesis prints it with every failing example
        return f"Deals({self.path}, {len(self.rows)} rows)"

    @property
    def live(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if not r["deleted"]]

    def ask(self, via: str, **query: Any) -> tuple[int, Any]:
        """GET with query parameters or POST .../query with a JSON body; same meaning."""
        query = {k: v for k, v in query.items() if v is not None}
        if via == "post":
            body = self.api.post(self.path + "/query", query)
        else:
            if "filter" in query:
                query["filter"] = json.dumps(query["filter"])
            if "total" in query:
                query["total"] = str(query["total"]).lower()
            body = self.api.get(self.path, **query)
        return self.api.last.status_code, body

    def fetch(self, via: str, **query: Any) -> Any:
        status, body = self.ask(via, **query)
        assert status == 200, (query, body)
        return body

    def walk(self, via: str, limit: int, **query: Any) -> list[int]:
        """Every page in turn by ``next_cursor``; the ids in the order the pages gave them."""
        ids: list[int] = []
        cursor = None
        for _ in range(len(self.rows) + 2):
            page = self.fetch(via, limit=limit, cursor=cursor, **query)
            ids += [r["id"] for r in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids
            assert len(page["items"]) == limit, "a page before the last one came back short"
        raise AssertionError("pagination never ended")


def random_row(rng: random.Random) -> dict[str, Any]:
    row = {key: rng.choice(pool) for key, pool in POOLS.items()}
    return {**row, "done": rng.random() < 0.4, "tags": rng.sample(TAGS, rng.randint(0, 3))}


PARSE = {"number": lambda v: Decimal(str(v)), "date": dt.date.fromisoformat,
         "datetime": dt.datetime.fromisoformat}  # fmt: skip


def stored(kind: str, raw: Any) -> Any:
    """An API value as the oracle compares it."""
    return raw if raw is None or kind not in PARSE else PARSE[kind](raw)


@pytest.fixture
def deals(api: Api, ws: int) -> Deals:
    """60 records: some edited (so updated_at varies), four soft-deleted, one all empty."""
    rng = random.Random(20260101)
    rows = [{}] + [random_row(rng) for _ in range(59)]
    rt, created = make_type(api, ws, "Deal", *FIELDS, rows=rows)
    path = records_path(ws, rt)
    ids = [r["id"] for r in created]
    for record_id in ids[5:10]:
        api.patch(f"{path}/{record_id}", {"fields": {"qty": 7}}, expect=200)
    for record_id in ids[10:14]:
        api.delete(f"{path}/{record_id}", expect=204)
    everything = api.get(path, deleted="include", limit=200, expect=200)["items"]
    assert len(everything) == 60
    oracle_rows = [
        {
            "id": r["id"],
            "deleted": "deleted_at" in r,
            **{k: stored(KIND[k], r[k]) for k in ("created_at", "updated_at")},
            **{k: stored(KIND[k], v) for k, v in r["fields"].items()},
        }
        for r in everything
    ]
    return Deals(api, path, oracle_rows)


@pytest.fixture
def empty_deals(api: Api, ws: int) -> Deals:
    rt, _ = make_type(api, ws, "Deal", *FIELDS)
    return Deals(api, records_path(ws, rt), [])


# ---- the oracle ------------------------------------------------------------------------


def operand(key: str, value: Any) -> Any:
    """A filter value as the server reads it (a choice: exact label, else any case)."""
    kind = KIND[key]
    if kind == "text":
        return value.strip()
    if kind in {"choice", "multi"}:
        labels = STAGES if kind == "choice" else TAGS
        return value if value in labels else next(c for c in labels if c.lower() == value.lower())
    if kind == "checkbox":
        return value if isinstance(value, bool) else str(value).lower() in {"yes", "true", "1"}
    return stored(kind, value)


def matches(row: dict[str, Any], node: Any) -> bool:
    if node is None:
        return True
    if isinstance(node, list):
        return all(matches(row, n) for n in node)
    if "and" in node:
        return all(matches(row, n) for n in node["and"])
    if "or" in node:
        return any(matches(row, n) for n in node["or"])
    key, op, value = node["field"], node["op"], node.get("value")
    v = row[key]
    empty = v is None or v is False or v == []
    if op in {"is_empty", "not_empty"}:
        return empty == (op == "is_empty")
    if KIND[key] == "multi":
        return bool({operand(key, x) for x in (value if op == "in" else [value])} & set(v))
    if op in {"contains", "starts_with"}:
        needle, hay = fold(value.strip()), fold(v or "")
        return v is not None and (needle in hay if op == "contains" else hay.startswith(needle))
    if op == "in":
        return v in {operand(key, x) for x in value}
    if op == "neq":
        return v is None or v != operand(key, value)
    if v is None:
        return False
    if op == "between":
        return operand(key, value[0]) <= v <= operand(key, value[1])
    return bool(COMPARE[op](v, operand(key, value)))


def fold(text: str) -> str:
    """Text semantics of the API: case- and accent-insensitive ("Éclair" == "eclair")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def sort_value(row: dict[str, Any], key: str) -> Any:
    v, kind = row[key], KIND[key]
    if v is None or kind not in {"text", "choice", "multi"}:
        return v
    if kind == "text":
        return fold(v)
    if kind == "choice":
        return STAGES.index(v)
    return min((TAGS.index(t) for t in v), default=None)


def oracle_order(rows: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[int]:
    """NULLs first ascending and last descending; ties by id ascending."""

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for key, descending in keys:
            x, y = sort_value(a, key), sort_value(b, key)
            if x == y:
                continue
            if x is None or y is None:
                return (1 if x is None else -1) * (1 if descending else -1)
            return (-1 if x < y else 1) * (-1 if descending else 1)
        return a["id"] - b["id"]

    return [r["id"] for r in sorted(rows, key=cmp_to_key(compare))]


def search_hits(row: dict[str, Any], text: str) -> bool:
    text = text.strip()
    if not text:
        return True
    if text.isascii() and text.isdigit() and int(text) == row["id"]:
        return True
    # Text fields compare folded keys; the single choice compares lower-cased labels.
    texts = [fold(text) in fold(row[k] or "") for k in SEARCHABLE if KIND[k] == "text"]
    return any(texts) or text.lower() in (row["stage"] or "").lower()


# ---- strategies ------------------------------------------------------------------------

cased = st.sampled_from((str, str.lower, str.upper))


@st.composite
def fragment(draw: st.DrawFn, seen: list[str], prefix: bool = False) -> str:
    """A piece of a stored text in some case, possibly with spaces around it."""
    text = draw(st.sampled_from(seen))
    start = 0 if prefix else draw(st.integers(0, len(text) - 1))
    piece = text[start : draw(st.integers(start + 1, len(text)))]
    piece = piece if piece.strip() else text
    return draw(st.sampled_from(("", " "))) + draw(cased)(piece)


def operands(deals: Deals, key: str, op: str) -> st.SearchStrategy[Any]:
    kind = KIND[key]
    if kind in {"choice", "multi"}:
        return st.tuples(st.sampled_from(STAGES if kind == "choice" else TAGS), cased).map(
            lambda t: t[1](t[0])
        )
    seen = sorted({r[key] for r in deals.rows if r[key] is not None}, key=str)
    if kind == "text":
        wild = st.text("aAbé%_\\ ", min_size=1, max_size=3).filter(str.strip)
        return st.one_of(fragment(seen, prefix=op == "starts_with"), wild)
    if kind == "checkbox":
        return st.sampled_from((True, False, "yes", "no", "true", "0", 1, 0))
    if kind == "date":
        return st.dates(dt.date(2025, 12, 25), dt.date(2026, 3, 5)).map(dt.date.isoformat)
    if kind == "datetime":
        return st.sampled_from(seen).map(lambda d: d.isoformat())
    near = st.decimals(min(seen) - 3, max(seen) + 3, places=0 if key != "amount" else 2)
    numbers = st.one_of(st.sampled_from(seen), near)
    return numbers.flatmap(lambda n: st.sampled_from((str(n), int(n) if n % 1 == 0 else float(n))))


@st.composite
def condition(draw: st.DrawFn, deals: Deals) -> dict[str, Any]:
    key = draw(st.sampled_from(sorted(KIND)))
    op = draw(st.sampled_from(OPS[KIND[key]]))
    if op in {"is_empty", "not_empty"}:
        return {"field": key, "op": op}
    one = operands(deals, key, op)
    sizes = {"in": (1, 4), "between": (2, 2)}.get(op)
    value = draw(st.lists(one, min_size=sizes[0], max_size=sizes[1]) if sizes else one)
    return {"field": key, "op": op, "value": value}


def filter_trees(deals: Deals) -> st.SearchStrategy[Any]:
    tree = st.recursive(
        condition(deals),
        lambda kids: st.builds(
            lambda group, items: {group: items}, st.sampled_from(("and", "or")),
            st.lists(kids, max_size=3),
        ),
        max_leaves=6,
    )  # fmt: skip
    return st.one_of(st.none(), tree, st.lists(tree, max_size=3))


def depth(node: Any) -> int:
    """How deep the server sees the tree nest (a top-level list is a group)."""
    if isinstance(node, dict):
        node = node.get("and", node.get("or"))
    return 1 + max(map(depth, node)) if isinstance(node, list) and node else 0


one_key = st.tuples(st.sampled_from(sorted(KIND)), st.booleans())
sort_specs = st.lists(one_key, max_size=3, unique_by=lambda k: k[0])
vias = st.sampled_from(("get", "post"))


# ---- filters, sorts, pagination, search ------------------------------------------------


def test_filters_match_the_oracle(deals: Deals) -> None:
    @BOUNDED
    @given(tree=filter_trees(deals), via=vias)
    @example(tree={"field": "name", "op": "contains", "value": "%"}, via="get")
    @example(tree={"field": "name", "op": "starts_with", "value": "A_"}, via="post")
    @example(tree={"field": "name", "op": "contains", "value": "\\"}, via="get")
    @example(tree={"or": []}, via="post")
    def check(tree: Any, via: str) -> None:
        if depth(tree) > MAX_DEPTH:
            assert deals.ask(via, filter=tree)[0] == 400
            return
        page = deals.fetch(via, filter=tree, limit=200, total=True)
        expected = [r["id"] for r in deals.live if matches(r, tree)]
        assert [r["id"] for r in page["items"]] == sorted(expected), tree
        assert page["total"] == len(expected)

    check()


def test_sorted_pages_match_the_oracle(deals: Deals) -> None:
    @BOUNDED
    @given(keys=sort_specs, tree=filter_trees(deals), limit=st.integers(4, 25), via=vias)
    @example(keys=[("stage", False), ("name", True)], tree=None, limit=5, via="get")
    @example(keys=[("done", True)], tree=None, limit=5, via="post")  # once a 500 on page 2
    def check(keys: list[tuple[str, bool]], tree: Any, limit: int, via: str) -> None:
        assume(depth(tree) <= MAX_DEPTH)
        spec = ",".join(("-" if descending else "") + key for key, descending in keys)
        expected = oracle_order([r for r in deals.live if matches(r, tree)], keys)
        assert deals.walk(via, limit, sort=spec, filter=tree) == expected, (spec, tree)

    check()


def test_search_matches_the_oracle(deals: Deals) -> None:
    texts = sorted({r[k] for r in deals.rows for k in SEARCHABLE if r[k] is not None})
    ids = st.sampled_from([r["id"] for r in deals.rows]).map(str)

    @BOUNDED
    @given(text=st.one_of(fragment(texts), ids, st.text("aé1%_ ", max_size=3)), via=vias)
    @example(text="²", via="get")  # isdigit() but no int(): once a 500
    @example(text="٣", via="get")  # an Arabic-Indic digit is not an id
    @example(text="9" * 30, via="post")  # beyond BIGINT: once a 500 on SQLite
    def check(text: str, via: str) -> None:
        page = deals.fetch(via, search=text, limit=200)
        expected = [r["id"] for r in deals.live if search_hits(r, text)]
        assert [r["id"] for r in page["items"]] == expected, text

    check()


def test_deleted_records_only_or_included(deals: Deals) -> None:
    gone = [r["id"] for r in deals.rows if r["deleted"]]
    assert len(gone) == 4
    everyone = [r["id"] for r in deals.rows]
    for via in ("get", "post"):
        assert [r["id"] for r in deals.fetch(via, deleted="only")["items"]] == gone
        assert deals.walk(via, 7, deleted="include") == everyone
        assert deals.walk(via, 7) == [r["id"] for r in deals.live]
        only_done = deals.fetch(via, deleted="only", filter=[{"field": "qty", "op": "is_empty"}])
        expected = [r["id"] for r in deals.rows if r["deleted"] and r["qty"] is None]
        assert [r["id"] for r in only_done["items"]] == expected


# ---- bad input: a 4xx that names the problem, never a 500 ------------------------------


def nested(levels: int) -> Any:
    tree: Any = {"field": "qty", "op": "eq", "value": 1}
    for _ in range(levels):
        tree = {"and": [tree]}
    return tree


BAD_FILTERS = {
    "unknown field": ({"field": "nope", "op": "eq", "value": 1}, 422, "nope"),
    "field not text": ({"field": 5, "op": "eq", "value": 1}, 422, "no such field"),
    "unknown op": ({"field": "qty", "op": "like", "value": 1}, 422, "unknown operator"),
    "gt on checkbox": ({"field": "done", "op": "gt", "value": True}, 422, "filter.done"),
    "contains on number": ({"field": "qty", "op": "contains", "value": "1"}, 422, "filter.qty"),
    "starts_with on tags": ({"field": "tags", "op": "starts_with", "value": "r"}, 422, "tags"),
    "text for number": ({"field": "qty", "op": "eq", "value": "many"}, 422, "filter.qty"),
    "bad date": ({"field": "due", "op": "gt", "value": "31/01/2026"}, 422, "filter.due"),
    "bad datetime": ({"field": "created_at", "op": "lt", "value": "soon"}, 422, "created_at"),
    "not a choice": ({"field": "stage", "op": "eq", "value": "Maybe"}, 422, "not a choice"),
    "not a tag": ({"field": "tags", "op": "contains", "value": "purple"}, 422, "not a choice"),
    "object for text": ({"field": "name", "op": "eq", "value": {"a": 1}}, 422, "must be text"),
    "checkbox junk": ({"field": "done", "op": "eq", "value": "perhaps"}, 422, "filter.done"),
    "user by name": ({"field": "created_by", "op": "eq", "value": "bob"}, 422, "created_by"),
    "missing value": ({"field": "qty", "op": "gt"}, 422, "needs a value"),
    "null value": ({"field": "qty", "op": "gt", "value": None}, 422, "filter.qty"),
    "blank contains": ({"field": "name", "op": "contains", "value": " "}, 422, "filter.name"),
    "between one": ({"field": "qty", "op": "between", "value": [1]}, 422, "two values"),
    "null in a range": ({"field": "due", "op": "between", "value": [None, "2026-01-01"]}, 422,
                        "needs a value"),
    "blank in a list": ({"field": "name", "op": "in", "value": ["alpha", " "]}, 422, "needs a"),
    "huge float": ({"field": "qty", "op": "gt", "value": 1e300}, 422, "filter.qty"),
    "huge int": ({"field": "amount", "op": "in", "value": [10**30]}, 422, "filter.amount"),
    "huge text": ({"field": "id", "op": "lt", "value": "1e30"}, 422, "filter.id"),
    "in empty": ({"field": "qty", "op": "in", "value": []}, 422, "non-empty list"),
    "in scalar": ({"field": "stage", "op": "in", "value": "Won"}, 422, "list"),
    "extra key": ({"field": "qty", "op": "eq", "value": 1, "x": 1}, 400, "a condition is"),
    "not an object": ([1], 400, "must be an object"),
    "scalar tree": ("qty", 400, "must be an object"),
    "mixed group": ({"and": [], "field": "qty"}, 400, "a group is"),
    "group of object": ({"or": {"field": "qty"}}, 400, "a group is"),
    "too deep": (nested(MAX_DEPTH + 1), 400, "nested more than"),
    "too many": ([nested(0)] * (MAX_CONDITIONS + 1), 400, "more than"),
}  # fmt: skip


def assert_refused(status: int, body: Any, want: int, words: str) -> None:
    assert status == want, body
    assert words in body["error"]["message"], body


@pytest.mark.parametrize("name", BAD_FILTERS)
def test_bad_filters_are_refused_by_name(empty_deals: Deals, name: str) -> None:
    tree, want, words = BAD_FILTERS[name]
    for via in ("get", "post"):
        assert_refused(*empty_deals.ask(via, filter=tree), want, words)


def test_bad_json_in_the_filter_parameter(empty_deals: Deals) -> None:
    body = empty_deals.api.get(empty_deals.path, filter='[{"field": "qty"', expect=400)
    assert "filter: not valid JSON" in body["error"]["message"]


def forge(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_bad_sort_limit_and_cursor(deals: Deals) -> None:
    first = deals.fetch("get", sort="name", limit=5)["next_cursor"]
    cases = [
        ({"sort": "nope"}, 422, "nope"),
        ({"sort": "qty,-qty"}, 422, "appears twice"),
        ({"sort": "name,city,qty,amount,due,stage"}, 422, "at most 5"),
        ({"limit": 0}, 400, "limit"),
        ({"limit": 201}, 400, "limit"),
        ({"deleted": "maybe"}, 400, "deleted"),
        ({"cursor": "not a cursor!"}, 400, "cursor"),
        ({"cursor": forge([1])}, 400, "cursor"),
        ({"cursor": forge({"id": 10**30, "sort": ""})}, 400, "cursor"),
        ({"cursor": forge({"id": True, "sort": ""})}, 400, "cursor"),
        ({"cursor": forge({"id": 10**6, "sort": "name"}), "sort": "name"}, 400, "start over"),
        ({"cursor": first, "sort": "-name"}, 400, "different sort"),
        ({"cursor": first}, 400, "different sort"),
    ]
    for query, want, words in cases:
        for via in ("get", "post"):
            assert_refused(*deals.ask(via, **query), want, words)


scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=6)
junk = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids),
    max_leaves=6,
)
junk_conditions = st.fixed_dictionaries(
    {"field": st.sampled_from([*KIND, "created_by", "nope"]), "op": st.sampled_from(OPERATORS)},
    optional={"value": junk},
)
junk_trees = st.recursive(
    junk_conditions | junk,
    lambda kids: st.dictionaries(st.sampled_from(("and", "or")), st.lists(kids, max_size=3)),
    max_leaves=5,
)


def test_junk_filters_never_500(empty_deals: Deals) -> None:
    @settings(max_examples=40, deadline=None)
    @given(tree=junk_trees, via=vias)
    @example(tree={"field": "amount", "op": "in", "value": [-1e-300, "1e-9"]}, via="post")
    @example(tree={"field": "id", "op": "between", "value": [1e19, "9" * 20]}, via="get")
    def check(tree: Any, via: str) -> None:
        status, body = empty_deals.ask(via, filter=tree)
        assert status in {200, 400, 422}, (tree, body)

    check()
