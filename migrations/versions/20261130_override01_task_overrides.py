"""task_overrides: the client's name for a supervisor's override (``override_id``)

``POST /tasks/<id>/override`` sent twice (a retry after a lost answer) booked the units twice.
With an ``override_id`` (one per override, kept by the client until it has an answer) the second
request finds this row and is answered without booking again
(``floor.fulfilment.picking.booking.override_task``). Unique, so two requests racing with one id
book once.

Revision ID: override01
Revises: return01
Create Date: 2026-11-30 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "override01"
down_revision = "return01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("override_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column(
            "quantity",
            sa.Integer(),
            nullable=True,
            comment="as requested; null = all that was left",
        ),
        sa.Column("units", sa.Integer(), nullable=False, comment="units booked"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["pick_tasks.id"], name=op.f("fk_task_overrides_task_id_pick_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_task_overrides_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_overrides")),
        sa.UniqueConstraint("override_id", name=op.f("uq_task_overrides_override_id")),
    )
    with op.batch_alter_table("task_overrides", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_overrides_task_id"), ["task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_overrides_task_id"))
    op.drop_table("task_overrides")
