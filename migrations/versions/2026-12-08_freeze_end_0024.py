"""When a data move expects its write freeze to end, so the 503s it causes ask clients to
wait about that long (Retry-After) instead of a fixed five seconds; and how a move's old
copy is kept read-only (triggers in its database, or why not).

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workspace.schema.coltypes import UtcDateTime

revision = "0024"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("data_frozen_until", UtcDateTime(), nullable=True))
    op.add_column("data_moves", sa.Column("old_copy_guard", sa.String(300), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN, not batch mode: a batch rebuild of ``workspaces`` on SQLite would
    # delete every workspace's types, forms and files through ON DELETE CASCADE.
    op.drop_column("data_moves", "old_copy_guard")
    op.drop_column("workspaces", "data_frozen_until")
