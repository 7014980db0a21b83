"""security: per-user session version, demo markers, scan ids unique per user

Revision ID: sec01
Revises: waves01
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sec01"
down_revision = "waves01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "session_version",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="bumped on logout and deactivation: every session signed with an older "
                "one ends",
            )
        )
        batch_op.add_column(
            sa.Column(
                "is_demo",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="made by the demo loader; refused once a real supervisor or admin exists",
            )
        )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "is_demo",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="the demo key; refused once FLOOR_OMS_API_KEY is set or a real key exists",
            )
        )
    # Databases the old `serve` filled with the demo: its key is named "demo OMS" and its users
    # were made with it (usernames are unique, so a real "sam" cannot exist beside the demo one).
    op.execute(sa.text("UPDATE api_keys SET is_demo = true WHERE name = 'demo OMS'"))
    op.execute(
        sa.text(
            "UPDATE users SET is_demo = true WHERE username IN ('pat', 'pia', 'paco', 'sam', 'ada')"
            " AND EXISTS (SELECT 1 FROM api_keys WHERE name = 'demo OMS')"
        )
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_constraint("uq_scans_client_scan_id", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_scans_user_id"), ["user_id", "client_scan_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_scans_user_id"), type_="unique")
        batch_op.create_unique_constraint("uq_scans_client_scan_id", ["client_scan_id"])
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("is_demo")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_demo")
        batch_op.drop_column("session_version")
