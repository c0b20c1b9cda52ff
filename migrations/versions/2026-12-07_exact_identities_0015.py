"""Identities compared byte for byte on MySQL.

MySQL's default collations are accent- and case-insensitive, so looking up ``alicé@`` found
``alice@``'s account. Every column that identifies something gets the binary collation that
``exact_string`` declares; SQLite already compares these exactly, so nothing changes there.
Values already stored keep their meaning: the unique indexes only become stricter to match.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workspace.schema.coltypes import exact_string

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: (table, column, length, nullable) of every identity column.
COLUMNS = (
    ("users", "email", 254, False),
    ("api_tokens", "token_hash", 64, False),
    ("idempotency_keys", "scope", 64, False),
    ("idempotency_keys", "key", 255, False),
    ("sessions", "id", 64, False),
    ("views", "name", 200, False),
    ("form_submissions", "ref", 32, False),
    ("form_tokens", "token_hash", 64, False),
    ("storage_migrations", "lease_token", 32, True),
    ("data_moves", "lease_token", 32, True),
)


def _retype(exact: bool) -> None:
    if op.get_bind().dialect.name != "mysql":
        return
    for table, column, length, nullable in COLUMNS:
        old, new = sa.String(length), exact_string(length)
        op.alter_column(
            table,
            column,
            type_=new if exact else old,
            existing_type=old if exact else new,
            existing_nullable=nullable,
        )


def upgrade() -> None:
    _retype(exact=True)


def downgrade() -> None:
    _retype(exact=False)
