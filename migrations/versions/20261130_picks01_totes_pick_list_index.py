"""totes: index pick_list_id (the totes on a picker's cart)

Every scan's facts query names the totes on the task's cart (``picking.fast_path``:
``totes.pick_list_id = pick_tasks.pick_list_id``), and claiming or closing a cart asks for its
totes too. Without an index each of those read the whole tote table (EXPLAIN QUERY PLAN:
``SCAN totes``), so a scan cost more the more totes a site owns. With it: ``SEARCH totes USING
INDEX ix_totes_pick_list_id (pick_list_id=?)``.

Revision ID: picks01
Revises: override01
Create Date: 2026-11-30 22:20:00
"""

from __future__ import annotations

from alembic import op

revision = "picks01"
down_revision = "override01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_totes_pick_list_id", "totes", ["pick_list_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_totes_pick_list_id", table_name="totes")
