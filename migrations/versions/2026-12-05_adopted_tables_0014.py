"""Adopted tables (issue #6): a record type may read and write a customer's existing table.

Plain ADD/DROP COLUMN, not batch mode: SQLite does both in place, whereas a batch rebuild of
``record_types`` drops the old table, and with foreign keys on that deletes every field, view
and form of every record type through ON DELETE CASCADE.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("record_types", sa.Column("source", sa.JSON(), nullable=True))
    op.add_column("fields", sa.Column("source_column", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("fields", "source_column")
    op.drop_column("record_types", "source")
