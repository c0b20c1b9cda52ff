"""Per-workspace data databases (a customer's own MySQL) and their readable views (issue #6).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import workspace.schema.coltypes

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = workspace.schema.coltypes.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "data_databases",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("database_name", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=80), nullable=False),
        sa.Column("sealed", sa.String(length=4000), nullable=False),
        sa.Column("tls", sa.Boolean(), nullable=False),
        sa.Column("ca_cert", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", When(), nullable=False),
        sa.Column("updated_at", When(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_data_databases_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_databases")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_data_databases_workspace", "data_databases", ["workspace_id", "role"], unique=False
    )
    op.create_table(
        "data_views",
        sa.Column("record_type_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("data_database_id", sa.BigInteger(), nullable=False),
        sa.Column("view_name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_data_views_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_type_id", name=op.f("pk_data_views")),
    )


def downgrade() -> None:
    # Dropping the tables drops their indexes and keys (MySQL refuses to drop an index a
    # foreign key needs on its own).
    op.drop_table("data_views")
    op.drop_table("data_databases")
