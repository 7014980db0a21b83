"""The picker's flow on a handheld, free of Flask: next task, scan, short pick, override.

* ``next_task`` (``handout``): the task the picker is on, else the next one, claiming a pick
  list when needed.
* ``confirm_scan``: every scan is stored as a ``devices.models.Scan`` under the device's
  ``client_scan_id``; a replayed id returns the stored result and changes nothing (the same id
  with another task or code is refused, ``scan_id_reused``: ``replay``). The task's
  location code or 2-digit check code confirms arrival (``ok``, kind ``location``); another
  location's code is ``wrong_location``. An item scan (GTIN-8/12/13/14, a GS1 element string
  with AI 01, or the SKU code) of the task's SKU counts one unit (or the GTIN's ``units``); any
  other item is ``wrong_item`` and nothing changes. Each good unit decreases the stock row's
  on-hand and reserved, and increases the reservation's, the line's and the task's picked.
  Arrival scans are optional: an item scan at the right face implies arrival.
* what a good scan books (stock, reservation, line, task, and the order, list and wave it
  settles) is ``booking.pick_units``; a supervisor's override without a scan is
  ``booking.override_task``;
* short picks (``report_short``) live in ``short_picks``; re-routing in ``reroute``.

The order moves ``waved → picking`` on its first unit and to ``picked`` when none of its tasks
is open (to ``short`` if nothing at all could be picked); lists and waves close with it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, make_transient_to_detached

from core.actors import Actor
from core.db import is_postgres, transaction_memo, utcnow
from core.errors import CoreErrorCode
from core.inputs import InputError, parse_id
from core.prepared import Prepared
from core.users import User
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import PickList, PickTask, Scan, Tote, Wave
from floor.fulfilment.picking import fast_path
from floor.fulfilment.picking.booking import pick_units, publish_task
from floor.fulfilment.picking.handout import (
    cart_destination,
    current_task,
    next_task,
    next_task_id,
)
from floor.fulfilment.picking.outcome import PickError, PickOutcome
from floor.fulfilment.picking.views import location_confirmed, totes_on_cart
from floor.fulfilment.states import TaskStatus
from floor.fulfilment.waves.planning import (
    ACTIVE_WAVE,
    OPEN_TASK,
    as_actor,
)
from floor.site import layout_cache
from floor.site.gs1 import Gs1Error, parse_scan
from floor.site.items import TYPED_SEPARATORS
from floor.site.settings import LocationConfirm, location_confirm
from floor.site.stock import Reservation, Stock

_SCAN_FIELDS = (
    "client_scan_id",
    "user_id",
    "task_id",
    "raw",
    "kind",
    "result",
    "scanned_at",
    "received_at",
)
_CLAIM = {  # built once per dialect: building it costs more CPU than running it
    name: Prepared(
        insert(Scan)
        .values({f: bindparam(f) for f in _SCAN_FIELDS})
        .on_conflict_do_nothing()
        .returning(Scan.id)
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def claim_scan(
    session: Session,
    client_scan_id: str,
    user: Actor,
    task_id: int | None,
    raw: str,
    kind: str,
    scanned_at: dt.datetime | None,
) -> Scan | None:
    """Insert the scan row; None if this user sent ``client_scan_id`` before (a replay). Ids are
    per user: another picker's id is simply a new scan of this one, never their result."""
    _check_claim(client_scan_id, user)
    claimed = _claim(session, client_scan_id, user, task_id, raw, kind, scanned_at)
    return _attach(session, *claimed) if claimed is not None else None


def _check_claim(client_scan_id: str, user: Actor) -> None:
    if not client_scan_id or len(client_scan_id) > 64:
        raise PickError(
            FulfilmentErrorCode.invalid_client_scan_id,
            "client_scan_id must be 1-64 characters",
            422,
        )
    if user.user_id is None:
        raise PickError(CoreErrorCode.not_authenticated, "a picker must be logged in", 401)


def _claim(
    session: Session,
    client_scan_id: str,
    user: Actor,
    task_id: int | None,
    raw: str,
    kind: str,
    scanned_at: dt.datetime | None,
    result: str = "pending",
) -> tuple[int, dict[str, Any]] | None:
    """``claim_scan``'s INSERT: the new row's id and values (None: a replay), no ORM object.
    ``result`` "pending": the general path sets the verdict later on the ORM object. The
    caller has run ``_check_claim``."""
    when = scanned_at or utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    values = {
        "client_scan_id": client_scan_id,
        "user_id": user.user_id,
        "task_id": task_id,
        "raw": raw[:500],
        "kind": kind,
        "result": result,
        "scanned_at": when,
        "received_at": utcnow(),
    }
    # One statement instead of SELECT + SAVEPOINT + INSERT + RELEASE: a replayed id conflicts
    # on the unique index (a concurrent twin waits there for the first one's commit).
    stmt = _CLAIM["postgresql" if is_postgres(session) else "sqlite"]
    scan_id = stmt.scalar(session.connection(), values)
    if scan_id is None:
        return None
    return scan_id, values


def _attach(session: Session, scan_id: int, values: dict[str, Any]) -> Scan:
    """The claimed row as a persistent ORM object without a SELECT: later changes flush as one
    UPDATE."""
    scan = Scan(id=scan_id, **values)
    make_transient_to_detached(scan)
    session.add(scan)
    return scan


_KEEP = "floor.loaded"


def _own_scan(user: Actor, client_scan_id: str, *what: Any) -> Any:
    return select(*what).where(Scan.user_id == user.user_id, Scan.client_scan_id == client_scan_id)


def replay(
    session: Session, user: Actor, client_scan_id: str, *, short: bool, task_id: Any, raw: str
) -> PickOutcome:
    """The stored answer to a replayed ``client_scan_id``, if the replay says what the first
    sending said: the same event (``short`` or a scan), the same task and the same code (a
    short's reason). Otherwise the id was reused for something else: ``scan_id_reused``, and
    the caller's transaction rolls back (nothing was booked). Only the replay branch asks this:
    a new id costs no extra statement."""
    scan = session.scalars(_own_scan(user, client_scan_id, Scan)).one()
    _same_content(scan, short, task_id, raw)
    task = session.get(PickTask, scan.task_id) if scan.task_id else None
    return PickOutcome(
        scan.result,
        f"already received (scan {client_scan_id}): {scan.result}",
        task,
        current_task(session, user) if user.user_id else None,
        kind=scan.kind,
        replayed=True,
    )


def _same_content(scan: Scan, short: bool, task_id: Any, raw: str) -> None:
    """Raise ``scan_id_reused`` unless the request matches the stored scan row. The row keeps
    the task only when the first sending reached one (a refused ``task_not_found``,
    ``task_closed`` or ``not_your_task`` stored none): then the task cannot be compared."""
    try:
        tid: int | None = parse_id(task_id, "task_id")
    except InputError:
        tid = None
    what = "short report" if scan.kind == "short" else "scan"
    if (
        (scan.kind == "short") != short
        or scan.raw != raw[:500]
        or (scan.task_id is not None and scan.task_id != tid)
    ):
        task = f" of task {scan.task_id}" if scan.task_id is not None else ""
        raise PickError(
            FulfilmentErrorCode.scan_id_reused,
            f"client_scan_id {scan.client_scan_id} was already used for another {what}{task}: "
            "send a new id",
            422,
        )


def task_for(session: Session, user: Actor, task_id: Any) -> tuple[PickTask | None, str, str]:
    """The task if this picker may act on it now, else (None, code, message)."""
    try:  # an id: 1..2**63-1, ASCII digits (a huge or odd one is no task, not an error)
        tid = parse_id(task_id, "task_id")
    except InputError:
        return None, "task_not_found", "no such task"
    stmt = (  # the task, its list and its wave in one query (later gets find them loaded)
        select(PickTask, PickList, Wave)
        .join(PickList, PickList.id == PickTask.pick_list_id)
        .join(Wave, Wave.id == PickList.wave_id)
        .where(PickTask.id == tid)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(of=PickTask)
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None, "task_not_found", f"no task {tid}"
    task, pick_list, wave = row
    # The identity map holds unchanged objects weakly: keep these for the transaction, or the
    # next ``session.get`` of the list or wave would load them again.
    transaction_memo(session).setdefault(_KEEP, []).extend((pick_list, wave))
    if task.status not in OPEN_TASK or wave.status not in ACTIVE_WAVE:
        return None, "task_closed", f"task {tid} is {task.status.value}"
    if task.assigned_user_id != user.user_id:
        return None, "not_your_task", f"task {tid} is not assigned to you"
    return task, "", ""


def confirm_scan(
    session: Session,
    user: Actor | User,
    task_id: Any,
    code: str,
    client_scan_id: str,
    scanned_at: dt.datetime | None = None,
    *,
    views_only: bool = False,
) -> PickOutcome:
    """Verify one scan against the picker's task (see the module docstring). ``views_only``:
    the caller reads only ``view`` where the fast path built one (the socket handler), so the
    task object is not loaded for ``task`` and ``next_task``."""
    user = as_actor(user)
    code = (code or "").strip()
    _check_claim(client_scan_id, user)
    try:
        fast = _fast_path(session, user, task_id, code, client_scan_id, scanned_at)
    except fast_path.Replayed:
        return replay(session, user, client_scan_id, short=False, task_id=task_id, raw=code)
    if fast is not None:
        assert fast.view is not None
        still_open = fast.view["status"] == TaskStatus.assigned.value
        next_id = None
        if not still_open:
            next_id = next_task_id(session, user)
            if next_id is None:
                _cart_to(session, fast)
            else:
                fast.next_view = fast_path.task_view(session, next_id)
        if not views_only or (next_id is not None and fast.next_view is None):
            fast.next_task = session.get(PickTask, next_id) if next_id is not None else None
        if not views_only:
            fast.task = session.get(PickTask, fast.view["id"])
            if still_open:
                fast.next_task = fast.task
        return fast
    claimed = _claim(session, client_scan_id, user, None, code, "unknown", scanned_at)
    if claimed is None:
        return replay(session, user, client_scan_id, short=False, task_id=task_id, raw=code)
    scan = _attach(session, *claimed)  # the general path sets its verdict on the ORM object
    task, err, msg = task_for(session, user, task_id)
    if task is None:
        scan.result = err
        return PickOutcome(err, msg, None, current_task(session, user))
    outcome = _evaluate(session, user, task, code)
    # Set once, after the verdict: one UPDATE of the scan row instead of one per field.
    scan.task_id, scan.kind, scan.result = task.id, outcome.kind, outcome.result
    if outcome.result == "ok" and outcome.kind in ("item", "tote"):
        outcome.next_task = next_task(session, user) if task.status != TaskStatus.assigned else task
        if outcome.next_task is None:
            _cart_to(session, outcome)
    else:
        outcome.next_task = task
    return outcome


def _cart_to(session: Session, outcome: PickOutcome) -> None:
    """No work left for the picker: where the cart goes."""
    where = cart_destination(session)
    if where is not None:
        outcome.extra["cart_to"] = where
        outcome.message += f" - take cart to {where}"


def _fast_path(
    session: Session,
    user: Actor,
    task_id: Any,
    code: str,
    client_scan_id: str,
    scanned_at: dt.datetime | None,
) -> PickOutcome | None:
    """The common scan through ``fast_path`` (None: it is not one; nothing was written). Its
    scan row is inserted with the verdict, just before the first write (one INSERT instead of
    an INSERT and an UPDATE); ``fast_path.Replayed`` if the id was sent before."""
    try:
        tid = parse_id(task_id, "task_id")
    except InputError:
        return None

    def claim(kind: str) -> bool:
        done = _claim(session, client_scan_id, user, tid, code, kind, scanned_at, result="ok")
        return done is not None

    return fast_path.try_scan(session, user, tid, code, claim=claim)


def _evaluate(session: Session, user: Actor, task: PickTask, code: str) -> PickOutcome:
    """What one scan means for ``task``: location, tote or item (module docstring)."""
    loc = layout_cache.location(session, task.location_id)
    if not code:
        return PickOutcome("empty_code", "nothing was scanned", task, kind="unknown")
    mode = location_confirm(session)
    if code.upper() == loc.code.upper():
        return PickOutcome("ok", f"at {loc.code}", task, kind="location")
    if code == loc.check_code:
        if mode is LocationConfirm.scan:
            return PickOutcome(
                "scan_location",
                f"typed check digits do not count here: scan the barcode on {loc.code}",
                task,
                kind="check_digits",
            )
        return PickOutcome("ok", f"at {loc.code}", task, kind="location")
    other = layout_cache.location_code(session, code)
    if other is not None:
        return PickOutcome(
            "wrong_location", f"that is {other}; go to {loc.code}", task, kind="location"
        )
    if len(code) == 2 and code.isdigit():
        return PickOutcome(
            "wrong_location", f"check code {code} is not {loc.code}'s", task, kind="location"
        )
    right = _task_tote(session, task)  # the usual tote scan: this task's own tote
    if right is not None and code.upper() == right.code.upper():
        return _tote_scan(session, user, task, right)
    tote = session.scalar(select(Tote).where(func.upper(Tote.code) == code.upper()))
    if tote is not None:
        return _tote_scan(session, user, task, tote)
    try:  # lot (10) and expiry (17) of a GS1 scan; a marked code that does not read is refused
        parsed = parse_scan(code, separators=TYPED_SEPARATORS)
    except Gs1Error as exc:
        return PickOutcome(
            "bad_barcode", f"the barcode does not read: {exc.message}", task, kind="item"
        )
    sku_id, units = layout_cache.identify_item(session, code)
    sku = layout_cache.sku(session, task.sku_id)
    if sku_id is None:
        return PickOutcome(
            "wrong_item",
            f"unknown barcode; pick {sku.code}",
            task,
            kind="item",
            extra={"reason": "unknown_code"},
        )
    if sku_id != task.sku_id:
        other_code = layout_cache.sku(session, sku_id).code
        return PickOutcome(
            "wrong_item",
            f"that is {other_code}; pick {sku.code}",
            task,
            kind="item",
            extra={"reason": "other_sku", "scanned_sku": other_code},
        )
    if mode is not LocationConfirm.off and not location_confirmed(session, task):
        how = (
            f"scan the location barcode on {loc.code}"
            if mode is LocationConfirm.scan
            else f"type the check digits on the label at {loc.code}"
        )
        return PickOutcome(
            "location_not_confirmed", f"location not confirmed: {how} first", task, kind="item"
        )
    refused = _lot_refusal(session, task, parsed.lot, parsed.expiry)
    if refused is not None:
        return refused
    remaining = task.quantity - task.picked_qty - task.held_units
    right = _task_tote(session, task)
    if units > remaining:
        if task.held_units > 0 and right is not None:  # the units in hand wait for their tote
            return PickOutcome(
                "over_pick",
                f"scan tote {right.code} first: {task.held_units} in hand wait for it",
                task,
                kind="item",
                extra={"await_tote": right.code},
            )
        return PickOutcome(
            "over_pick", f"{units} units scanned but only {remaining} left", task, kind="item"
        )
    if right is not None and len(totes_on_cart(session, task.pick_list_id)) > 1:
        task.held_units += units  # booked by the tote scan
        publish_task(session, task)
        return PickOutcome(
            "ok",
            f"put {task.held_units} in tote {right.code}, then scan the tote",
            task,
            kind="item_held",
            units=units,
            extra={"await_tote": right.code},
        )
    pick_units(session, user, task, units)
    left = task.quantity - task.picked_qty
    message = f"{task.picked_qty}/{task.quantity}" + ("" if left else " - task done")
    return PickOutcome("ok", message, task, kind="item", units=units)


def _tote_scan(session: Session, user: Actor, task: PickTask, tote: Tote) -> PickOutcome:
    """Put-to-tote: the tote scan books the units held for it; a wrong tote books nothing."""
    right = _task_tote(session, task)
    if right is None or tote.id != right.id:
        where = f"put it in {right.code}" if right is not None else "this task has no tote"
        return PickOutcome(
            "wrong_tote",
            f"that is tote {tote.code}; {where}",
            task,
            kind="tote",
            extra={"expected_tote": right.code if right is not None else None},
        )
    if task.held_units <= 0:
        return PickOutcome(
            "nothing_to_put", f"scan the item first, then tote {tote.code}", task, kind="tote"
        )
    units, task.held_units = task.held_units, 0
    pick_units(session, user, task, units)
    left = task.quantity - task.picked_qty
    message = f"{task.picked_qty}/{task.quantity} in {tote.code}" + ("" if left else " - task done")
    return PickOutcome("ok", message, task, kind="tote", units=units)


def _task_tote(session: Session, task: PickTask) -> Tote | None:
    tote = session.get(Tote, task.tote_id) if task.tote_id else None
    if tote is not None:
        transaction_memo(session).setdefault(_KEEP, []).append(tote)
    return tote


def _lot_refusal(
    session: Session, task: PickTask, lot: str | None, expiry: dt.date | None
) -> PickOutcome | None:
    """A GS1 scan's lot (10) and expiry (17) against the reserved stock row."""
    if lot is None and expiry is None:
        return None
    res = session.get(Reservation, task.reservation_id) if task.reservation_id else None
    stock = session.get(Stock, res.stock_id) if res is not None else None
    if expiry is not None and expiry < utcnow().date():
        return PickOutcome(
            "expired_lot",
            f"expired {expiry.isoformat()}: put it aside and report it",
            task,
            kind="item",
            extra={"lot": lot, "expiry": expiry.isoformat()},
        )
    if stock is not None and stock.lot and lot is not None and lot != stock.lot:
        return PickOutcome(
            "wrong_lot",
            f"lot {lot} scanned; this pick is lot {stock.lot}",
            task,
            kind="item",
            extra={"lot": lot, "expected_lot": stock.lot},
        )
    return None
