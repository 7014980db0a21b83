"""The physical warehouse: zones, aisles, locations (rack/bay, shelf/level, slot) and SKUs."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, str_enum


class LocationType(enum.StrEnum):
    pick_face = "pick_face"
    reserve = "reserve"
    staging = "staging"
    pack_station = "pack_station"
    dock = "dock"


class Zone(Base):
    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(80))

    aisles: Mapped[list[Aisle]] = relationship(back_populates="zone", order_by="Aisle.number")


class Aisle(Base):
    """A straight aisle between two racks; pickers enter it from the front or back cross aisle."""

    __tablename__ = "aisles"

    id: Mapped[int] = mapped_column(primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    number: Mapped[int] = mapped_column(unique=True)
    x_m: Mapped[float] = mapped_column(comment="x of the aisle centre line, metres")
    y_front_m: Mapped[float] = mapped_column(
        comment="y where the aisle meets the front cross aisle"
    )
    y_back_m: Mapped[float] = mapped_column(comment="y where the aisle meets the back cross aisle")

    zone: Mapped[Zone] = relationship(back_populates="aisles")


class Location(Base):
    """A slot a picker can walk to: code like ``A-12-C-4`` (aisle-bay-level-slot)."""

    __tablename__ = "locations"
    __table_args__ = (
        CheckConstraint("min_qty >= 0", name="min_qty_nonneg"),
        CheckConstraint("max_qty >= min_qty", name="max_ge_min"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    type: Mapped[LocationType] = mapped_column(str_enum(LocationType), index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    aisle_id: Mapped[int | None] = mapped_column(ForeignKey("aisles.id"), index=True)
    bay: Mapped[int | None] = mapped_column(comment="rack/bay number along the aisle")
    level: Mapped[str | None] = mapped_column(String(2), comment="shelf/level letter, A = floor")
    slot: Mapped[int | None]
    side: Mapped[str | None] = mapped_column(String(1), comment="L or R of the aisle")
    x_m: Mapped[float]
    y_m: Mapped[float]
    check_code: Mapped[str] = mapped_column(
        String(2), comment="2-digit code spoken/scanned to prove arrival"
    )
    min_qty: Mapped[int] = mapped_column(default=0, comment="replenish a pick face below this")
    max_qty: Mapped[int] = mapped_column(default=0, comment="fill a pick face up to this")
    active: Mapped[bool] = mapped_column(default=True)

    zone: Mapped[Zone] = relationship()
    aisle: Mapped[Aisle | None] = relationship()


class Sku(Base):
    __tablename__ = "skus"
    __table_args__ = (
        CheckConstraint("weight_g >= 0", name="weight_nonneg"),
        CheckConstraint("length_mm >= 0 AND width_mm >= 0 AND height_mm >= 0", name="dims_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    weight_g: Mapped[int] = mapped_column(default=0, comment="unit weight, grams")
    length_mm: Mapped[int] = mapped_column(default=0)
    width_mm: Mapped[int] = mapped_column(default=0)
    height_mm: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    gtins: Mapped[list[SkuGtin]] = relationship(back_populates="sku", cascade="all, delete-orphan")


class SkuGtin(Base):
    """A barcode that identifies a SKU (GTIN-8/12/13/14, check digit validated on entry)."""

    __tablename__ = "sku_gtins"
    __table_args__ = (UniqueConstraint("gtin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    gtin: Mapped[str] = mapped_column(String(14), comment="normalised to 14 digits")
    units: Mapped[int] = mapped_column(default=1, comment="units per scan (1 each, >1 inner/case)")

    sku: Mapped[Sku] = relationship(back_populates="gtins")
