"""Handing out work to a picker: the task they are on, else the next pending task of a list they
started, else the first open pick list of a released wave (earliest cut-off first), claimed for
them (one picker per list once started; its orders get a tote each), and where a finished cart
goes. ``scans`` calls ``next_task`` after a task is done; the socket's ``task:next`` calls it too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Integer,
    bindparam,
    func,
    inspect,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from core.actors import Actor
from core.bulk import update_rows
from core.db import (
    core_connection,
    expire_loaded,
    is_postgres,
    one_of,
    transaction_memo,
    utcnow,
)
from core.errors import CoreErrorCode
from core.prepared import Prepared
from core.users import User
from floor.fulfilment.models import PickList, PickTask, Tote, Wave
from floor.fulfilment.picking.outcome import PickError
from floor.fulfilment.picking.views import _CARTS
from floor.fulfilment.states import PICK_LIST_MACHINE, TASK_MACHINE, PickListStatus, TaskStatus
from floor.fulfilment.waves.planning import ACTIVE_WAVE, as_actor
from floor.site.layout import Location, LocationType
from orders.models import OrderLine

# Built once (bindparams): building a select costs more CPU than SQLite takes to run it.
_CURRENT_TASK = (
    select(PickTask)
    .join(PickList, PickList.id == PickTask.pick_list_id)
    .join(Wave, Wave.id == PickList.wave_id)
    .where(
        PickTask.assigned_user_id == bindparam("user_id"),
        PickTask.status == TaskStatus.assigned,
        one_of(Wave.status, ACTIVE_WAVE),
    )
    .order_by(PickList.id, PickTask.seq, PickTask.id)
    .limit(1)
)
_FIRST_PENDING = Prepared(  # a list's first task by seq, when it is claimed
    select(PickTask.id)
    .where(
        PickTask.pick_list_id == bindparam("pick_list_id"),
        PickTask.status == TaskStatus.pending,
    )
    .order_by(PickTask.seq, PickTask.id)
    .limit(1)
)


def _pending_of_list() -> Any:
    """The pending tasks of the list (correlated to ``PickList``), through that list's tasks."""
    return select(PickTask.id).where(
        PickTask.pick_list_id == PickList.id, PickTask.status == TaskStatus.pending
    )


def _first_pending_of_list() -> Any:
    """The list's first pending task by seq."""
    return (
        _pending_of_list()
        .order_by(PickTask.seq, PickTask.id)
        .limit(1)
        .correlate(PickList)
        .scalar_subquery()
    )


def _has_pending() -> Any:
    """The list has a pending task."""
    return _pending_of_list().exists()


def _next_task_statement() -> Any:
    """``next_task_id``'s question in one query: the task assigned to the picker (rank 0), else
    the first pending task of the lists they have under way (rank 1): the first such list that
    has one, then its first task by seq.

    Rank 1 starts from the picker's lists and asks each for its first pending task. Joined
    the other way, SQLite read every pending task of the site through the status index to find
    the picker's (1.05 ms with 5,186 pending, in the writer lock, after every finished task;
    0.04 ms this way)."""
    assigned = (
        select(
            literal_column("0", Integer()).label("rank"),
            PickList.id.label("list_id"),
            PickTask.seq,
            PickTask.id,
        )
        .select_from(PickTask)
        .join(PickList, PickList.id == PickTask.pick_list_id)
        .join(Wave, Wave.id == PickList.wave_id)
        .where(
            one_of(Wave.status, ACTIVE_WAVE),
            PickTask.assigned_user_id == bindparam("user_id"),
            PickTask.status == TaskStatus.assigned,
        )
    )
    pending = (
        select(
            literal_column("1", Integer()).label("rank"),
            PickList.id.label("list_id"),
            literal_column("0", Integer()).label("seq"),
            _first_pending_of_list().label("id"),
        )
        .join(Wave, Wave.id == PickList.wave_id)
        .where(
            one_of(Wave.status, ACTIVE_WAVE),
            PickList.assigned_user_id == bindparam("user_id"),
            PickList.status == PickListStatus.in_progress,
        )
    )
    both = union_all(assigned, pending).subquery()
    return (
        select(both.c.rank, both.c.id)
        .where(both.c.id.is_not(None))
        .order_by(both.c.rank, both.c.list_id, both.c.seq, both.c.id)
        .limit(1)
    )


_NEXT_TASK = Prepared(_next_task_statement())


def current_task(session: Session, user: Actor) -> PickTask | None:
    """The task the picker is on now (assigned to them in an active wave), if any."""
    return session.scalars(_CURRENT_TASK, {"user_id": user.user_id}).first()


def next_task(session: Session, user: Actor | User) -> PickTask | None:
    """The task the picker should do now (assigning one if needed), or None: ``next_task_id``'s
    task, loaded."""
    task_id = next_task_id(session, as_actor(user))
    return session.get(PickTask, task_id) if task_id is not None else None


def next_task_id(session: Session, user: Actor) -> int | None:
    """The id of the task the picker should do now: the one assigned to them, else the first
    pending task of a list they have under way (assigned to them here), else the first task of
    a newly claimed list; None when there is no work. Asked and assigned with Core statements
    on the transaction's connection (a scan that finished its task asks this: loading the task
    as an object and flushing its assignment cost more than the queries)."""
    if user.user_id is None:
        raise PickError(CoreErrorCode.not_authenticated, "a picker must be logged in", 401)
    conn = core_connection(session)  # seeing what the ORM queries of ``next_task`` would
    found = _NEXT_TASK.first(conn, {"user_id": user.user_id})
    if found is not None:
        task_id = int(found.id)
        if found.rank == 1:  # a pending task of a list under way: now the picker's
            _assign_row(session, task_id, user)
        return task_id
    return _claim_list(session, user)


def _assign_row(session: Session, task_id: int, user: Actor) -> None:
    """A pending task is now the picker's (its move through the task's machine, as a row)."""
    TASK_MACHINE.move_rows(
        session,
        PickTask.__table__,
        [(task_id, TaskStatus.pending)],
        TaskStatus.assigned,
        [{"assigned_user_id": user.user_id, "updated_at": utcnow()}],
    )
    expire_loaded(session, PickTask, task_id)


def _open_list_statement() -> Any:
    return (
        select(PickList.id)
        .join(Wave, Wave.id == PickList.wave_id)
        .where(
            one_of(Wave.status, ACTIVE_WAVE),
            PickList.status == PickListStatus.open,
            PickList.assigned_user_id.is_(None),
            _has_pending(),
        )
        .order_by(Wave.cutoff_at, Wave.id, PickList.id)
        .limit(1)  # lock only the list we take; others stay free for the next picker
    )


def _open_list_by_wave() -> Any:
    """SQLite's form of ``_open_list_statement``: wave by wave in cut-off order, each asked for
    its first open list, so it reads the released waves and the lists of the first ones, not
    every open list of the site (0.82 ms with 864 open lists, in the writer lock at every
    claim; 0.05 ms this way). PostgreSQL keeps the other form: it plans it well, and its
    ``SKIP LOCKED`` must skip a list another picker is claiming and take the next."""
    first_open = (
        select(PickList.id)
        .where(
            PickList.wave_id == Wave.id,
            PickList.status == PickListStatus.open,
            PickList.assigned_user_id.is_(None),
            _has_pending(),
        )
        .order_by(PickList.id)
        .limit(1)
        .correlate(Wave)
        .scalar_subquery()
    )
    first_wave = (
        select(first_open)
        .where(one_of(Wave.status, ACTIVE_WAVE), first_open.is_not(None))
        .order_by(Wave.cutoff_at, Wave.id)
        .limit(1)
        .scalar_subquery()
    )
    return select(PickList.id).where(PickList.id == first_wave)


# Built once, as the three above, and run as ``Prepared`` rows: a picker claims a new cart every
# dozen scans or so, and the claim loaded the list, its first task and the free totes as ORM
# objects and flushed them (py-spy: a claim cost ~1.8 scans of server time).
_OPEN_LIST = _open_list_by_wave()
_OPEN_LIST_ID = Prepared(_OPEN_LIST)
_OPEN_LIST_LOCKED = Prepared(_open_list_statement().with_for_update(of=PickList, skip_locked=True))
_CART_ORDERS = Prepared(
    select(OrderLine.order_id)
    .join(PickTask, PickTask.order_line_id == OrderLine.id)
    .where(PickTask.pick_list_id == bindparam("pick_list_id"))
    .group_by(OrderLine.order_id)
    .order_by(func.min(PickTask.seq))
)
_FREE_TOTES = (
    select(Tote.id)
    .where(Tote.pick_list_id.is_(None), Tote.order_id.is_(None))
    .order_by(Tote.code)
    .limit(bindparam("n", type_=Integer))
)
_FREE_TOTE_IDS = Prepared(_FREE_TOTES)
_FREE_TOTE_IDS_LOCKED = Prepared(_FREE_TOTES.with_for_update(skip_locked=True))  # PostgreSQL
# Every task of the cart into its order's tote (NULL: its order got none, no tote was free), in
# one statement: one UPDATE per order, built per claim, cost a claim more than its queries.
_TASK_TOTES = Prepared(
    update(PickTask)
    .where(PickTask.pick_list_id == bindparam("pick_list_id"))
    .values(
        tote_id=select(Tote.id)
        .join(OrderLine, OrderLine.order_id == Tote.order_id)
        .where(Tote.pick_list_id == PickTask.pick_list_id, OrderLine.id == PickTask.order_line_id)
        .limit(1)
        .scalar_subquery()
    )
)
_PACK_STATION = (
    select(Location.code)
    .where(Location.type == LocationType.pack_station, Location.active.is_(True))
    .order_by(Location.code)
    .limit(1)
)


def _claim_list(session: Session, user: Actor) -> int | None:
    """The first open pick list of a released wave, claimed for ``user``: the id of its first
    task, now theirs."""
    conn = core_connection(session)
    stmt = _OPEN_LIST_LOCKED if is_postgres(session) else _OPEN_LIST_ID
    list_id = stmt.scalar(conn)
    if list_id is None:
        return None
    task_id = _FIRST_PENDING.scalar(conn, {"pick_list_id": list_id})
    assert task_id is not None, "an open list has a pending task (the claim's query asks)"
    PICK_LIST_MACHINE.move_rows(
        session,
        PickList.__table__,
        [(list_id, PickListStatus.open)],
        PickListStatus.in_progress,
        [{"assigned_user_id": user.user_id}],
    )
    expire_loaded(session, PickList, list_id)
    _give_totes(session, list_id)
    _assign_row(session, task_id, user)
    return task_id


def _give_totes(session: Session, pick_list_id: int) -> None:
    """One free tote per order on the cart (none left: the tasks go without a tote)."""
    conn = core_connection(session)
    order_ids = [row.order_id for row in _CART_ORDERS.rows(conn, {"pick_list_id": pick_list_id})]
    stmt = _FREE_TOTE_IDS_LOCKED if is_postgres(session) else _FREE_TOTE_IDS
    transaction_memo(session).get(_CARTS, {}).pop(pick_list_id, None)
    tote_ids = [row.id for row in stmt.rows(conn, {"n": len(order_ids)})]
    now = utcnow()
    update_rows(
        session,
        Tote.__table__,
        [
            {"id": tote_id, "pick_list_id": pick_list_id, "order_id": order_id, "updated_at": now}
            for order_id, tote_id in zip(order_ids, tote_ids, strict=False)
        ],
    )
    for tote_id in tote_ids:
        expire_loaded(session, Tote, tote_id)
    _TASK_TOTES.run(conn, {"pick_list_id": pick_list_id})
    for obj in list(session.identity_map.values()):  # loaded tasks read their tote again
        # (the loaded value only: reading an expired attribute would query the row)
        if isinstance(obj, PickTask) and inspect(obj).dict.get("pick_list_id") == pick_list_id:
            session.expire(obj, ["tote_id"])


def cart_destination(session: Session) -> str | None:
    """Where a finished cart goes: the first active pack station."""
    return session.scalar(_PACK_STATION)
