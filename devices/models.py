"""Scanning devices (handhelds, serial scanners at stations) and every scan they sent."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, str_enum


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
