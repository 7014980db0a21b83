"""Stock by location, and the reservations that tie order lines to it."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, str_enum, utcnow
from core.statemachine import StateMachine
from floor.site.layout import Location, Sku


class Stock(Base):
    __tablename__ = "stock"
    __table_args__ = (
        UniqueConstraint("location_id", "sku_id", "lot", name="uq_stock_location_sku_lot"),
        CheckConstraint("on_hand >= 0", name="on_hand_nonneg"),
        CheckConstraint("reserved >= 0", name="reserved_nonneg"),
        CheckConstraint("reserved <= on_hand", name="reserved_le_on_hand"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    lot: Mapped[str] = mapped_column(String(40), default="", comment="'' when not lot-controlled")
    expiry: Mapped[dt.date | None] = mapped_column(Date)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    location: Mapped[Location] = relationship()
    sku: Mapped[Sku] = relationship()

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(Base):
    """Quantity of one order line held at one stock row; picking consumes it."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_pos"),
        CheckConstraint("picked >= 0 AND picked <= quantity", name="picked_range"),
        CheckConstraint("returned >= 0 AND returned <= picked", name="returned_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), index=True
    )
    stock_id: Mapped[int] = mapped_column(ForeignKey("stock.id"), index=True)
    quantity: Mapped[int]
    picked: Mapped[int] = mapped_column(default=0)
    released: Mapped[bool] = mapped_column(
        default=False, comment="returned to stock (cancel/short)"
    )
    returned: Mapped[int] = mapped_column(
        default=0,
        server_default="0",
        comment="picked units put back on this stock row (the order was canceled)",
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    stock: Mapped[Stock] = relationship()


class ReplenishmentStatus(enum.StrEnum):
    open = "open"
    done = "done"
    canceled = "canceled"


R = ReplenishmentStatus
REPLENISHMENT_MACHINE: StateMachine[ReplenishmentStatus] = StateMachine(
    "replenishment",
    {R.open: {R.done, R.canceled}, R.done: set(), R.canceled: set()},
)


class ReplenishmentTask(Base):
    __tablename__ = "replenishment_tasks"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_pos"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    from_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    to_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    quantity: Mapped[int]
    status: Mapped[ReplenishmentStatus] = mapped_column(
        str_enum(ReplenishmentStatus), default=ReplenishmentStatus.open, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    done_at: Mapped[dt.datetime | None]
