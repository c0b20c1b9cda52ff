"""Connectors: connections to SaaS tools, field owners, mappings, external ids, sync runs with
every payload kept, conflicts, and retired record types.

``record_types.retired`` is a plain ADD COLUMN, not batch mode, for the reason 0014 gives.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workspace.schema.coltypes import UtcDateTime, exact_string

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("record_types", sa.Column("retired", sa.JSON(), nullable=True))
    op.create_table(
        "connections",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("sealed", sa.String(length=4000), nullable=True),
        sa.Column("webhook_token", exact_string(64), nullable=False),
        sa.Column("pull_every", sa.Integer(), nullable=True),
        sa.Column("next_pull_at", UtcDateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("problem", sa.String(length=2000), nullable=True),
        sa.Column("lease_token", exact_string(32), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("deleted_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_connections_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("webhook_token", name=op.f("uq_connections_webhook_token")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_connections_workspace", "connections", ["workspace_id", "id"])
    op.create_table(
        "field_owners",
        sa.Column("field_id", Id, autoincrement=False, nullable=False),
        sa.Column("record_type_id", sa.BigInteger(), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("assigned_by", sa.BigInteger(), nullable=True),
        sa.Column("assigned_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["fields.id"],
            name=op.f("fk_field_owners_field_id_fields"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("field_id", name=op.f("pk_field_owners")),
    )
    op.create_index("ix_field_owners_record_type_id", "field_owners", ["record_type_id"])
    op.create_index("ix_field_owners_connection_id", "field_owners", ["connection_id"])
    op.create_table(
        "connection_mappings",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("connection_id", Id, nullable=False),
        sa.Column("remote_object", sa.String(length=64), nullable=False),
        sa.Column("record_type_id", sa.BigInteger(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=True),
        sa.Column("last_pull_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_connection_mappings_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_mappings")),
        sa.UniqueConstraint(
            "connection_id",
            "remote_object",
            name=op.f("uq_connection_mappings_connection_id_remote_object"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_connection_mappings_record_type_id", "connection_mappings", ["record_type_id"]
    )
    op.create_table(
        "external_ids",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("remote_object", sa.String(length=64), nullable=False),
        sa.Column("remote_id", exact_string(255), nullable=False),
        sa.Column("record_type_id", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("origin_record_id", sa.BigInteger(), nullable=False),
        sa.Column("remote_values", sa.JSON(), nullable=False),
        sa.Column("workspace_values", sa.JSON(), nullable=False),
        sa.Column("linked_at", UtcDateTime(), nullable=False),
        sa.Column("synced_at", UtcDateTime(), nullable=False),
        sa.Column("deleted_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_ids")),
        sa.UniqueConstraint(
            "connection_id",
            "remote_object",
            "remote_id",
            name=op.f("uq_external_ids_connection_id_remote_object_remote_id"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_external_ids_record", "external_ids", ["record_type_id", "record_id"])
    op.create_table(
        "sync_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("connection_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("started_by", sa.BigInteger(), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sync_runs_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sync_runs_connection", "sync_runs", ["connection_id", "id"])
    op.create_table(
        "sync_rows",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("remote_object", sa.String(length=64), nullable=False),
        sa.Column("remote_id", exact_string(255), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name=op.f("fk_sync_rows_run_id_sync_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_rows")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sync_rows_run", "sync_rows", ["run_id", "outcome", "id"])
    op.create_index(
        "ix_sync_rows_remote", "sync_rows", ["connection_id", "remote_object", "remote_id"]
    )
    op.create_table(
        "sync_conflicts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("remote_object", sa.String(length=64), nullable=False),
        sa.Column("remote_id", exact_string(255), nullable=False),
        sa.Column("record_type_id", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("field_id", sa.BigInteger(), nullable=False),
        sa.Column("property", sa.String(length=200), nullable=False),
        sa.Column("workspace_value", sa.JSON(), nullable=True),
        sa.Column("remote_value", sa.JSON(), nullable=True),
        sa.Column("base_value", sa.JSON(), nullable=True),
        sa.Column("found_in", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("found_at", UtcDateTime(), nullable=False),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_conflicts")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sync_conflicts_open", "sync_conflicts", ["connection_id", "state", "id"])
    op.create_index("ix_sync_conflicts_record", "sync_conflicts", ["record_type_id", "record_id"])


def downgrade() -> None:
    # Dropping a table drops its indexes and keys (MySQL refuses to drop an index a foreign
    # key needs on its own); children first.
    for table in (
        "sync_conflicts",
        "sync_rows",
        "sync_runs",
        "external_ids",
        "connection_mappings",
        "field_owners",
        "connections",
    ):
        op.drop_table(table)
    op.drop_column("record_types", "retired")
