"""dashboard: index scans by scanned_at (the people table and the day's figures read a window)

The live dashboard aggregates the scans of the shift (``floor.fulfilment.people.picker_stats``,
``shift_figures.scan_figures``) about once a second. Without this index SQLite walked
``ix_scans_user_id`` over every scan ever stored: 737 ms with 300,000 scans of earlier days
beside 50,000 of today's, 90 ms with it (EXPLAIN QUERY PLAN: ``SEARCH scans USING INDEX
ix_scans_scanned_at (scanned_at>? AND scanned_at<?)``).

Revision ID: dash01
Revises: devices01
Create Date: 2026-11-29 20:10:00
"""

from __future__ import annotations

from alembic import op

revision = "dash01"
down_revision = "devices01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_scanned_at"), ["scanned_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_scanned_at"))
