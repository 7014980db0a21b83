"""The supervisor's exception queue: list reason-coded exceptions, resolve one (audited)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.audit import audit
from core.db import is_postgres, utcnow
from core.errors import CoreErrorCode, FloorError
from core.events import publish
from core.exception_queue import (
    EXCEPTION_MACHINE,
    ExceptionReason,
    ExceptionStatus,
    FloorException,
)
from core.inputs import check_text
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.site.layout import Location, Sku
from orders.models import Order

MAX_RESOLUTION = 500  # characters, as a reprint's or a cancellation's reason


class ExceptionError(FloorError):
    """A refused operation on the exception queue (409 unless the raise says otherwise)."""


def to_dict(session: Session, exc: FloorException) -> dict[str, Any]:
    order = session.get(Order, exc.order_id) if exc.order_id else None
    sku = session.get(Sku, exc.sku_id) if exc.sku_id else None
    loc = session.get(Location, exc.location_id) if exc.location_id else None
    return {
        "id": exc.id,
        "reason": exc.reason.value,
        "status": exc.status.value,
        "order": order.external_id if order else None,
        "task_id": exc.task_id,
        "sku": sku.code if sku else None,
        "location": loc.code if loc else None,
        "subject": exc.subject,
        "message": exc.message,
        "details": exc.details,
        "created_at": exc.created_at.isoformat(),
        "resolved_at": exc.resolved_at.isoformat() if exc.resolved_at else None,
        "resolution": exc.resolution,
    }


def list_exceptions(
    session: Session, status: ExceptionStatus | None = ExceptionStatus.open, limit: int = 200
) -> list[FloorException]:
    stmt = select(FloorException).order_by(FloorException.created_at.desc(), FloorException.id)
    if status is not None:
        stmt = stmt.where(FloorException.status == status)
    return list(session.scalars(stmt.limit(limit)))


def resolve_exception(
    session: Session, exception_id: int, actor: Actor, resolution: str
) -> FloorException:
    """Close an exception with a written resolution (text of at most ``MAX_RESOLUTION``
    characters: anything else is refused as ``not_text``, ``too_long`` or
    ``invalid_characters``, 422); writes an audit entry."""
    check_text(resolution, "resolution", max_len=MAX_RESOLUTION)
    if not resolution.strip():
        raise ExceptionError(
            FulfilmentErrorCode.resolution_required, "say how it was resolved", 422
        )
    stmt = select(FloorException).where(FloorException.id == exception_id)
    if is_postgres(session):
        # One resolver at a time: two supervisors who both read it open were both answered
        # "resolved", the second text replacing the first (two audit entries for one close).
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    exc = session.scalars(stmt).one_or_none()
    if exc is None:
        raise ExceptionError(CoreErrorCode.not_found, f"no exception {exception_id}", 404)
    if not EXCEPTION_MACHINE.can(exc.status, ExceptionStatus.resolved):
        raise ExceptionError(CoreErrorCode.invalid_transition, f"exception is {exc.status.value}")
    if exc.reason == ExceptionReason.return_to_stock:
        # Text alone would leave the units off the books and the totes on the order forever.
        raise ExceptionError(
            FulfilmentErrorCode.use_return_to_stock,
            "put the units back, then confirm 'returned to stock': that resolves it",
        )
    close_exception(session, exc, actor, resolution.strip())
    return exc


def close_exception(
    session: Session,
    exc: FloorException,
    actor: Actor,
    resolution: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Resolve ``exc`` through its state machine: who and when, the audit entry
    (``exception.resolve``, with ``details``) and ``exception.resolved`` to the dashboard."""
    EXCEPTION_MACHINE.move(exc, ExceptionStatus.resolved)
    exc.resolved_at = utcnow()
    exc.resolved_by_id = actor.user_id
    exc.resolution = resolution
    audit(
        session,
        actor,
        "exception.resolve",
        entity="exception",
        entity_id=exc.id,
        reason=resolution,
        details={"reason": exc.reason.value} | (details or {}),
    )
    publish(session, "exception.resolved", {"id": exc.id, "reason": exc.reason.value})
