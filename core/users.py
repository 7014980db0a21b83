"""People and machines that act on the floor, and the audit trail of what they did."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, str_enum, utcnow


class Role(enum.StrEnum):
    picker = "picker"
    packer = "packer"
    supervisor = "supervisor"
    admin = "admin"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    badge_hash: Mapped[str | None] = mapped_column(
        String(64), unique=True, comment="sha256 of the badge barcode"
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    session_version: Mapped[int] = mapped_column(
        default=0,
        server_default="0",
        comment="bumped on logout and deactivation: every session signed with an older one ends",
    )
    is_demo: Mapped[bool] = mapped_column(
        default=False,
        server_default=sa.false(),
        comment="made by the demo loader; refused once a real supervisor or admin exists",
    )


class ApiKey(Base):
    """An OMS API key; only its sha256 is stored, the prefix helps a person tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    is_demo: Mapped[bool] = mapped_column(
        default=False,
        server_default=sa.false(),
        comment="the demo key; refused once FLOOR_OMS_API_KEY is set or a real key exists",
    )


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor: Mapped[str] = mapped_column(String(80), comment="username, 'oms:<key name>' or 'system'")
    action: Mapped[str] = mapped_column(String(60), index=True)
    entity: Mapped[str] = mapped_column(String(40), default="")
    entity_id: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
