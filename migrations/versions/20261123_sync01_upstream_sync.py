"""upstream sync: delivery bookkeeping on outbox events, status "skipped"

Revision ID: sync01
Revises: 0001
Create Date: 2026-11-23 13:59:33.436150
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "sync01"
down_revision = "0001"
branch_labels = None
depends_on = None

CK = "ck_outbox_events_outboxstatus"
OLD = "status IN ('pending', 'delivered', 'dead')"
NEW = "status IN ('pending', 'delivered', 'dead', 'skipped')"


def _swap_check(batch_op: object, sql: str) -> None:
    batch_op.drop_constraint(op.f(CK), type_="check")  # type: ignore[attr-defined]
    batch_op.create_check_constraint(op.f(CK), sql)  # type: ignore[attr-defined]


def upgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("last_attempt_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_status_code", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("dead_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )
        _swap_check(batch_op, NEW)


def downgrade() -> None:
    op.execute("UPDATE outbox_events SET status = 'dead' WHERE status = 'skipped'")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        _swap_check(batch_op, OLD)
        batch_op.drop_column("dead_at")
        batch_op.drop_column("last_status_code")
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("claim_token")
