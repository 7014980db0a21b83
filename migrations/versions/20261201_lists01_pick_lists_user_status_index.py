"""pick_lists: index (assigned_user_id, status) in place of assigned_user_id alone

A picker's next task starts from the picker's lists under way (``picking.handout``: lists
assigned to the picker, status ``in_progress``), at every finished task. Through the index on
``assigned_user_id`` alone, SQLite read every list the picker had ever been given and dropped
the finished ones row by row: a cost that grew all shift (hundreds of lists a picker) and day
after day. With the status in the index: ``SEARCH pick_lists USING INDEX
ix_pick_lists_assigned_user_id_status (assigned_user_id=? AND status=?)``. The new index
serves every lookup by ``assigned_user_id`` the old one did (its first column).

Revision ID: lists01
Revises: picks01
Create Date: 2026-12-01 04:45:00
"""

from __future__ import annotations

from alembic import op

revision = "lists01"
down_revision = "picks01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_pick_lists_assigned_user_id_status",
        "pick_lists",
        ["assigned_user_id", "status"],
        unique=False,
    )
    op.drop_index("ix_pick_lists_assigned_user_id", table_name="pick_lists")


def downgrade() -> None:
    op.create_index(
        "ix_pick_lists_assigned_user_id", "pick_lists", ["assigned_user_id"], unique=False
    )
    op.drop_index("ix_pick_lists_assigned_user_id_status", table_name="pick_lists")
