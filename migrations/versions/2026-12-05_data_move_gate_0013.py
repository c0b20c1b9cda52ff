"""The write gate and the lease of a move of a workspace's record data (issue #6).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import workspace.schema.coltypes

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

When = workspace.schema.coltypes.UtcDateTime


def upgrade() -> None:
    op.add_column(
        "workspaces",
        sa.Column("data_frozen", sa.Boolean(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "workspaces",
        sa.Column("data_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("data_moves", sa.Column("lease_token", sa.String(length=32), nullable=True))
    op.add_column("data_moves", sa.Column("lease_until", When(), nullable=True))
    op.add_column("data_moves", sa.Column("old_copy", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN, not batch mode: a batch rebuild of ``workspaces`` on SQLite drops
    # the old table, and with foreign keys on that deletes every record type, form and file
    # of every workspace through ON DELETE CASCADE.
    for column in ("old_copy", "lease_until", "lease_token"):
        op.drop_column("data_moves", column)
    for column in ("data_epoch", "data_frozen"):
        op.drop_column("workspaces", column)
