"""The audit trail: every privileged action and every override writes one entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.actors import Actor
from core.users import AuditEntry


def audit(
    session: Session,
    actor: Actor,
    action: str,
    *,
    entity: str = "",
    entity_id: object = "",
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        user_id=actor.user_id,
        actor=actor.name,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        reason=reason,
        details=details or {},
    )
    session.add(entry)
    return entry
