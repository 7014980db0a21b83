"""return to stock: exception reason ``return_to_stock``; ``reservations.returned``

An order the OMS cancels after some of its units were picked keeps them in its tote(s): the
cancel opens a ``return_to_stock`` exception, and the supervisor's "returned to stock" puts the
units back on the stock rows they were picked from (``floor.fulfilment.picking.returns``).
``reservations.returned`` counts the units put back, so a second call finds nothing left and the
reservation still says what was picked.

Revision ID: return01
Revises: pack01
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "return01"
down_revision = "pack01"
branch_labels = None
depends_on = None

OLD_REASONS = (
    "short_pick",
    "short_allocation",
    "wrong_item",
    "wrong_location",
    "empty_location",
    "damaged",
    "not_found",
    "printer_failed",
    "oms_rejected",
    "webhook_dead",
    "replenishment",
)
NEW_REASONS = (*OLD_REASONS, "return_to_stock")
# Both columns typed ExceptionReason carry a CHECK named after the enum.
REASON_COLUMNS = (("exceptions", "reason"), ("pick_tasks", "short_reason"))


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _reasons(values: tuple[str, ...]) -> None:
    for table, column in REASON_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_exceptionreason"), type_="check")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(
                op.f(f"ck_{table}_exceptionreason"), _in(column, values)
            )


def upgrade() -> None:
    _reasons(NEW_REASONS)
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "returned",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="picked units put back on this stock row (the order was canceled)",
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_reservations_returned_range"), "returned >= 0 AND returned <= picked"
        )


def downgrade() -> None:
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_reservations_returned_range"), type_="check")
        batch_op.drop_column("returned")
    op.execute("DELETE FROM exceptions WHERE reason = 'return_to_stock'")
    _reasons(OLD_REASONS)
