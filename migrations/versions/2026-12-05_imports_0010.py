"""CSV imports: every uploaded row kept with its outcome (issue #4).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import workspace.schema.coltypes

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.BigInteger(), nullable=False),
        sa.Column("record_type_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", workspace.schema.coltypes.UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=True),
        sa.Column("finished_at", workspace.schema.coltypes.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_imports_type", "imports", ["record_type_id", "id"])
    op.create_table(
        "import_rows",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("import_id", Id, nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["imports.id"],
            name=op.f("fk_import_rows_import_id_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_rows")),
        sa.UniqueConstraint("import_id", "row_number", name=op.f("uq_import_rows_import_id_row_number")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_import_rows_outcome", "import_rows", ["import_id", "outcome", "row_number"])


def downgrade() -> None:
    # Dropping the tables drops their indexes and keys (MySQL refuses to drop an index a
    # foreign key needs on its own).
    op.drop_table("import_rows")
    op.drop_table("imports")
