"""Automations: definitions, runs with their step log, inbound webhook payloads, the SMTP
server their email goes through; and a time zone per workspace (dates and times of day of
time triggers).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workspace.schema.coltypes import UtcDateTime, exact_string

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("time_zone", sa.String(length=64), nullable=True))
    op.create_table(
        "automations",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("record_type_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("notice", sa.String(length=1000), nullable=True),
        sa.Column("trigger_type", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("hook_secret", exact_string(64), nullable=True),
        sa.Column("next_fire_at", UtcDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_automations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automations")),
        sa.UniqueConstraint("hook_secret", name=op.f("uq_automations_hook_secret")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_automations_trigger", "automations", ["workspace_id", "trigger_type", "enabled"]
    )
    op.create_index("ix_automations_fire", "automations", ["enabled", "next_fire_at"])
    op.create_table(
        "automation_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("automation_id", Id, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("record_type_id", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_runs_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_automation_runs_automation", "automation_runs", ["automation_id", "id"])
    op.create_index(
        "ix_automation_runs_record", "automation_runs", ["record_type_id", "record_id", "id"]
    )
    op.create_index("ix_automation_runs_state", "automation_runs", ["workspace_id", "state", "id"])
    op.create_index("ix_automation_runs_rate", "automation_runs", ["workspace_id", "started_at"])
    op.create_table(
        "automation_steps",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["automation_runs.id"],
            name=op.f("fk_automation_steps_run_id_automation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_steps")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_automation_steps_run", "automation_steps", ["run_id", "id"])
    op.create_table(
        "automation_inbound",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("automation_id", Id, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_inbound_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_inbound")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_automation_inbound_automation", "automation_inbound", ["automation_id", "id"]
    )
    op.create_table(
        "mail_settings",
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("sealed", sa.String(length=4000), nullable=True),
        sa.Column("from_address", sa.String(length=254), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_mail_settings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_mail_settings")),
    )


def downgrade() -> None:
    op.drop_table("mail_settings")
    op.drop_table("automation_inbound")
    op.drop_table("automation_steps")
    op.drop_table("automation_runs")
    op.drop_table("automations")
    # Plain DROP COLUMN (see 0013): a batch rebuild of workspaces on SQLite would cascade.
    op.drop_column("workspaces", "time_zone")
