"""A supervisor moves a pick list from one picker to another.

The list keeps its place in the wave, its totes and its route; what moves is who holds it: the
list's ``assigned_user_id`` and every open task of it (the one the first picker was on stays
``assigned``, now to the second). An audit entry records who moved which list from whom to
whom and why. After the commit:

* the first picker's handheld (room ``user:<old>``) gets ``pick_list.reassigned`` with the list,
  the new holder and the canceled task id, so its page drops the task and says so at once;
* the second picker's handheld (``user:<new>``) gets ``task.available`` and asks for its next
  task, which is now this list's (or its own list first, if it already had one);
* the dashboard gets ``pick_list.reassigned`` too.

Only a list a picker has started (``in_progress``, in a released or in-progress wave) can move —
an open list is still free for whoever asks next — and only to an active picker other than its
holder.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.accounts import has_role
from core.actors import Actor
from core.audit import audit
from core.db import is_postgres, utcnow
from core.errors import CoreErrorCode, FloorError
from core.events import publish
from core.users import Role, User
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import PickList, PickTask, Wave
from floor.fulfilment.states import PickListStatus, TaskStatus
from floor.fulfilment.waves.rules import ACTIVE_WAVE, OPEN_TASK


class ReassignError(FloorError):
    """A refused reassignment (409 unless the raise says otherwise)."""


def reassign_pick_list(
    session: Session, actor: Actor, pick_list_id: int, to_user_id: int, reason: str = ""
) -> PickList:
    """Move ``pick_list_id`` to picker ``to_user_id`` (see the module docstring)."""
    if not has_role(actor.role, Role.supervisor):
        raise ReassignError(
            CoreErrorCode.forbidden, "only a supervisor may reassign a pick list", 403
        )
    stmt = select(PickList).where(PickList.id == pick_list_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    pick_list = session.scalars(stmt).one_or_none()
    if pick_list is None:
        raise ReassignError(CoreErrorCode.not_found, f"no pick list {pick_list_id}", 404)
    wave = session.get(Wave, pick_list.wave_id)
    assert wave is not None
    if pick_list.status != PickListStatus.in_progress or wave.status not in ACTIVE_WAVE:
        raise ReassignError(
            FulfilmentErrorCode.not_held,
            f"pick list {pick_list_id} is {pick_list.status.value} in a {wave.status.value} wave"
            " (only a list a picker has started can move)",
        )
    target = session.get(User, to_user_id)
    if target is None or not target.active or target.role != Role.picker:
        raise ReassignError(
            FulfilmentErrorCode.invalid_picker, f"user {to_user_id} is not an active picker", 422
        )
    old = pick_list.assigned_user_id
    if old == target.id:
        raise ReassignError(
            FulfilmentErrorCode.same_picker, f"{target.username} already holds this list", 409
        )
    current = session.scalars(
        select(PickTask.id).where(
            PickTask.pick_list_id == pick_list.id, PickTask.status == TaskStatus.assigned
        )
    ).all()
    session.execute(
        update(PickTask)
        .where(PickTask.pick_list_id == pick_list.id, PickTask.status.in_(OPEN_TASK))
        .values(assigned_user_id=target.id, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    pick_list.assigned_user_id = target.id
    old_name = session.scalar(select(User.username).where(User.id == old)) if old else None
    audit(
        session,
        actor,
        "pick_list.reassign",
        entity="pick_list",
        entity_id=pick_list.id,
        reason=(reason or "").strip(),
        details={
            "wave": wave.code,
            "from_user_id": old,
            "from": old_name,
            "to_user_id": target.id,
            "to": target.username,
            "open_tasks_moved": len(current),
        },
    )
    body = {
        "pick_list_id": pick_list.id,
        "wave_id": wave.id,
        "wave_code": wave.code,
        "from_user_id": old,
        "from": old_name,
        "to_user_id": target.id,
        "to": target.username,
        "task_ids": list(current),
        "by": actor.name,
        "reason": (reason or "").strip(),
    }
    rooms = ["dashboard"] + ([f"user:{old}"] if old else [])
    publish(session, "pick_list.reassigned", body, *rooms)
    publish(
        session,
        "task.available",
        {"wave_id": wave.id, "wave_code": wave.code, "pick_list_id": pick_list.id},
        f"user:{target.id}",
    )
    return pick_list
