"""API rate limits counted across server processes, an index for the recovery pass of form
submissions, and the warnings of a customer database's connection test.

``rate_counts`` holds, per window and bucket (a token or a client address, hashed), how many
requests the server processes have handed out (workspace/rate_limits.py). The recovery pass
marks failed the submissions still ``received`` long after they came in; the index on
(outcome, received_at) lets it find them without reading every submission. A customer
database's row keeps what its connection test warned about (``data_databases.warnings``).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workspace.schema.coltypes import exact_string

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counts",
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("bucket", exact_string(48), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("window_start", "bucket", name=op.f("pk_rate_counts")),
    )
    op.create_index(
        "ix_form_submissions_outcome", "form_submissions", ["outcome", "received_at"]
    )
    with op.batch_alter_table("data_databases") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_databases") as batch:
        batch.drop_column("warnings")
    op.drop_index("ix_form_submissions_outcome", table_name="form_submissions")
    op.drop_table("rate_counts")
