"""The handheld's view of a task (the socket contract in docs/picking.md), and the reads it
needs: the totes on a cart, whether the picker confirmed the location."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from core.db import core_connection, one_of, transaction_memo
from floor.fulfilment.models import PickList, PickTask, Scan, Tote, Wave
from floor.fulfilment.states import TaskStatus
from floor.fulfilment.waves.planning import OPEN_TASK
from floor.site import layout_cache
from floor.site.settings import LocationConfirm, location_confirm
from orders.models import Order, OrderLine

_PAYLOADS = "floor.task_payloads"
_CARTS = "floor.totes_on_cart"

# Built once (bindparams): building a select costs more CPU than SQLite takes to run it, and
# every scan asks at least one of these.
_REMAINING = (
    select(func.count(PickTask.id))
    .where(PickTask.pick_list_id == bindparam("pick_list_id"), one_of(PickTask.status, OPEN_TASK))
    .scalar_subquery()
)
_PAYLOAD_FACTS = (
    select(Wave.code, Order.external_id, Tote.code, _REMAINING)
    .select_from(PickList)
    .join(Wave, Wave.id == PickList.wave_id)
    .outerjoin(OrderLine, OrderLine.id == bindparam("order_line_id"))
    .outerjoin(Order, Order.id == OrderLine.order_id)
    .outerjoin(Tote, Tote.id == bindparam("tote_id"))
    .where(PickList.id == bindparam("pick_list_id"))
)
_CART = select(Tote.code).where(Tote.pick_list_id == bindparam("pick_list_id"))
_LOCATION_OK = (
    select(Scan.id)
    .where(Scan.task_id == bindparam("task_id"), Scan.kind == "location", Scan.result == "ok")
    .limit(1)
)


def task_payload(session: Session, task: PickTask | None) -> dict[str, Any] | None:
    """The handheld's view of a task: one query for what changes (wave, order, tote, tasks
    left), the layout (location, SKU, GTINs) from ``floor.site.layout_cache``. Memoised per
    session by the task's own state, so the ack and the ``task.updated`` event of one scan
    share one build (a copy each: callers may change theirs)."""
    if task is None:
        return None
    mode = location_confirm(session)
    confirmed = mode is LocationConfirm.off or location_confirmed(session, task)
    key = (
        task.id,
        task.status,
        task.picked_qty,
        task.tote_id,
        task.assigned_user_id,
        task.held_units,
        mode,
        confirmed,
    )
    memo = transaction_memo(session).setdefault(_PAYLOADS, {})
    if key in memo:
        return _copy(memo[key])
    row = session.execute(
        _PAYLOAD_FACTS,
        {
            "pick_list_id": task.pick_list_id,
            "order_line_id": task.order_line_id,
            "tote_id": task.tote_id,
        },
    ).one()
    wave_code, order_ref, tote_code, left = row
    payload = build_view(
        session,
        TaskFacts(
            task.id,
            task.seq,
            task.status,
            task.pick_list_id,
            task.location_id,
            task.sku_id,
            task.quantity,
            task.picked_qty,
            task.held_units,
        ),
        wave_code=wave_code,
        order_ref=order_ref,
        tote_code=tote_code,
        tasks_left=left,
        mode=mode,
        confirmed=confirmed,
    )
    memo[key] = payload
    return _copy(payload)


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """The task's own columns a view shows."""

    id: int
    seq: int
    status: TaskStatus
    pick_list_id: int
    location_id: int
    sku_id: int
    quantity: int
    picked_qty: int
    held_units: int


def build_view(
    session: Session,
    task: TaskFacts,
    *,
    wave_code: str,
    order_ref: str | None,
    tote_code: str | None,
    tasks_left: int,
    mode: LocationConfirm,
    confirmed: bool,
) -> dict[str, Any]:
    """The payload of docs/picking.md from the facts; layout and SKU from the layout cache."""
    loc = layout_cache.location(session, task.location_id)
    sku = layout_cache.sku(session, task.sku_id)
    cart = totes_on_cart(session, task.pick_list_id)
    return {
        "id": task.id,
        "seq": task.seq,
        "status": TaskStatus(task.status).value,
        "location": {
            "code": loc.code,
            "aisle": loc.aisle,
            "bay": loc.bay,
            "level": loc.level,
            "slot": loc.slot,
            # Shown only when nothing needs confirming: else reading it off the screen
            # would prove nothing.
            "check_code": loc.check_code if mode is LocationConfirm.off else None,
        },
        "confirm": mode.value,
        "location_confirmed": confirmed,
        "sku": {"code": sku.code, "name": sku.name, "gtins": list(sku.gtins)},
        "quantity": task.quantity,
        "picked_qty": task.picked_qty,
        "pick_list_id": task.pick_list_id,
        "wave_code": wave_code,
        "order": order_ref,
        "tote": tote_code,
        "tote_scan": tote_code is not None and len(cart) > 1,
        "totes_on_cart": cart,
        "held_units": task.held_units,
        "tasks_left": tasks_left,
    }


def _copy(payload: dict[str, Any]) -> dict[str, Any]:
    out = dict(payload)
    out["location"] = dict(payload["location"])
    out["sku"] = dict(payload["sku"], gtins=list(payload["sku"]["gtins"]))
    return out


def totes_on_cart(session: Session, pick_list_id: int) -> list[str]:
    """The codes of the totes on a pick list's cart, sorted (read once per transaction:
    ``_give_totes`` is the only change a scan's transaction makes to them)."""
    memo = transaction_memo(session).setdefault(_CARTS, {})
    if pick_list_id not in memo:
        # Plain Core (no ORM result machinery: a third of the query's CPU), after the
        # pending changes (``_give_totes`` sets totes).
        memo[pick_list_id] = sorted(
            core_connection(session).scalars(_CART, {"pick_list_id": pick_list_id})
        )
    return list(memo[pick_list_id])


def knows_cart(session: Session, pick_list_id: int, codes: list[str]) -> None:
    """``totes_on_cart``'s answer, read by another query of this transaction (sorted)."""
    transaction_memo(session).setdefault(_CARTS, {})[pick_list_id] = codes


def location_confirmed(session: Session, task: PickTask | int) -> bool:
    """Has the picker confirmed this task's location (a location scan answered ``ok``)?"""
    task_id = task if isinstance(task, int) else task.id
    return session.scalar(_LOCATION_OK, {"task_id": task_id}) is not None
