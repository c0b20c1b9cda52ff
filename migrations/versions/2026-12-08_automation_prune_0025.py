"""Indexes the pruning of the automation run log uses: runs by state and end (each batch
finds the oldest runs that are over without reading the whole table) and webhook posts by
run (deleted with their run).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 01:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_automation_runs_ended", "automation_runs", ["state", "finished_at"])
    op.create_index("ix_automation_inbound_run", "automation_inbound", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_automation_inbound_run", table_name="automation_inbound")
    op.drop_index("ix_automation_runs_ended", table_name="automation_runs")
