"""Physical names of record data: opaque, derived from ids, never from user input.

Readable names live only in metadata, so renaming a type or field never touches DDL and no
user-given text ever becomes an SQL identifier. Every name fits MySQL's 64-character limit.
"""

from __future__ import annotations

#: Tables whose names start with one of these belong to record data, not to Alembic (rs_ and
#: rv_ are the side table and the view of an adopted table).
RECORD_TABLE_PREFIXES = ("rt_", "lnk_", "dk_", "rs_", "rv_")


def record_table(record_type_id: int) -> str:
    return f"rt_{int(record_type_id)}"


def side_table(record_type_id: int) -> str:
    """Bookkeeping (version, created/updated/deleted by and at) of an adopted table's rows."""
    return f"rs_{int(record_type_id)}"


def record_view(record_type_id: int) -> str:
    """The view an adopted type's records are read through: the customer's table joined with
    its side table, under the names a record table ``rt_<id>`` has."""
    return f"rv_{int(record_type_id)}"


def field_column(field_id: int, generation: int = 0) -> str:
    """Column of a field; a type change writes a new generation and drops the old column."""
    base = f"f_{int(field_id)}"
    return base if generation == 0 else f"{base}_{int(generation)}"


def link_table(field_id: int, generation: int = 0) -> str:
    return "lnk_" + field_column(field_id, generation)[2:]


def keys_table(record_type_id: int) -> str:
    """Dedupe match keys of a record type's records."""
    return f"dk_{int(record_type_id)}"


def span_keys_table(span_id: int) -> str:
    """Dedupe match keys of a rule across record types: one key space for all its types."""
    return f"dks_{int(span_id)}"


def index_name(column: str, record_type_id: int, *, unique: bool = False) -> str:
    # SQLite index names are global to the database, so they carry the table id.
    return f"{'uq' if unique else 'ix'}_{int(record_type_id)}_{column}"


def combo_index_name(record_type_id: int, constraint_id: str) -> str:
    return f"uq_{int(record_type_id)}_c{constraint_id}"


def is_record_table(name: str) -> bool:
    return name.startswith(RECORD_TABLE_PREFIXES)


def next_generation(name: str) -> int:
    """``f_12`` -> 1, ``f_12_3`` -> 4 (same for link tables)."""
    parts = name.split("_")
    return (int(parts[2]) if len(parts) > 2 else 0) + 1
