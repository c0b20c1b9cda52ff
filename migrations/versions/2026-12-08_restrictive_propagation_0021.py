"""Dedupe rules may propagate restrictive values between the records they match.

``dedupe_rules.propagate_restrictive``: where a rule keeps duplicates apart on purpose (a
person who is a contact at two accounts), a restrictive status or opt-out set on one record
is copied, in the same transaction, to every record that shares the rule's key
(workspace/records/propagation.py). Off for every rule on file.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dedupe_rules") as batch:
        batch.add_column(
            sa.Column(
                "propagate_restrictive",
                sa.Boolean(),
                nullable=False,
                server_default=sa.text("0"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("dedupe_rules") as batch:
        batch.drop_column("propagate_restrictive")
