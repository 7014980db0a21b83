"""scans: the index by time covers what the dashboard aggregates; the user_id and device_id
indexes go

The live dashboard aggregates the shift's scans at every flush (``people.picker_stats``: per
picker first/last scan, accuracy, lines and units this shift and this hour; the day's figures:
first-pass accuracy, units and lines by hour). Through ``ix_scans_scanned_at`` SQLite found the
shift's rows, then read each one from the table: with 50,000 scans stored the people took
~170 ms and the figures ~300 ms per flush. ``ix_scans_scanned_at_covering`` holds every column
those queries read, so they run on the index alone (81 and 120 ms). ``ix_scans_user_id`` was
redundant: the unique (user_id, client_scan_id) index serves every lookup by user_id; nothing
looks scans up by ``device_id`` (devices are never deleted). Each index is a page in every
scan's commit: a scan wrote 6 of its ~11.5 WAL pages into ``scans``, now 4 of ~9.6 (an item
scan on a cart of totes: 5 pages, was 7), and each commit's fsync writes them all.

Revision ID: scans02
Revises: lists01
Create Date: 2026-12-01 07:20:00
"""

from __future__ import annotations

from alembic import op

revision = "scans02"
down_revision = "lists01"
branch_labels = None
depends_on = None

COVERED = ["scanned_at", "user_id", "result", "kind", "task_id", "raw"]


def upgrade() -> None:
    # ``raw`` is now in an index, and a PostgreSQL index entry holds at most ~2.7 kB. Every
    # scan has been stored with its text cut at 500 characters (at most 2,000 bytes); a row
    # from before that rule would stop this migration, so it is cut the same way first.
    op.execute("UPDATE scans SET raw = substr(raw, 1, 500) WHERE length(raw) > 500")
    op.create_index("ix_scans_scanned_at_covering", "scans", COVERED, unique=False)
    op.drop_index("ix_scans_scanned_at", table_name="scans")
    op.drop_index("ix_scans_user_id", table_name="scans")
    op.drop_index("ix_scans_device_id", table_name="scans")


def downgrade() -> None:
    op.create_index("ix_scans_device_id", "scans", ["device_id"], unique=False)
    op.create_index("ix_scans_user_id", "scans", ["user_id"], unique=False)
    op.create_index("ix_scans_scanned_at", "scans", ["scanned_at"], unique=False)
    op.drop_index("ix_scans_scanned_at_covering", table_name="scans")
