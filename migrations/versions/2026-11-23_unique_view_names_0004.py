"""unique view names

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:49:43.307022

A view name picks one view of a record type. The service checked it before inserting, so two
saves at the same moment could both pass; the unique constraint referees them now. Names two
such saves left behind are made distinct first ("Open deals (2)"), the oldest view keeping
its name, so the constraint can be created on any database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

MAX_NAME = 200
views = sa.table(
    'views',
    sa.column('id', sa.BigInteger()),
    sa.column('record_type_id', sa.BigInteger()),
    sa.column('name', sa.String(MAX_NAME)),
)


def upgrade() -> None:
    _rename_duplicates(op.get_bind())
    with op.batch_alter_table('views', schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f('uq_views_record_type_id_name'), ['record_type_id', 'name']
        )


def downgrade() -> None:
    with op.batch_alter_table('views', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_views_record_type_id_name'), type_='unique')


def _rename_duplicates(conn: sa.Connection) -> None:
    # Grouped and compared by the database, so "the same name" means what the constraint
    # will mean (MySQL compares names case-insensitively, SQLite does not).
    groups = conn.execute(
        sa.select(views.c.record_type_id, views.c.name)
        .group_by(views.c.record_type_id, views.c.name)
        .having(sa.func.count() > 1)
    ).all()
    for record_type_id, name in groups:
        same = (views.c.record_type_id == record_type_id) & (views.c.name == name)
        ids = conn.execute(sa.select(views.c.id).where(same).order_by(views.c.id)).scalars().all()
        n = 1
        for view_id in ids[1:]:
            while True:
                n += 1
                suffix = f' ({n})'
                candidate = name[: MAX_NAME - len(suffix)] + suffix
                taken = conn.execute(
                    sa.select(views.c.id).where(
                        views.c.record_type_id == record_type_id, views.c.name == candidate
                    )
                ).first()
                if taken is None:
                    break
            conn.execute(sa.update(views).where(views.c.id == view_id).values(name=candidate))
