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
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data_frozen", sa.Boolean(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("data_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    with op.batch_alter_table("data_moves", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("lease_until", When(), nullable=True))
        batch_op.add_column(sa.Column("old_copy", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_moves", schema=None) as batch_op:
        batch_op.drop_column("old_copy")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_token")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("data_epoch")
        batch_op.drop_column("data_frozen")
