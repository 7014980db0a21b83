"""totes: index upper(code) (a tote is found by its scanned code in any letter case)

Every tote lookup compares ``upper(totes.code)`` with the scanned code: the put-to-tote scan on
the handheld (``picking.fast_path``, every other scan of a cart with totes), the pack station
opening or closing an order by its tote (``packing.station.find_order``). The unique index on
``code`` cannot serve that comparison, so each lookup read the whole table (EXPLAIN QUERY PLAN:
``SCAN totes``; twice per ``find_order``). With this index: ``SEARCH totes USING INDEX
ix_totes_code_upper (<expr>=?)``, the same on PostgreSQL.

Revision ID: totes01
Revises: dash01
Create Date: 2026-11-30 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "totes01"
down_revision = "dash01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_totes_code_upper", "totes", [sa.text("upper(code)")], unique=False)


def downgrade() -> None:
    op.drop_index("ix_totes_code_upper", table_name="totes")
