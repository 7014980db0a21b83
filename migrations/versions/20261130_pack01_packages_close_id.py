"""packages: close_id, the client's name for the close that made the carton

A packer's close can be sent twice (a double click, a retry after a lost answer). With a
``close_id`` (one per close attempt, kept by the client until it has an answer) the second request
is answered with the first one's carton instead of packing a second carton with a second SSCC
(``packing.station.earlier_close``). Unique, so two requests racing with one id make one carton.

Revision ID: pack01
Revises: totes01
Create Date: 2026-11-30 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pack01"
down_revision = "totes01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_packages_close_id"), ["close_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_packages_close_id"))
        batch_op.drop_column("close_id")
