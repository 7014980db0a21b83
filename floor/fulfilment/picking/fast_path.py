"""The common scan, cheaply: one unit (or a GTIN's pack) of the right SKU that does not finish
its task, or the tote scan that books such units. Most of a shift's scans are these.

``try_scan`` reads the task with everything a verdict needs in **one** query (task, list, wave,
tote, reservation, order, location), decides from the layout cache, and only when the scan is
one of the cases below writes with a handful of set-based statements on the transaction's own
connection (no ORM flush), then builds the handheld's view from what it read:

* an item scan of the task's SKU on a put-to-tote cart: ``held_units`` grows (``item_held``);
* the tote scan of this task's tote with units held: they are booked (``tote``);
* an item scan of the task's SKU without a tote scan: the units are booked (``item``);
* the task's location barcode: the picker is there (``location``; only the scan row records it);

and booking moves nothing but the task (to ``picked`` on its last unit, in a wave under way),
the order (``waved`` to ``picking`` on its first unit, to ``picked`` with its last open task)
and, with the last open task of a pick list under way, the list (``done``) and its wave
(``completed`` when no list of it is open); it never opens a replenishment task (a pick that
takes a pick face below its minimum stays here only while a refill of that face is open or
no reserve stock could refill it). Anything else (a wrong or unknown code, another location
or check digits, a GS1 lot or expiry to check, an over-pick, a last unit in a wave not yet
under way, a pick that opens a replenishment task) returns None before writing anything,
and ``scans.confirm_scan`` takes its general path, which is the reference for every rule
(``tests/waves/test_fast_path.py`` runs both on one scripted shift and compares everything).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.orm import Session, aliased

from core.actors import Actor
from core.db import expire_loaded, is_postgres, joined_text, one_of, split_joined, utcnow
from core.events import publish
from core.prepared import Prepared
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import PickList, PickTask, Tote, Wave
from floor.fulfilment.picking.outcome import PickError, PickOutcome
from floor.fulfilment.picking.views import (
    TaskFacts,
    build_view,
    knows_cart,
    location_confirmed,
    totes_on_cart,
)
from floor.fulfilment.states import (
    PICK_LIST_MACHINE,
    TASK_MACHINE,
    WAVE_MACHINE,
    PickListStatus,
    TaskStatus,
    WaveStatus,
)
from floor.fulfilment.waves.planning import ACTIVE_WAVE
from floor.fulfilment.waves.progress import open_tasks, publish_progress
from floor.site import layout_cache
from floor.site.gs1 import Gs1Error, parse_scan
from floor.site.items import TYPED_SEPARATORS
from floor.site.layout import Location, LocationType
from floor.site.settings import LocationConfirm, location_confirm
from floor.site.stock import ReplenishmentStatus, ReplenishmentTask, Reservation, Stock
from orders.models import Order, OrderLine
from orders.states import OrderStatus
from orders.transitions import transition_row


def _facts_statement() -> Any:
    other = aliased(PickTask)
    left = (
        select(open_tasks(other))
        .where(other.pick_list_id == PickList.id)
        .correlate(PickList)
        .scalar_subquery()
    )
    task2, line2 = aliased(PickTask), aliased(OrderLine)
    order_open = (  # the order's tasks still to pick (this one included)
        select(open_tasks(task2))
        .select_from(line2)
        .join(task2, task2.order_line_id == line2.id)
        .where(line2.order_id == Order.id)
        .correlate(Order)
        .scalar_subquery()
    )
    coded = aliased(Tote)
    code_is_tote = (  # a tote carries the scanned code (any case): the general path's case
        select(coded.id).where(func.upper(coded.code) == bindparam("code")).exists()
    )
    face_on_hand = (  # what the task's location holds of its SKU (``_replenishes``)
        select(func.coalesce(func.sum(Stock.on_hand), 0))
        .where(Stock.location_id == PickTask.location_id, Stock.sku_id == PickTask.sku_id)
        .correlate(PickTask)
        .scalar_subquery()
    )
    cart_tote = aliased(Tote)
    cart = (  # the codes of the totes on the list's cart (``views.totes_on_cart``)
        select(joined_text(cart_tote.code))
        .where(cart_tote.pick_list_id == PickTask.pick_list_id)
        .correlate(PickTask)
        .scalar_subquery()
    )
    return (
        select(
            PickTask.id,
            PickTask.seq,
            PickTask.status,
            PickTask.pick_list_id,
            PickTask.location_id,
            PickTask.sku_id,
            PickTask.quantity,
            PickTask.picked_qty,
            PickTask.held_units,
            PickTask.assigned_user_id,
            PickTask.order_line_id,
            PickTask.reservation_id,
            PickTask.tote_id,
            PickList.wave_id,
            PickList.status.label("list_status"),
            Wave.status.label("wave_status"),
            Wave.code.label("wave_code"),
            Tote.code.label("tote_code"),
            Reservation.stock_id,
            Order.id.label("order_id"),
            Order.status.label("order_status"),
            Order.external_id,
            Order.status_times,
            Location.code.label("location_code"),
            Location.check_code,
            Location.type.label("location_type"),
            Location.min_qty,
            Location.active.label("location_active"),
            left.label("tasks_left"),
            order_open.label("order_open"),
            cart.label("cart"),
            code_is_tote.label("code_is_tote"),
            face_on_hand.label("face_on_hand"),
        )
        .select_from(PickTask)
        .join(PickList, PickList.id == PickTask.pick_list_id)
        .join(Wave, Wave.id == PickList.wave_id)
        .outerjoin(Tote, Tote.id == PickTask.tote_id)
        .join(Reservation, Reservation.id == PickTask.reservation_id)
        .join(OrderLine, OrderLine.id == PickTask.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Location, Location.id == PickTask.location_id)
        .where(PickTask.id == bindparam("task_id"))
    )


FactsRow = Any  # a row of ``_FACTS``: a named tuple with the columns selected there

# Built once: constructing a statement costs more Python than running it (measured: the facts
# query built per scan took ~3 ms of CPU, more than the rest of the scan).
# Prepared: SQLAlchemy's per-execution work was ~40 % of the fast path's CPU (core.prepared).
_FACTS = Prepared(_facts_statement())
_FACTS_LOCKED = Prepared(_FACTS.statement.with_for_update(of=PickTask))  # PostgreSQL: ours
_REPLENISHING = Prepared(
    select(ReplenishmentTask.id)
    .where(
        ReplenishmentTask.to_location_id == bindparam("location_id"),
        ReplenishmentTask.sku_id == bindparam("sku_id"),
        ReplenishmentTask.status == ReplenishmentStatus.open,
    )
    .limit(1)
)
_REFILL_SOURCE = Prepared(  # replenishment._reserve_rows, asked only whether there is one
    select(Stock.id)
    .join(Location, Location.id == Stock.location_id)
    .where(
        Stock.sku_id == bindparam("sku_id"),
        Stock.on_hand > Stock.reserved,
        Location.type == LocationType.reserve,
        Location.active.is_(True),
    )
    .limit(1)
)
_HOLD = Prepared(
    update(PickTask).where(PickTask.id == bindparam("task_id")).values(held_units=bindparam("held"))
)
_TAKE_STOCK = Prepared(
    update(Stock)
    .where(
        Stock.id == bindparam("stock_id"),
        Stock.on_hand >= bindparam("units"),
        Stock.reserved >= bindparam("units"),
    )
    .values(
        on_hand=Stock.on_hand - bindparam("units"), reserved=Stock.reserved - bindparam("units")
    )
)
_BOOK_RESERVATION = Prepared(
    update(Reservation)
    .where(Reservation.id == bindparam("reservation_id"))
    .values(picked=Reservation.picked + bindparam("units"))
)
_BOOK_LINE = Prepared(
    update(OrderLine)
    .where(OrderLine.id == bindparam("order_line_id"))
    .values(picked_qty=OrderLine.picked_qty + bindparam("units"))
)
# as settle_pick_list: sums, so SQLite reads the wave's lists, not the status index
_OPEN_LISTS = Prepared(
    select(
        func.coalesce(
            func.sum(
                case(
                    (one_of(PickList.status, (PickListStatus.open, PickListStatus.in_progress)), 1),
                    else_=0,
                )
            ),
            0,
        )
    ).where(PickList.wave_id == bindparam("wave_id"))
)
_BOOK_TASK = Prepared(
    update(PickTask)
    .where(PickTask.id == bindparam("task_id"))
    .values(picked_qty=PickTask.picked_qty + bindparam("units"), held_units=bindparam("held"))
)


def _facts(
    session: Session, task_id: int, code: str = "", stmt: Prepared | None = None
) -> FactsRow | None:
    """The facts of a task, and whether ``code`` is a tote's: a common item scan's two other
    checks ride in the same query (as statements of their own they cost PostgreSQL flat out
    ~4.5 % of its scans/s)."""
    if stmt is None:
        stmt = _FACTS_LOCKED if is_postgres(session) else _FACTS
    row = stmt.first(session.connection(), {"task_id": task_id, "code": code.upper()})
    if row is not None:
        knows_cart(session, row.pick_list_id, split_joined(row.cart))
    return row


def _is_other_code(session: Session, code: str, row: FactsRow) -> bool:
    """A location, check digits or tote code: the general path says what it means."""
    upper = code.upper()
    if upper == row.location_code.upper() or code == row.check_code:
        return True
    if len(code) == 2 and code.isdigit():
        return True
    if layout_cache.location_code(session, code) is not None:
        return True
    return bool(row.code_is_tote)


class Replayed(Exception):
    """``claim`` found the scan's id stored already (a replay): nothing was written."""


def try_scan(
    session: Session, user: Actor, task_id: int, code: str, *, claim: Callable[[str], bool]
) -> PickOutcome | None:
    """The outcome of a common scan (module docstring), or None (nothing written): ask the
    general path. ``task_id`` must be a parsed id. ``claim(kind)`` stores the scan row with its
    verdict ``ok`` before the first write (False: a replay, and ``Replayed`` is raised)."""
    row = _facts(session, task_id, code)
    if (
        row is None
        or TaskStatus(row.status) is not TaskStatus.assigned
        or row.wave_status not in ACTIVE_WAVE
        or row.assigned_user_id != user.user_id
    ):
        return None
    mode = location_confirm(session)
    cart = totes_on_cart(session, row.pick_list_id)
    put_to_tote = row.tote_code is not None and len(cart) > 1
    if code and code.upper() == row.location_code.upper():  # arrival: nothing to write
        _claimed(claim, "location")
        view = _view(session, row, row.picked_qty, row.held_units, mode, True)
        return PickOutcome("ok", f"at {row.location_code}", kind="location", view=view)
    if row.tote_code is not None and code.upper() == row.tote_code.upper():
        if row.held_units <= 0:
            return None
        units, held = row.held_units, 0
        kind = "tote"
    else:
        if not code or _is_other_code(session, code, row):
            return None
        if not _plain_item_code(code):
            return None
        sku_id, units = layout_cache.identify_item(session, code)
        if sku_id != row.sku_id or units > row.quantity - row.picked_qty - row.held_units:
            return None
        if mode is not LocationConfirm.off and not location_confirmed(session, row.id):
            return None
        if put_to_tote:
            _claimed(claim, "item_held")
            return _hold(session, user, row, units, mode, cart)
        held = row.held_units
        kind = "item"
    picked = row.picked_qty + units
    finishes = picked >= row.quantity
    status = OrderStatus(row.order_status)
    if (
        status not in (OrderStatus.waved, OrderStatus.picking)
        or (finishes and not _may_finish(row))
        or _replenishes(session, row, units)
    ):
        return None
    _claimed(claim, kind)
    _book(session, row, units, held, finishes)
    order_done = finishes and row.order_open == 1  # its last open task
    if status is OrderStatus.waved or order_done:
        _move_order(session, row, user, status, order_done)
    if finishes and row.tasks_left == 1:  # the list's last open task
        _close_list(session, row)
    confirmed = mode is LocationConfirm.off or location_confirmed(session, row.id)
    view = _view(session, row, picked, held, mode, confirmed, finishes)
    _announce(session, row, user, view)
    message = f"{picked}/{row.quantity}" + (f" in {row.tote_code}" if kind == "tote" else "")
    if finishes:
        message += " - task done"
    return PickOutcome("ok", message, kind=kind, units=units, view=view)


def _claimed(claim: Callable[[str], bool], kind: str) -> None:
    if not claim(kind):
        raise Replayed


@functools.lru_cache(maxsize=4096)
def _plain_item_code(code: str) -> bool:
    """The code reads (GS1 or not) and carries no lot or expiry to check. ``parse_scan`` is a
    pure function of the text, and parsing (``biip``) cost a scan more CPU than any query:
    the handhelds of a shift scan the same few hundred GTINs over and over."""
    try:
        parsed = parse_scan(code, separators=TYPED_SEPARATORS)
    except Gs1Error:
        return False
    return parsed.lot is None and parsed.expiry is None


def _move_order(
    session: Session, row: FactsRow, user: Actor, status: OrderStatus, done: bool
) -> None:
    """The order's first unit moves it ``waved`` to ``picking`` (as ``pick_units``), its last
    open task to ``picked`` (as ``after_task``), written from the facts row: loading the order
    as an object cost a scan ~9 % of its server time."""
    order, times = (row.order_id, row.external_id), row.status_times
    if status is OrderStatus.waved:
        picking = OrderStatus.picking
        times = transition_row(session, *order, status, times, picking, user, {"task": row.id})
        status = picking
    if done:
        transition_row(session, *order, status, times, OrderStatus.picked, user)
    expire_loaded(session, Order, row.order_id)


def _may_finish(row: FactsRow) -> bool:
    """The last unit of a task, in a wave already under way: the task moves to ``picked`` (and
    its order, if this was its last open task). A pick list that keeps other tasks open keeps
    its status; one that is under way and has no other open task closes (``_close_list``)."""
    if WaveStatus(row.wave_status) is not WaveStatus.in_progress:
        return False
    return row.tasks_left > 1 or PickListStatus(row.list_status) is PickListStatus.in_progress


def _close_list(session: Session, row: FactsRow) -> None:
    """As ``settle_pick_list`` after the last open task of a list was picked: the list is
    ``done`` (it has a picked task: this one), and the wave ``completed`` when no list of it is
    open any more."""
    PICK_LIST_MACHINE.move_rows(
        session,
        PickList.__table__,
        [(row.pick_list_id, PickListStatus(row.list_status))],
        PickListStatus.done,
    )
    expire_loaded(session, PickList, row.pick_list_id)
    if _OPEN_LISTS.scalar(session.connection(), {"wave_id": row.wave_id}):
        return
    WAVE_MACHINE.move_rows(
        session,
        Wave.__table__,
        [(row.wave_id, WaveStatus(row.wave_status))],
        WaveStatus.completed,
        [{"completed_at": utcnow()}],
    )
    expire_loaded(session, Wave, row.wave_id)


def _hold(
    session: Session,
    user: Actor,
    row: FactsRow,
    units: int,
    mode: LocationConfirm,
    cart: list[str],
) -> PickOutcome:
    held = row.held_units + units
    _HOLD.run(session.connection(), {"task_id": row.id, "held": held})
    expire_loaded(session, PickTask, row.id)
    view = _view(session, row, row.picked_qty, held, mode, True)
    _announce(session, row, user, view)
    return PickOutcome(
        "ok",
        f"put {held} in tote {row.tote_code}, then scan the tote",
        kind="item_held",
        units=units,
        extra={"await_tote": row.tote_code},
        view=view,
    )


def _replenishes(session: Session, row: FactsRow, units: int) -> bool:
    """Would this pick open a replenishment task (``replenishment.check_pick_face``)? It would
    when it takes a pick face below its minimum, no refill of that face is open yet and some
    reserve location has the SKU free. (Otherwise the general path's check changes nothing:
    the picks from a face waiting for its refill, or with nothing to refill it from, stay
    here.)"""
    if row.location_type != LocationType.pick_face or row.min_qty <= 0 or not row.location_active:
        return False
    if row.face_on_hand - units >= row.min_qty:
        return False
    conn = session.connection()
    face = {"location_id": row.location_id, "sku_id": row.sku_id}
    if _REPLENISHING.first(conn, face) is not None:
        return False
    return _REFILL_SOURCE.first(conn, {"sku_id": row.sku_id}) is not None


def _book(session: Session, row: FactsRow, units: int, held: int, finishes: bool) -> None:
    """Stock, reservation, order line and task: the same writes as ``booking.pick_units``."""
    conn = session.connection()
    if _TAKE_STOCK.run(conn, {"stock_id": row.stock_id, "units": units}) != 1:
        raise PickError(
            FulfilmentErrorCode.stock_mismatch, "the location's stock does not cover this pick"
        )
    _BOOK_RESERVATION.run(conn, {"reservation_id": row.reservation_id, "units": units})
    _BOOK_LINE.run(conn, {"order_line_id": row.order_line_id, "units": units})
    if finishes:  # the task row is ours (writer lock, or FOR UPDATE): absolute values
        TASK_MACHINE.move_rows(
            session,
            PickTask.__table__,
            [(row.id, TaskStatus.assigned)],
            TaskStatus.picked,
            [{"picked_qty": row.picked_qty + units, "held_units": held, "updated_at": utcnow()}],
        )
    else:
        _BOOK_TASK.run(conn, {"task_id": row.id, "units": units, "held": held})
    for cls, pk in (
        (Stock, row.stock_id),
        (Reservation, row.reservation_id),
        (OrderLine, row.order_line_id),
        (PickTask, row.id),
    ):
        expire_loaded(session, cls, pk)


def _view(
    session: Session,
    row: FactsRow,
    picked: int,
    held: int,
    mode: LocationConfirm,
    confirmed: bool,
    finished: bool = False,
) -> dict[str, Any]:
    facts = TaskFacts(
        row.id,
        row.seq,
        TaskStatus.picked if finished else TaskStatus.assigned,
        row.pick_list_id,
        row.location_id,
        row.sku_id,
        row.quantity,
        picked,
        held,
    )
    return build_view(
        session,
        facts,
        wave_code=row.wave_code,
        order_ref=row.external_id,
        tote_code=row.tote_code,
        tasks_left=row.tasks_left - 1 if finished else row.tasks_left,
        mode=mode,
        confirmed=confirmed,
    )


def task_view(session: Session, task_id: int) -> dict[str, Any] | None:
    """``views.task_payload`` of an assigned task, built from the facts query (None: not an
    assigned task with a reservation; ask ``task_payload``)."""
    row = _facts(session, task_id, stmt=_FACTS)
    if row is None or TaskStatus(row.status) is not TaskStatus.assigned:
        return None
    mode = location_confirm(session)
    confirmed = mode is LocationConfirm.off or location_confirmed(session, row.id)
    return _view(session, row, row.picked_qty, row.held_units, mode, confirmed)


def _announce(session: Session, row: FactsRow, user: Actor, view: dict[str, Any]) -> None:
    """``task.updated`` and the wave's bar, as ``booking.publish_task`` and ``settle_pick_list``."""
    publish(session, "task.updated", view, f"wave:{row.wave_id}", f"user:{user.user_id}")
    publish_progress(session, row.wave_id)
