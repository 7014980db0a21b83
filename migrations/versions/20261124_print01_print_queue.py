"""print queue: job states held/sending/unknown/replaced, claims and leases, reprints; printer URIs,
file:// printers, last host status

Revision ID: print01
Revises: sec01
Create Date: 2026-11-24 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "print01"
down_revision = "sec01"
branch_labels = None
depends_on = None

OLD_JOB_STATES = ("queued", "sent", "printed", "failed")
NEW_JOB_STATES = ("queued", "held", "sending", "printed", "failed", "unknown", "replaced")
OLD_TRANSPORTS = ("tcp", "cups")
NEW_TRANSPORTS = ("tcp", "cups", "file")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_print_jobs_printjobstatus"), type_="check")
    # Nothing ever sent a job before this revision; a "sent" one could have printed or not.
    op.execute("UPDATE print_jobs SET status = 'unknown' WHERE status = 'sent'")
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_print_jobs_printjobstatus"), _in("status", NEW_JOB_STATES)
        )
        batch_op.add_column(
            sa.Column(
                "claim_token",
                sa.String(length=36),
                nullable=True,
                comment="the worker round that holds the job",
            )
        )
        batch_op.add_column(
            sa.Column(
                "lease_until",
                core.db.UTCDateTime(timezone=True),
                nullable=True,
                comment="a claim or a send not finished by then was cut off",
            )
        )
        batch_op.add_column(
            sa.Column("printed_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("reprint_of_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "reason",
                sa.Text(),
                server_default="",
                nullable=False,
                comment="why it was reprinted",
            )
        )
        batch_op.create_foreign_key(
            op.f("fk_print_jobs_reprint_of_id_print_jobs"), "print_jobs", ["reprint_of_id"], ["id"]
        )

    with op.batch_alter_table("printers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_printers_printertransport"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_printers_printertransport"), _in("transport", NEW_TRANSPORTS)
        )
        batch_op.add_column(
            sa.Column(
                "uri",
                sa.String(length=300),
                server_default="",
                nullable=False,
                comment="tcp://HOST:PORT, cups://QUEUE or file:///DIR",
            )
        )
        batch_op.add_column(
            sa.Column(
                "source",
                sa.String(length=10),
                server_default="admin",
                nullable=False,
                comment="env (FLOOR_PRINTERS) or admin (the admin page)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "state",
                sa.String(length=120),
                server_default="",
                nullable=False,
                comment="last ~HS: ready, paper_out,head_open..., unreachable",
            )
        )
        batch_op.add_column(
            sa.Column("state_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE printers SET uri = CASE transport WHEN 'tcp' THEN 'tcp://' || address "
        "ELSE 'cups://' || address END"
    )


def downgrade() -> None:
    with op.batch_alter_table("printers", schema=None) as batch_op:
        batch_op.drop_column("state_at")
        batch_op.drop_column("state")
        batch_op.drop_column("source")
        batch_op.drop_column("uri")
        batch_op.drop_constraint(op.f("ck_printers_printertransport"), type_="check")
    op.execute("DELETE FROM printers WHERE transport = 'file'")
    with op.batch_alter_table("printers", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_printers_printertransport"), _in("transport", OLD_TRANSPORTS)
        )

    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_print_jobs_reprint_of_id_print_jobs"), type_="foreignkey")
        batch_op.drop_column("reason")
        batch_op.drop_column("reprint_of_id")
        batch_op.drop_column("printed_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claim_token")
        batch_op.drop_constraint(op.f("ck_print_jobs_printjobstatus"), type_="check")
    op.execute(
        "UPDATE print_jobs SET status = CASE status WHEN 'sending' THEN 'sent' "
        "WHEN 'unknown' THEN 'sent' WHEN 'held' THEN 'queued' WHEN 'replaced' THEN 'failed' "
        "ELSE status END"
    )
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_print_jobs_printjobstatus"), _in("status", OLD_JOB_STATES)
        )
