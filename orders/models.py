"""Canonical orders as the OMS sends them, and their lines."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, str_enum, utcnow
from floor.site.layout import Sku
from orders.states import OrderStatus, Priority, ShortPolicy


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[str] = mapped_column(String(60), default="")
    priority: Mapped[Priority] = mapped_column(str_enum(Priority), default=Priority.standard)
    ship_by: Mapped[dt.datetime] = mapped_column(index=True)
    carrier: Mapped[str] = mapped_column(String(40))
    service: Mapped[str] = mapped_column(String(40), default="")
    ship_to: Mapped[dict[str, Any]] = mapped_column(comment="name, company, address1..country")
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[OrderStatus] = mapped_column(
        str_enum(OrderStatus), default=OrderStatus.received, index=True
    )
    held_from: Mapped[OrderStatus | None] = mapped_column(
        str_enum(OrderStatus, name="held_from"), comment="status to return to on release from hold"
    )
    short_policy: Mapped[ShortPolicy] = mapped_column(
        str_enum(ShortPolicy), default=ShortPolicy.ship_partial
    )
    content_hash: Mapped[str] = mapped_column(String(64), comment="sha256 of the canonical payload")
    wave_id: Mapped[int | None] = mapped_column(ForeignKey("waves.id"), index=True)
    status_times: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_id", name="uq_order_lines_order_line"),
        CheckConstraint("quantity > 0", name="quantity_pos"),
        CheckConstraint(
            "reserved_qty >= 0 AND picked_qty >= 0 AND packed_qty >= 0 AND shipped_qty >= 0",
            name="qty_nonneg",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[str] = mapped_column(String(60))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    quantity: Mapped[int]
    reserved_qty: Mapped[int] = mapped_column(default=0)
    picked_qty: Mapped[int] = mapped_column(default=0)
    short_qty: Mapped[int] = mapped_column(default=0)
    packed_qty: Mapped[int] = mapped_column(default=0)
    shipped_qty: Mapped[int] = mapped_column(default=0)

    order: Mapped[Order] = relationship(back_populates="lines")
    sku: Mapped[Sku] = relationship()
