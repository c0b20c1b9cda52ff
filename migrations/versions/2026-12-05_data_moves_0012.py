"""Progress of copying a workspace's record data to another database (issue #6).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import workspace.schema.coltypes

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = workspace.schema.coltypes.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "data_moves",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=True),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("started_by", sa.BigInteger(), nullable=True),
        sa.Column("started_at", When(), nullable=False),
        sa.Column("finished_at", When(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_data_moves_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_moves")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_data_moves_workspace", "data_moves", ["workspace_id", "state"])
    op.create_table(
        "data_move_tables",
        sa.Column("move_id", Id, nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("record_type_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_key", sa.JSON(), nullable=True),
        sa.Column("copied_rows", sa.BigInteger(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("source_rows", sa.BigInteger(), nullable=True),
        sa.Column("target_rows", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.Column("mismatch", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["move_id"],
            ["data_moves.id"],
            name=op.f("fk_data_move_tables_move_id_data_moves"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("move_id", "table_name", name=op.f("pk_data_move_tables")),
    )


def downgrade() -> None:
    # Dropping the tables drops their indexes and keys (MySQL refuses to drop an index a
    # foreign key needs on its own).
    op.drop_table("data_move_tables")
    op.drop_table("data_moves")
