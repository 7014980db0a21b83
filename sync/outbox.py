"""Write outbox events in the caller's transaction (the transactional outbox)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from floor.db import utcnow
from sync.models import OutboxEvent


def record_event(
    session: Session,
    *,
    type: str,
    aggregate_id: str,
    from_state: str | None,
    to_state: str | None,
    payload: dict[str, Any],
    aggregate: str = "order",
) -> OutboxEvent:
    now = utcnow()
    ev = OutboxEvent(
        event_id=str(uuid.uuid4()),
        type=type,
        aggregate=aggregate,
        aggregate_id=aggregate_id,
        from_state=from_state,
        to_state=to_state,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(ev)
    return ev
