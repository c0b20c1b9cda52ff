"""Per-workspace storage backend settings and backend migrations (issue #5).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import workspace.schema.coltypes

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = workspace.schema.coltypes.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "storage_configs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("sealed", sa.String(length=4000), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", When(), nullable=False),
        sa.Column("updated_at", When(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_storage_configs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_configs")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_storage_configs_workspace", "storage_configs", ["workspace_id", "role"], unique=False
    )
    op.create_table(
        "storage_migrations",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("total_objects", sa.Integer(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("done_objects", sa.Integer(), nullable=False),
        sa.Column("done_bytes", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("lease_until", When(), nullable=True),
        sa.Column("started_by", sa.BigInteger(), nullable=True),
        sa.Column("started_at", When(), nullable=False),
        sa.Column("finished_at", When(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_storage_migrations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_migrations")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_storage_migrations_workspace",
        "storage_migrations",
        ["workspace_id", "state"],
        unique=False,
    )
    op.create_table(
        "storage_migration_items",
        sa.Column("migration_id", Id, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["migration_id"],
            ["storage_migrations.id"],
            name=op.f("fk_storage_migration_items_migration_id_storage_migrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("migration_id", "sha256", name=op.f("pk_storage_migration_items")),
    )
    op.create_index(
        "ix_storage_migration_items_todo",
        "storage_migration_items",
        ["migration_id", "done", "sha256"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("storage_migration_items")
    op.drop_table("storage_migrations")
    op.drop_table("storage_configs")
