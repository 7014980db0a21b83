"""Floor work: waves, wave rules, pick lists, pick tasks, totes, packages, exceptions and
replenishment tasks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, str_enum, utcnow
from core.exception_queue import ExceptionReason
from floor.fulfilment.states import PackageStatus, PickListStatus, TaskStatus, WaveStatus
from floor.site.layout import Location, Sku


class WaveRule(Base):
    """How waves are cut: a supervisor edits these; the scheduler applies the enabled ones."""

    __tablename__ = "wave_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    group_by_cutoff: Mapped[bool] = mapped_column(default=True)
    express_first: Mapped[bool] = mapped_column(default=True)
    split_by_zone: Mapped[bool] = mapped_column(default=True)
    cutoff_horizon_min: Mapped[int] = mapped_column(
        default=240, comment="orders due within, minutes"
    )
    max_orders: Mapped[int] = mapped_column(default=200)
    max_lines: Mapped[int] = mapped_column(default=1000)
    max_units: Mapped[int] = mapped_column(default=5000)
    totes_per_cart: Mapped[int] = mapped_column(default=8)
    auto_release: Mapped[bool] = mapped_column(default=False)
    schedule_every_min: Mapped[int] = mapped_column(default=0, comment="0 = by hand only")
    cutoff_window_min: Mapped[int] = mapped_column(
        default=60,
        server_default="60",
        comment="orders whose ship_by falls in the same window of this many minutes share a wave",
    )
    big_order_picks: Mapped[int] = mapped_column(
        default=25, server_default="25", comment="orders with this many picks get their own list"
    )
    last_run_at: Mapped[dt.datetime | None] = mapped_column(
        comment="when the scheduler last applied this rule"
    )


class Wave(Base):
    __tablename__ = "waves"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[WaveStatus] = mapped_column(
        str_enum(WaveStatus), default=WaveStatus.planned, index=True
    )
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("wave_rules.id"))
    cutoff_at: Mapped[dt.datetime | None] = mapped_column(comment="earliest ship_by in the wave")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    released_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]

    pick_lists: Mapped[list[PickList]] = relationship(back_populates="wave", order_by="PickList.id")


class PickList(Base):
    """One picker's trip: a cart with totes, its tasks in route order, its length in metres."""

    __tablename__ = "pick_lists"
    __table_args__ = (
        # A picker's lists under way: the picker's next task asks at every finished task, and
        # a picker's finished lists (hundreds by the end of a shift) are skipped in the index.
        Index("ix_pick_lists_assigned_user_id_status", "assigned_user_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("waves.id"), index=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    status: Mapped[PickListStatus] = mapped_column(
        str_enum(PickListStatus), default=PickListStatus.open, index=True
    )
    route_length_m: Mapped[float] = mapped_column(default=0.0)
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    wave: Mapped[Wave] = relationship(back_populates="pick_lists")
    tasks: Mapped[list[PickTask]] = relationship(
        back_populates="pick_list", order_by="PickTask.seq"
    )


class PickTask(Base):
    __tablename__ = "pick_tasks"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_pos"),
        CheckConstraint("picked_qty >= 0 AND picked_qty <= quantity", name="picked_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pick_list_id: Mapped[int] = mapped_column(ForeignKey("pick_lists.id"), index=True)
    seq: Mapped[int] = mapped_column(comment="position on the route")
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    reservation_id: Mapped[int | None] = mapped_column(ForeignKey("reservations.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    tote_id: Mapped[int | None] = mapped_column(ForeignKey("totes.id"))
    quantity: Mapped[int]
    picked_qty: Mapped[int] = mapped_column(default=0)
    held_units: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="scanned, waiting for the tote scan (put-to-tote)"
    )
    status: Mapped[TaskStatus] = mapped_column(
        str_enum(TaskStatus), default=TaskStatus.pending, index=True
    )
    short_reason: Mapped[ExceptionReason | None] = mapped_column(str_enum(ExceptionReason))
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    pick_list: Mapped[PickList] = relationship(back_populates="tasks")
    location: Mapped[Location] = relationship()
    sku: Mapped[Sku] = relationship()


class TaskOverride(Base):
    """A supervisor's override sent with the client's name for it (``override_id``, optional).

    A retried request (the answer was lost) finds this row and is answered without booking the
    units again (``picking.booking.override_task``). Unique, so two requests racing with one id
    book once. The audit entry (``task.override``) stays the record of who did what and why.
    """

    __tablename__ = "task_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    override_id: Mapped[str] = mapped_column(String(64), unique=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("pick_tasks.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    quantity: Mapped[int | None] = mapped_column(comment="as requested; null = all that was left")
    units: Mapped[int] = mapped_column(comment="units booked")
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Tote(Base):
    __tablename__ = "totes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    pick_list_id: Mapped[int | None] = mapped_column(ForeignKey("pick_lists.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# A scanned tote code is compared in upper case (found whatever case the scanner sends).
Index("ix_totes_code_upper", func.upper(Tote.code))


class Package(Base):
    """A carton packed for one order; gets an SSCC and a carrier tracking number."""

    __tablename__ = "packages"
    __table_args__ = (CheckConstraint("weight_g >= 0", name="weight_nonneg"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    sscc: Mapped[str] = mapped_column(String(18), unique=True)
    status: Mapped[PackageStatus] = mapped_column(
        str_enum(PackageStatus), default=PackageStatus.open, index=True
    )
    station_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    carrier: Mapped[str] = mapped_column(String(40), default="")
    service: Mapped[str] = mapped_column(String(40), default="")
    tracking_number: Mapped[str | None] = mapped_column(String(64), index=True)
    weight_g: Mapped[int] = mapped_column(default=0)
    length_mm: Mapped[int] = mapped_column(default=0)
    width_mm: Mapped[int] = mapped_column(default=0)
    height_mm: Mapped[int] = mapped_column(default=0)
    manifest_id: Mapped[int | None] = mapped_column(ForeignKey("manifests.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]
    shipped_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    # The packer's client named the close that made this carton: a retried request is answered,
    # not packed again (``packing.station.earlier_close``).
    close_id: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)

    items: Mapped[list[PackageItem]] = relationship(
        back_populates="package", cascade="all, delete-orphan"
    )


class PackageItem(Base):
    __tablename__ = "package_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_pos"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int]

    package: Mapped[Package] = relationship(back_populates="items")


class Manifest(Base):
    """End-of-day close for one carrier: every package handed over that day."""

    __tablename__ = "manifests"

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier: Mapped[str] = mapped_column(String(40), index=True)
    day: Mapped[str] = mapped_column(String(10), comment="YYYY-MM-DD, site-local business day")
    reference: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


SCAN_TIME_COVERED = ("scanned_at", "user_id", "result", "kind", "task_id", "raw")


class Scan(Base):
    """One barcode read. ``client_scan_id`` makes replays (offline queue) idempotent; it is
    unique per user, so one picker's id can neither collide with nor replay another's."""

    __tablename__ = "scans"
    __table_args__ = (
        UniqueConstraint("user_id", "client_scan_id"),  # also every lookup by user_id
        # The shift's scans by time with every column the live dashboard aggregates (people,
        # the day's figures): read from the index alone, not row by row from the table.
        Index("ix_scans_scanned_at_covering", *SCAN_TIME_COVERED),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_scan_id: Mapped[str] = mapped_column(String(64))
    # No index on device_id or user_id: nothing looks scans up by device, the unique index
    # serves every lookup by user, and each index is one more page in every scan's commit.
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("pick_tasks.id"), index=True)
    raw: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), comment="gtin, sscc, location, tote, badge, ...")
    result: Mapped[str] = mapped_column(String(30), comment="ok or a reason code")
    scanned_at: Mapped[dt.datetime] = mapped_column(comment="when the device read it")
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PackSession(Base):
    """What a pack station is doing now: the open order and the units verified so far.

    Kept on the server so that a reload, a second screen or a serial scanner at the same
    station all see (and add to) one state. One row per station; closing the carton deletes it.
    """

    __tablename__ = "pack_sessions"

    station: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    items: Mapped[dict[str, Any]] = mapped_column(
        default=dict, comment="order line id -> units verified by scan"
    )
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
