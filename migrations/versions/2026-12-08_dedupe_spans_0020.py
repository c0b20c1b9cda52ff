"""Dedupe rules across record types, and review pairs whose two records differ in type.

A spanning rule (``dedupe_spans``) reads mapped fields of several record types of one
workspace (``dedupe_span_types``: the fields and the modes per type) and keeps the keys of all
of them in one key space, so one unique index decides races between the types. A review pair
may now join records of two types: ``type_b`` names record_b's type (0: the same type as
record_a), and the pair's unique constraint includes it. A connection may carry the price
its tool charges per record and month (``connections.price_per_record``), for the cost of
duplicates on the home page.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 00:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workspace.schema.coltypes import UtcDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dedupe_spans",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "dedupe_span_types",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("span_id", Id, nullable=False),
        sa.Column("record_type_id", Id, nullable=False),
        sa.Column("field_ids", sa.JSON(), nullable=False),
        sa.Column("on_create", sa.String(16), nullable=False),
        sa.Column("on_update", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["span_id"], ["dedupe_spans.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["record_type_id"], ["record_types.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("span_id", "record_type_id", name="uq_dedupe_span_types_type"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_dedupe_span_types_record_type_id", "dedupe_span_types", ["record_type_id"]
    )
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("price_per_record", sa.Float(), nullable=True))
    with op.batch_alter_table("duplicate_pairs") as batch:
        batch.add_column(
            sa.Column("type_b", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.drop_constraint("uq_duplicate_pairs_pair", type_="unique")
        batch.create_unique_constraint(
            "uq_duplicate_pairs_pair", ["record_type_id", "record_a", "type_b", "record_b"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM duplicate_pairs WHERE type_b <> 0")
    with op.batch_alter_table("duplicate_pairs") as batch:
        batch.drop_constraint("uq_duplicate_pairs_pair", type_="unique")
        batch.create_unique_constraint(
            "uq_duplicate_pairs_pair", ["record_type_id", "record_a", "record_b"]
        )
        batch.drop_column("type_b")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("price_per_record")
    op.drop_table("dedupe_span_types")
    op.drop_table("dedupe_spans")
