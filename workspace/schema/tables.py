"""SQLAlchemy Table objects for record types, built from their definitions.

Each record type is a real table ``rt_<id>`` with system columns and one column per field
(two for money), plus a link table per multi-valued field. Tables are built into a MetaData
of their own and cached per (record type, schema version): when another process changes a
definition it bumps the version, and every process builds afresh on its next request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    Column,
    Index,
    Insert,
    Integer,
    MetaData,
    Select,
    Table,
    Update,
    bindparam,
    insert,
    select,
    true,
    update,
)

from workspace.matching import DedupeRule
from workspace.schema import naming
from workspace.schema.coltypes import UtcDateTime, exact_string
from workspace.schema.fields import FieldDef

SYSTEM_COLUMNS = (
    "id",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "deleted_at",
    "deleted_by",
    "alive",
)


@dataclass(frozen=True)
class UniqueCombo:
    id: str
    field_ids: tuple[int, ...]


@dataclass(frozen=True)
class RuleDef:
    """A dedupe rule applied to fields of a record type, and what it does on a match."""

    id: int
    rule: DedupeRule
    field_ids: tuple[int, ...]
    on_create: str  # off | block | update | warn
    on_update: str  # off | block | warn
    merge_policy: Mapping[int, str]  # field id -> overwrite | fill_empty | ignore
    threshold: float | None = None
    #: A restrictive value tightened on one record goes to every record holding its keys.
    propagate: bool = False

    @property
    def signature(self) -> str:
        """Names its keys in the keys table: the rule and the fields, not the config row, so
        keys survive a mode change and can be computed before the config is saved."""
        return f"{self.rule.name}:" + "-".join(str(i) for i in self.field_ids)

    @property
    def enforced(self) -> bool:
        """Keys held unique by the database: exact rules that refuse or merge duplicates on
        create, where duplicates arrive (a warn-on-create rule lets them in by design)."""
        return not self.rule.fuzzy and self.on_create in {"block", "update"}


@dataclass(frozen=True)
class SpanMember:
    """One record type a rule across types reads, as the others see it."""

    record_type_id: int
    name: str
    field_ids: tuple[int, ...]
    on_create: str  # off | block | update | warn
    on_update: str  # off | block | warn

    @property
    def enforced(self) -> bool:
        """This type's keys are held unique in the span's key space: one record among all
        enforcing types may hold a key (warn types' keys are only looked up)."""
        return self.on_create in {"block", "update"}


@dataclass(frozen=True)
class SpanDef:
    """An exact dedupe rule across record types of a workspace, seen from one of them.

    Every spanned type stores its records' keys in the span's table ``dks_<id>`` with its
    type id, so a lookup finds holders of every type and the unique index over
    (key, enforced) arbitrates a race between writers of any two enforcing types.
    """

    id: int
    rule: DedupeRule
    record_type_id: int
    members: tuple[SpanMember, ...]

    @property
    def me(self) -> SpanMember:
        return next(m for m in self.members if m.record_type_id == self.record_type_id)

    def member(self, record_type_id: int) -> SpanMember | None:
        return next((m for m in self.members if m.record_type_id == record_type_id), None)

    @cached_property
    def keys_table(self) -> Table:
        return span_keys_table(self.id, MetaData())


@dataclass(frozen=True)
class Source:
    """An adopted table: the customer's table that holds an adopted type's records.

    The server never changes its shape. Its rows are read through the view ``rv_<id>``, which
    joins the side table ``rs_<id>`` (the bookkeeping a record table keeps in its own system
    columns) and names every column as a record table would, so reads, filters and sorts work
    unchanged; writes go to both tables (``schema.rows``).
    """

    table: str
    #: The single integer primary key column, read as the record id.
    key: str
    #: Field column (``f_<id>``) -> the customer's column it stands for.
    columns: Mapping[str, str]
    #: Why records cannot be created here (no AUTO_INCREMENT key, a NOT NULL column without
    #: a default left out of the mapping), or None.
    no_create: str | None = None


@dataclass(frozen=True)
class FieldOwner:
    """The connection that alone may write a field (a field without one is the workspace's)."""

    field_id: int
    connection_id: int
    #: The connection's name, for messages and pages ("owned by Mailchimp").
    name: str
    kind: str


@dataclass(frozen=True)
class Retirement:
    """A retired record type: an old copy kept read-only, pointing to where the live records
    are (``successor``, a record type id, or None)."""

    note: str
    successor: int | None = None


@dataclass(frozen=True)
class RecordTypeDef:
    """A record type as the schema engine sees it: definition plus its table objects."""

    id: int
    workspace_id: int
    name: str
    schema_version: int
    state: str
    fields: tuple[FieldDef, ...]
    unique_together: tuple[UniqueCombo, ...] = ()
    dedupe: tuple[RuleDef, ...] = ()
    #: Dedupe rules across record types this type is part of.
    spans: tuple[SpanDef, ...] = ()
    source: Source | None = None
    #: Fields owned by a connection (every other field is the workspace's).
    owners: tuple[FieldOwner, ...] = ()
    retired: Retirement | None = None
    #: The record table, or for an adopted type the view its records are read through.
    table: Table = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", build_table(self))

    def field_by_key(self, key: str) -> FieldDef | None:
        return next((f for f in self.fields if f.key == key), None)

    def field_by_id(self, field_id: int) -> FieldDef | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def owner_of(self, field_id: int) -> FieldOwner | None:
        """The connection owning a field, or None when the workspace owns it."""
        return next((o for o in self.owners if o.field_id == field_id), None)

    @property
    def keys_table(self) -> Table:
        return self.table.metadata.tables[naming.keys_table(self.id)]

    @property
    def side_table(self) -> Table:
        """An adopted type's bookkeeping table ``rs_<id>``."""
        return self.table.metadata.tables[naming.side_table(self.id)]

    @property
    def source_table(self) -> Table:
        """An adopted type's table as the customer made it; each column's ``key`` is the
        name the record table would give it (``id``, ``f_<id>``)."""
        assert self.source is not None
        return self.table.metadata.tables[self.source.table]

    def link_table(self, f: FieldDef) -> Table:
        return self.table.metadata.tables[f.column]

    @property
    def scalar_fields(self) -> tuple[FieldDef, ...]:
        """Fields stored in columns of the record table."""
        return tuple(
            f for f in self.fields if not (f.type.uses_link_table or f.type.outside_record)
        )

    @property
    def link_fields(self) -> tuple[FieldDef, ...]:
        return tuple(f for f in self.fields if f.type.uses_link_table)

    @cached_property
    def outside_fields(self) -> tuple[FieldDef, ...]:
        """Fields whose values live outside the record's tables (file fields)."""
        return tuple(f for f in self.fields if f.type.outside_record)

    # Statements of the hot paths, built once per definition (building costs as much CPU as
    # executing). Bind ``record_id`` / ``record_ids``.

    @cached_property
    def select_by_id(self) -> Select[Any]:
        return select(self.table).where(self.table.c.id == bindparam("record_id"))

    @cached_property
    def lock_by_ids(self) -> Select[Any]:
        ids: BindParameter[int] = bindparam("record_ids", expanding=True)
        return select(self.table).where(self.table.c.id.in_(ids)).order_by("id").with_for_update()

    def update_by_id(self, columns: tuple[str, ...]) -> Update:
        """``UPDATE ... SET <columns> WHERE id = :record_id AND version = :old_version``,
        built once per set of columns (bind each column by its own name)."""
        found = self._updates.get(columns)
        if found is None:
            table = self.table
            found = (
                update(table)
                .where(
                    table.c.id == bindparam("record_id"),
                    table.c.version == bindparam("old_version"),
                )
                .values({name: bindparam(name) for name in columns})
            )
            self._updates[columns] = found
        return found

    @cached_property
    def _updates(self) -> dict[tuple[str, ...], Update]:
        return {}

    @cached_property
    def insert_returning_id(self) -> Insert:
        return insert(self.table).returning(self.table.c.id, sort_by_parameter_order=True)


def system_columns() -> list[Column[Any]]:
    return [
        Column(
            "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        Column("version", Integer, nullable=False, server_default="1"),
        Column("created_at", UtcDateTime, nullable=False),
        Column("created_by", BigInteger, nullable=True),
        Column("updated_at", UtcDateTime, nullable=False),
        Column("updated_by", BigInteger, nullable=True),
        Column("deleted_at", UtcDateTime, nullable=True),
        Column("deleted_by", BigInteger, nullable=True),
        # 1 while the record is live, NULL once deleted: unique indexes include it, so a
        # deleted record never blocks a new one with the same value (NULLs never clash).
        Column("alive", Boolean, nullable=True, server_default=true()),
    ]


def build_table(rt: RecordTypeDef, metadata: MetaData | None = None) -> Table:
    metadata = metadata or MetaData()
    columns = system_columns()
    for f in rt.fields:
        columns.extend(f.type.columns(f))
    if rt.source is not None:
        # The view has the columns of a record table and no indexes of its own.
        table = Table(naming.record_view(rt.id), metadata, *columns)
        side_table(rt.id, metadata)
        source_table(rt, rt.source, metadata)
    else:
        table = Table(
            naming.record_table(rt.id),
            metadata,
            *columns,
            *field_indexes(rt),
            mysql_engine="InnoDB",
            mysql_charset="utf8mb4",
            mysql_collate="utf8mb4_bin",
        )
    for f in rt.link_fields:
        f.type.link_table(f, metadata)
    keys_table(rt.id, metadata)
    return table


def side_table(record_type_id: int, metadata: MetaData) -> Table:
    """``rs_<id>``: the system columns of an adopted table's rows, keyed by its primary key.

    A row that another system inserted has no side row yet: the view reads it as version 1,
    alive, creation unknown. The first write through the server adds the side row.
    """
    columns = [c for c in system_columns() if c.name != "id"]
    for column in columns:
        column.nullable = column.name not in {"version"}
    return Table(
        naming.side_table(record_type_id),
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        *columns,
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def source_table(rt: RecordTypeDef, source: Source, metadata: MetaData) -> Table:
    """The customer's table as far as the type maps it: its real names, our keys and types
    (a value is bound as the field type binds it), so ``table.c.f_12`` is ``"Customer Name"``
    and every statement quotes it through the dialect."""
    columns: list[Column[Any]] = [
        Column(source.key, BigInteger, key="id", primary_key=True, autoincrement=True)
    ]
    for f in rt.scalar_fields:
        real = source.columns.get(f.column)
        if real is not None:
            value = f.type.columns(f)[0]
            columns.append(Column(real, value.type, key=f.column))
    return Table(source.table, metadata, *columns)


def keys_table(record_type_id: int, metadata: MetaData) -> Table:
    """``dk_<id>(signature, key, record_id, enforced)``: the dedupe match keys of each record.

    ``enforced`` is 1 for keys of rules that refuse or merge duplicates and NULL otherwise;
    the unique index over (signature, key, enforced) lets the database, not a read-then-write
    check, decide the race between two writers of the same customer (NULLs never clash).
    """
    name = naming.keys_table(record_type_id)
    return Table(
        name,
        metadata,
        Column("signature", exact_string(100), primary_key=True),
        Column("key", exact_string(255), primary_key=True),
        Column("record_id", BigInteger, primary_key=True, autoincrement=False),
        Column("enforced", Boolean, nullable=True),
        Index(f"uq_{name}", "signature", "key", "enforced", unique=True),
        Index(f"ix_{name}_record", "record_id"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def field_indexes(rt: RecordTypeDef) -> list[Index]:
    """Indexes the definition asks for: unique fields, unique combinations, plain indexes."""
    indexes = [index for f in rt.scalar_fields for index in field_index_list(rt.id, f)]
    by_id = {f.id: f for f in rt.fields}
    for combo in rt.unique_together:
        columns = [c for fid in combo.field_ids for c in by_id[fid].type.value_columns(by_id[fid])]
        indexes.append(
            Index(naming.combo_index_name(rt.id, combo.id), *columns, "alive", unique=True)
        )
    return indexes


def field_index_list(record_type_id: int, f: FieldDef) -> list[Index]:
    """A field's own indexes. A unique index (value columns + ``alive``) also serves lookups,
    so it replaces the plain index on the same columns."""
    indexes = []
    plain = f.type.index_columns(f)
    if f.unique:
        value = f.type.value_columns(f)
        name = naming.index_name(value[0], record_type_id, unique=True)
        indexes.append(Index(name, *value, "alive", unique=True))
        plain = [columns for columns in plain if columns != value]
    for columns in plain:
        indexes.append(Index(naming.index_name(columns[0], record_type_id), *columns))
    return indexes


class SchemaCache:
    """Per-process cache of RecordTypeDef keyed by (id, schema_version); bounded LRU."""

    def __init__(self, size: int = 512) -> None:
        self._items: OrderedDict[tuple[int, int], RecordTypeDef] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(
        self, record_type_id: int, version: int, load: Callable[[], RecordTypeDef]
    ) -> RecordTypeDef:
        key = (record_type_id, version)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        built = load()
        with self._lock:
            self._items[(built.id, built.schema_version)] = built
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return built


def span_keys_table(span_id: int, metadata: MetaData) -> Table:
    """``dks_<id>(key, record_type_id, record_id, enforced)``: the keys of a rule across types.

    As in ``dk_<id>``, ``enforced`` is 1 for keys of types that refuse or merge duplicates
    and NULL otherwise, and the unique index over (key, enforced) lets the database decide a
    race, here between writers of any of the spanned types.
    """
    name = naming.span_keys_table(span_id)
    return Table(
        name,
        metadata,
        Column("key", exact_string(255), primary_key=True),
        Column("record_type_id", BigInteger, primary_key=True, autoincrement=False),
        Column("record_id", BigInteger, primary_key=True, autoincrement=False),
        Column("enforced", Boolean, nullable=True),
        Index(f"uq_{name}", "key", "enforced", unique=True),
        Index(f"ix_{name}_record", "record_type_id", "record_id"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
