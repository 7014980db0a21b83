"""Scanning devices (handhelds, serial scanners at stations) and every scan they sent."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from floor.db import Base, str_enum, utcnow


class DeviceKind(enum.StrEnum):
    handheld = "handheld"
    serial_scanner = "serial_scanner"
    wedge_scanner = "wedge_scanner"


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[DeviceKind] = mapped_column(str_enum(DeviceKind))
    station_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    port: Mapped[str | None] = mapped_column(String(200), comment="serial port or URL")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_seen_at: Mapped[dt.datetime | None]


class Scan(Base):
    """One barcode read. ``client_scan_id`` makes replays (offline queue) idempotent."""

    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_scan_id: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("pick_tasks.id"), index=True)
    raw: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), comment="gtin, sscc, location, tote, badge, ...")
    result: Mapped[str] = mapped_column(String(30), comment="ok or a reason code")
    scanned_at: Mapped[dt.datetime] = mapped_column(comment="when the device read it")
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
