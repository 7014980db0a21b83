"""Waves: cut allocated orders into waves by a supervisor's rule, batch each wave onto carts,
route every pick list over the real floor, and release waves to the handhelds.

Planning (``plan_waves``), in one transaction:

1. Candidates: orders without a wave that are ``allocated``, or ``short`` with short policy
   ``ship_partial`` (for what was reserved), optionally only those due within a horizon.
   On PostgreSQL the candidate rows are locked with ``SKIP LOCKED`` so two planners never wave
   the same order.
2. Grouping (``RuleSpec``): by cut-off window (``ship_by`` floored to ``cutoff_window_min``;
   window 0 = the exact cut-off), by priority (express before standard within a window), and
   with ``split_by_zone`` by zone (single-zone orders per zone, multi-zone orders together).
   Groups are filled into waves in (window, priority, zone) order, orders by ``ship_by`` then
   arrival, closing a wave before ``max_orders`` / ``max_lines`` / ``max_units`` would be
   exceeded. An order is never split across waves: one bigger than a limit gets a wave alone.
3. Batching (``floor.batching.batch_orders``, seed-and-grow over aisle footprints): one tote an
   order, ``totes_per_cart`` totes a cart, orders with ``big_order_picks`` picks or more on a
   list of their own. With ``split_by_zone`` each zone of the wave gets its own pick lists (a
   multi-zone order is picked in every zone it touches; the zone lists meet at the pack
   station); without it a list may walk every zone.
4. Routing: every pick list is sequenced with ``routing.route_optimal`` (exact Ratliff &
   Rosenthal) over ``layout_geometry``; ``seq`` is the route order and ``route_length_m`` the
   route's length, depot to depot, in metres.
5. One ``PickTask`` per open reservation (its location is the reservation's stock row); every
   order moves to ``waved`` through ``orders.transitions.transition_many`` (one set-based
   write of every order and its outbox event; pick lists and tasks are bulk inserts too).

A planned wave is invisible to pickers until ``release_wave``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session, load_only, sessionmaker

from floor.actors import Actor
from floor.audit import audit
from floor.batching import BatchOrder, batch_orders
from floor.bulk import among, insert_rows
from floor.db import unit_of_work, utcnow
from floor.errors import ServiceError
from floor.events import publish
from floor.layout_geometry import FloorGeometry, geometry
from floor.models import PickList, PickTask, Reservation, Role, Stock, Tote, User, Wave, WaveRule
from floor.routing import route_length, route_optimal
from floor.states import WAVE_MACHINE, PickListStatus, TaskStatus, WaveStatus
from orders.models import Order, OrderLine
from orders.states import OrderStatus, Priority, ShortPolicy
from orders.transitions import transition_many

OPEN_TASK = (TaskStatus.pending, TaskStatus.assigned)
DONE_TASK = (TaskStatus.picked, TaskStatus.short)
ACTIVE_WAVE = (WaveStatus.released, WaveStatus.in_progress)
_CHUNK = 2000


def as_actor(user: Actor | User) -> Actor:
    """Services take an ``Actor``; a ``User`` row is accepted too."""
    if isinstance(user, User):
        return Actor(user.username, Role(user.role), user.id)
    return user


class WaveError(ServiceError):
    """A refused wave operation."""


# --------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------

_BOUNDS = {  # field -> (min, max) for the integer settings
    "cutoff_horizon_min": (0, 7 * 24 * 60),
    "cutoff_window_min": (0, 7 * 24 * 60),
    "max_orders": (1, 100_000),
    "max_lines": (1, 1_000_000),
    "max_units": (1, 10_000_000),
    "totes_per_cart": (1, 100),
    "big_order_picks": (1, 10_000),
    "schedule_every_min": (0, 24 * 60),
}
_FLAGS = ("enabled", "group_by_cutoff", "express_first", "split_by_zone", "auto_release")


@dataclass(frozen=True)
class RuleSpec:
    """The values of a wave rule (a stored ``WaveRule`` or inline values from a request)."""

    name: str = "inline"
    enabled: bool = True
    group_by_cutoff: bool = True
    express_first: bool = True
    split_by_zone: bool = True
    cutoff_horizon_min: int = 240
    cutoff_window_min: int = 60
    max_orders: int = 200
    max_lines: int = 1000
    max_units: int = 5000
    totes_per_cart: int = 8
    big_order_picks: int = 25
    auto_release: bool = False
    schedule_every_min: int = 0
    rule_id: int | None = None

    @classmethod
    def from_rule(cls, rule: WaveRule) -> RuleSpec:
        values = {f.name: getattr(rule, f.name) for f in fields(cls) if f.name != "rule_id"}
        return cls(**values, rule_id=rule.id)

    @classmethod
    def parse(cls, data: Mapping[str, Any], base: RuleSpec | None = None) -> RuleSpec:
        """Validated values over ``base``; raises ``RuleErrors`` listing every bad field."""
        values = asdict(base or cls())
        errors: list[dict[str, str]] = []
        for key, value in data.items():
            if key in ("id", "rule_id", "last_run_at"):
                continue
            if key == "name":
                if not isinstance(value, str) or not value.strip() or len(value) > 80:
                    errors.append(_err("invalid", key, "name must be 1-80 characters"))
                else:
                    values[key] = value.strip()
            elif key in _FLAGS:
                if not isinstance(value, bool):
                    errors.append(_err("invalid", key, "must be true or false"))
                else:
                    values[key] = value
            elif key in _BOUNDS:
                lo, hi = _BOUNDS[key]
                if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                    errors.append(_err("out_of_range", key, f"must be an integer {lo}..{hi}"))
                else:
                    values[key] = value
            else:
                errors.append(_err("unknown_field", key, "not a wave rule setting"))
        if errors:
            raise RuleErrors(errors)
        return cls(**values)

    def apply_to(self, rule: WaveRule) -> None:
        for f in fields(self):
            if f.name != "rule_id":
                setattr(rule, f.name, getattr(self, f.name))


class RuleErrors(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


def _err(code: str, field_name: str, message: str) -> dict[str, str]:
    return {"code": code, "field": field_name, "message": message}


def rule_to_dict(rule: WaveRule) -> dict[str, Any]:
    d = {"id": rule.id, **{k: v for k, v in asdict(RuleSpec.from_rule(rule)).items()}}
    d.pop("rule_id")
    d["last_run_at"] = rule.last_run_at.isoformat() if rule.last_run_at else None
    return d


# --------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------


@dataclass
class _Cand:
    """A candidate order with its open reservations (the future tasks)."""

    order: Order
    tasks: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    # (reservation id, order line id, location id, sku id, quantity)
    zones: set[int] = field(default_factory=set)
    units: int = 0
    lines: int = 0


@dataclass
class PlanResult:
    waves: list[Wave]
    skipped: list[dict[str, str]]  # orders left out, with a reason code
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds

    @property
    def wave_ids(self) -> list[int]:
        return [w.id for w in self.waves]


def _waiting() -> Any:
    """Orders a plan takes: no wave yet, allocated, or short but allowed to ship partial."""
    return and_(
        Order.wave_id.is_(None),
        or_(
            Order.status == OrderStatus.allocated,
            and_(Order.status == OrderStatus.short, Order.short_policy == ShortPolicy.ship_partial),
        ),
    )


def _candidate_orders(
    session: Session, now: dt.datetime, due_within_min: int | None, order_ids: Sequence[int] | None
) -> list[Order]:
    # Only what planning reads (the rest loads on access): 10,000 full rows with their JSON
    # addresses cost more than the whole grouping.
    stmt = (
        select(Order)
        .options(
            load_only(
                Order.external_id,
                Order.status,
                Order.status_times,
                Order.ship_by,
                Order.priority,
                Order.wave_id,
            )
        )
        .where(_waiting())
        .order_by(Order.ship_by, Order.id)
    )
    if due_within_min:
        stmt = stmt.where(Order.ship_by <= now + dt.timedelta(minutes=due_within_min))
    if order_ids is not None:
        stmt = stmt.where(among(session, Order.id, order_ids))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=Order)
    return list(session.scalars(stmt).all())


def _load_reservations(
    session: Session, geo: FloorGeometry, orders: list[Order]
) -> tuple[list[_Cand], list[dict[str, str]]]:
    cands = {o.id: _Cand(o) for o in orders}
    ids = list(cands)
    unroutable: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = session.execute(
            select(
                Reservation.id,
                Reservation.order_line_id,
                Stock.location_id,
                Stock.sku_id,
                Reservation.quantity - Reservation.picked,
                OrderLine.order_id,
            )
            .join(Stock, Stock.id == Reservation.stock_id)
            .join(OrderLine, OrderLine.id == Reservation.order_line_id)
            .where(
                among(session, OrderLine.order_id, chunk),
                Reservation.released.is_(False),
                Reservation.quantity > Reservation.picked,
            )
            .order_by(Reservation.id)
        ).all()
        for res_id, line_id, loc_id, sku_id, qty, order_id in rows:
            c = cands[order_id]
            if not geo.is_pickable(loc_id):
                unroutable.add(order_id)
                continue
            c.tasks.append((res_id, line_id, loc_id, sku_id, qty))
            c.zones.add(geo.points[loc_id].zone_id)
            c.units += qty
    skipped = []
    out = []
    for c in cands.values():
        if c.order.id in unroutable:
            skipped.append(_skip(c.order, "unroutable_location", "stock at a location off aisles"))
        elif not c.tasks:
            skipped.append(_skip(c.order, "nothing_reserved", "no open reservation to pick"))
        else:
            c.lines = len({t[1] for t in c.tasks})
            out.append(c)
    return out, skipped


def _skip(order: Order, code: str, message: str) -> dict[str, str]:
    return {"order": order.external_id, "code": code, "message": message}


def _group_key(rule: RuleSpec, c: _Cand) -> tuple:
    window: float = 0
    if rule.group_by_cutoff:
        ts = c.order.ship_by.timestamp()
        width = rule.cutoff_window_min * 60
        window = math.floor(ts / width) if width else ts
    prio = 0
    if rule.express_first:
        prio = 0 if c.order.priority == Priority.express else 1
    zone = 0
    if rule.split_by_zone:
        zone = next(iter(c.zones)) if len(c.zones) == 1 else 1 << 30  # multi-zone last
    return (window, prio, zone)


def group_into_waves(rule: RuleSpec, cands: list[_Cand]) -> list[list[_Cand]]:
    """Cut candidates into waves (pure; see the module docstring)."""
    groups: dict[tuple, list[_Cand]] = defaultdict(list)
    for c in cands:
        groups[_group_key(rule, c)].append(c)
    waves: list[list[_Cand]] = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda c: (c.order.ship_by, c.order.id))
        cur: list[_Cand] = []
        lines = units = 0
        for c in members:
            if cur and (
                len(cur) + 1 > rule.max_orders
                or lines + c.lines > rule.max_lines
                or units + c.units > rule.max_units
            ):
                waves.append(cur)
                cur, lines, units = [], 0, 0
            cur.append(c)
            lines += c.lines
            units += c.units
        if cur:
            waves.append(cur)
    return waves


def plan_waves(
    session: Session,
    rule: RuleSpec | WaveRule,
    actor: Actor | User,
    *,
    now: dt.datetime | None = None,
    due_within_min: int | None = None,
    order_ids: Sequence[int] | None = None,
) -> PlanResult:
    """Plan waves from the waiting orders (see the module docstring). Waves stay ``planned``.

    Works in bulk phases (all waves, all pick lists, all tasks, then the order transitions)
    so that the database sees a few large statements rather than many small ones.
    """
    spec = rule if isinstance(rule, RuleSpec) else RuleSpec.from_rule(rule)
    actor = as_actor(actor)
    now = now or utcnow()
    clock = _Clock()
    geo = geometry(session)
    orders = _candidate_orders(session, now, due_within_min, order_ids)
    cands, skipped = _load_reservations(session, geo, orders)
    clock.lap("load")
    groups = group_into_waves(spec, cands)
    if not groups:
        return PlanResult([], skipped, clock.laps)
    waves = [
        Wave(
            code=f"tmp-{uuid.uuid4().hex[:24]}",  # renamed W<id> after the insert
            rule_id=spec.rule_id,
            status=WaveStatus.planned,
            cutoff_at=min(c.order.ship_by for c in members),
            created_at=now,
        )
        for members in groups
    ]
    session.add_all(waves)
    session.flush()
    for wave in waves:
        wave.code = f"W{wave.id:05d}"
    lists: list[_List] = []
    for wave, members in zip(waves, groups, strict=True):
        lists += _batch_wave(geo, spec, wave, members)
    clock.lap("group_and_batch")
    routes = []
    for _wave_id, _zone_id, tasks in lists:
        picks = [geo.pick(t[2], t) for t in tasks]
        route = route_optimal(geo.layout, picks)
        routes.append((route.order, round(route_length(geo.layout, picks, route.order), 3)))
    clock.lap("route")
    list_ids = _insert_pick_lists(session, lists, routes, now)
    rows: list[tuple[Any, ...]] = []
    pending = TaskStatus.pending
    for list_id, (_w, _z, tasks), (order, _length) in zip(list_ids, lists, routes, strict=True):
        for seq, i in enumerate(order, 1):
            res_id, line_id, loc_id, sku_id, qty = tasks[i]
            rows.append((list_id, seq, line_id, res_id, loc_id, sku_id, qty, 0, pending, now))
    insert_rows(session, PickTask.__table__, _TASK_COLUMNS, rows)
    clock.lap("store_tasks")
    members_in_order = [
        (wave, c.order) for wave, members in zip(waves, groups, strict=True) for c in members
    ]
    transition_many(
        session,
        [order for _, order in members_in_order],
        OrderStatus.waved,
        actor,
        [{"wave": wave.code} for wave, _ in members_in_order],
        values=[{"wave_id": wave.id} for wave, _ in members_in_order],
    )
    clock.lap("transitions")
    sums = summaries(session, waves)
    for wave in waves:
        publish(session, "wave.planned", sums[wave.id], "dashboard")
    audit(
        session,
        actor,
        "wave.plan",
        entity="wave",
        entity_id=",".join(w.code for w in waves)[:100],
        details={
            "rule": spec.name,
            "rule_id": spec.rule_id,
            "waves": [w.code for w in waves],
            "orders": sum(len(m) for m in groups),
        },
    )
    return PlanResult(waves, skipped, clock.laps)


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._t
        self._t = now


_TASK_COLUMNS = (
    "pick_list_id",
    "seq",
    "order_line_id",
    "reservation_id",
    "location_id",
    "sku_id",
    "quantity",
    "picked_qty",
    "status",
    "updated_at",
)


_LIST_COLUMNS = ("wave_id", "zone_id", "status", "route_length_m", "created_at")


def _insert_pick_lists(
    session: Session,
    lists: list[_List],
    routes: list[tuple[list[int], float]],
    now: dt.datetime,
) -> list[int]:
    """Insert the pick lists in one bulk statement; their ids, in the same order. The waves
    are new in this transaction, so their lists by id are exactly the rows just inserted."""
    status = PickListStatus.open
    insert_rows(
        session,
        PickList.__table__,
        _LIST_COLUMNS,
        (
            (wave_id, zone_id, status, length, now)
            for (wave_id, zone_id, _), (_, length) in zip(lists, routes, strict=True)
        ),
    )
    wave_ids = sorted({wave_id for wave_id, _, _ in lists})
    ids = list(
        session.scalars(
            select(PickList.id).where(PickList.wave_id.in_(wave_ids)).order_by(PickList.id)
        )
    )
    assert len(ids) == len(lists)
    return ids


_Task = tuple[int, int, int, int, int]  # reservation, order line, location, sku, quantity
_List = tuple[int, int | None, list[_Task]]  # wave id, zone id, tasks (not yet routed)


def _batch_wave(
    geo: FloorGeometry, spec: RuleSpec, wave: Wave, members: list[_Cand]
) -> list[_List]:
    """The wave's pick lists (not yet routed): per zone with zone picking, else one pool."""
    pools: dict[int | None, list[list[_Task]]] = defaultdict(list)
    for c in members:
        if spec.split_by_zone:
            by_zone: dict[int, list[_Task]] = defaultdict(list)
            for t in c.tasks:
                by_zone[geo.points[t[2]].zone_id].append(t)
            for zone_id in sorted(by_zone):
                pools[zone_id].append(by_zone[zone_id])
        else:
            pools[None].append(c.tasks)
    lists: list[_List] = []
    for zone_id in sorted(pools, key=lambda z: (z is None, z)):
        pool = pools[zone_id]
        batch_in = [
            BatchOrder(i, tuple(geo.pick(t[2]) for t in tasks), sum(t[4] for t in tasks))
            for i, tasks in enumerate(pool)
        ]
        batches = batch_orders(
            geo.layout,
            batch_in,
            totes_per_cart=spec.totes_per_cart,
            big_order_picks=spec.big_order_picks,
        )
        for batch in batches:
            tasks = [t for i in batch for t in pool[i]]  # type: ignore[index]
            zones = {geo.points[t[2]].zone_id for t in tasks}
            list_zone = zones.pop() if zone_id is None and len(zones) == 1 else zone_id
            lists.append((wave.id, list_zone, tasks))
    return lists


# --------------------------------------------------------------------------
# Release, cancel, progress
# --------------------------------------------------------------------------


def _lock_wave(session: Session, wave_id: int | Wave) -> Wave:
    if isinstance(wave_id, Wave):
        wave_id = wave_id.id
    stmt = select(Wave).where(Wave.id == wave_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    wave = session.scalars(stmt).one_or_none()
    if wave is None:
        raise WaveError("not_found", f"no wave {wave_id}", 404)
    return wave


def picker_rooms(session: Session) -> list[str]:
    ids = session.scalars(
        select(User.id).where(User.role == Role.picker, User.active.is_(True)).order_by(User.id)
    ).all()
    return [f"user:{uid}" for uid in ids]


def release_wave(session: Session, wave_id: int | Wave, actor: Actor | User) -> Wave:
    """planned → released: its tasks become visible to the handhelds."""
    actor = as_actor(actor)
    wave = _lock_wave(session, wave_id)
    if not WAVE_MACHINE.can(wave.status, WaveStatus.released):
        raise WaveError("invalid_transition", f"wave {wave.code} is {wave.status.value}")
    wave.status = WaveStatus.released
    wave.released_at = utcnow()
    audit(session, actor, "wave.release", entity="wave", entity_id=wave.code)
    summary = wave_summary(session, wave)
    publish(session, "wave.released", summary, "dashboard", f"wave:{wave.id}")
    publish(session, "wave.progress", summary, "dashboard")
    rooms = picker_rooms(session)
    if rooms:
        publish(session, "task.available", {"wave_id": wave.id, "wave_code": wave.code}, *rooms)
    return wave


def cancel_wave(
    session: Session, wave_id: int | Wave, actor: Actor | User, reason: str = ""
) -> Wave:
    """Cancel a wave nothing was picked from: orders go back to waiting (reservations kept)."""
    actor = as_actor(actor)
    wave = _lock_wave(session, wave_id)
    if not WAVE_MACHINE.can(wave.status, WaveStatus.canceled):
        raise WaveError("invalid_transition", f"wave {wave.code} is {wave.status.value}")
    started = session.scalar(
        select(func.count(PickTask.id))
        .join(PickList, PickList.id == PickTask.pick_list_id)
        .where(
            PickList.wave_id == wave.id,
            or_(PickTask.picked_qty > 0, PickTask.status.in_(DONE_TASK)),
        )
    )
    if started:
        raise WaveError("wave_started", f"wave {wave.code} has picked tasks; cancel its orders")
    list_ids = select(PickList.id).where(PickList.wave_id == wave.id).scalar_subquery()
    assigned = session.execute(
        select(PickTask.id, PickTask.assigned_user_id).where(
            PickTask.pick_list_id.in_(list_ids),
            PickTask.status.in_(OPEN_TASK),
            PickTask.assigned_user_id.is_not(None),
        )
    ).all()
    session.execute(
        update(PickTask)
        .where(PickTask.pick_list_id.in_(list_ids), PickTask.status.in_(OPEN_TASK))
        .values(status=TaskStatus.canceled, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PickList)
        .where(PickList.wave_id == wave.id)
        .values(status=PickListStatus.canceled)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Tote)
        .where(Tote.pick_list_id.in_(list_ids))
        .values(pick_list_id=None, order_id=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    orders = list(session.scalars(select(Order).where(Order.wave_id == wave.id).order_by(Order.id)))
    waved = [o for o in orders if o.status == OrderStatus.waved]
    for order in orders:
        if order.status != OrderStatus.waved:
            order.wave_id = None
    missing = _orders_missing_units(session, [o.id for o in waved])
    for target in (OrderStatus.short, OrderStatus.allocated):
        group = [o for o in waved if (o.id in missing) == (target == OrderStatus.short)]
        transition_many(
            session,
            group,
            target,
            actor,
            [{"wave_canceled": wave.code}] * len(group),
            values=[{"wave_id": None}] * len(group),
        )
    wave.status = WaveStatus.canceled
    audit(session, actor, "wave.cancel", entity="wave", entity_id=wave.code, reason=reason)
    publish(session, "wave.progress", wave_summary(session, wave), "dashboard")
    for task_id, uid in assigned:
        publish(
            session,
            "task.canceled",
            {"task_id": task_id, "wave_id": wave.id, "reason": "wave canceled"},
            f"user:{uid}",
        )
    return wave


def _orders_missing_units(session: Session, order_ids: list[int]) -> set[int]:
    """The orders (of ``order_ids``) with a line not fully reserved (short ones excepted)."""
    found: set[int] = set()
    for start in range(0, len(order_ids), _CHUNK):
        found.update(
            session.scalars(
                select(OrderLine.order_id)
                .where(
                    among(session, OrderLine.order_id, order_ids[start : start + _CHUNK]),
                    OrderLine.reserved_qty < OrderLine.quantity - OrderLine.short_qty,
                )
                .distinct()
            )
        )
    return found


def summaries(session: Session, waves: Sequence[Wave]) -> dict[int, dict[str, Any]]:
    """Progress of several waves with one query (see ``wave_summary``)."""
    ids = [w.id for w in waves]
    stats: dict[int, dict[str, Any]] = {
        i: {"statuses": defaultdict(int), "units": 0, "picked": 0, "lists": 0, "route": 0.0}
        for i in ids
    }
    if ids:
        for wave_id, status, n, units, picked in session.execute(
            select(
                PickList.wave_id,
                PickTask.status,
                func.count(PickTask.id),
                func.coalesce(func.sum(PickTask.quantity), 0),
                func.coalesce(func.sum(PickTask.picked_qty), 0),
            )
            .join(PickList, PickList.id == PickTask.pick_list_id)
            .where(PickList.wave_id.in_(ids))
            .group_by(PickList.wave_id, PickTask.status)
        ):
            st = stats[wave_id]
            st["statuses"][TaskStatus(status)] += n
            if status != TaskStatus.canceled:
                st["picked"] += int(picked)
                # A short task's unpicked rest is either re-reserved (a new task) or short.
                st["units"] += int(picked) if status == TaskStatus.short else int(units)
        for wave_id, n, route in session.execute(
            select(PickList.wave_id, func.count(PickList.id), func.sum(PickList.route_length_m))
            .where(PickList.wave_id.in_(ids), PickList.status != PickListStatus.canceled)
            .group_by(PickList.wave_id)
        ):
            stats[wave_id]["lists"] = n
            stats[wave_id]["route"] = float(route or 0)
    now = utcnow()
    out = {}
    for w in waves:
        st = stats[w.id]
        s = st["statuses"]
        done = s[TaskStatus.picked] + s[TaskStatus.short]
        total = done + s[TaskStatus.pending] + s[TaskStatus.assigned]
        out[w.id] = {
            "id": w.id,
            "code": w.code,
            "status": w.status.value,
            "rule_id": w.rule_id,
            "cutoff_at": w.cutoff_at.isoformat() if w.cutoff_at else None,
            "seconds_to_cutoff": int((w.cutoff_at - now).total_seconds()) if w.cutoff_at else None,
            "created_at": w.created_at.isoformat(),
            "released_at": w.released_at.isoformat() if w.released_at else None,
            "completed_at": w.completed_at.isoformat() if w.completed_at else None,
            "pick_lists": st["lists"],
            "route_length_m": round(st["route"], 1),
            "tasks": {
                "total": total,
                "done": done,
                "picked": s[TaskStatus.picked],
                "short": s[TaskStatus.short],
                "open": s[TaskStatus.pending] + s[TaskStatus.assigned],
                "canceled": s[TaskStatus.canceled],
            },
            "units": {"total": st["units"], "picked": st["picked"]},
            "percent": round(100.0 * done / total, 1) if total else 0.0,
        }
    return out


def wave_summary(session: Session, wave: Wave) -> dict[str, Any]:
    """Progress for the dashboard: tasks total/done/short, units, percent, time to cut-off."""
    return summaries(session, [wave])[wave.id]


def wave_detail(session: Session, wave: Wave) -> dict[str, Any]:
    """The summary plus every pick list with its tasks in route order."""
    from floor.models import Location, Sku

    detail = wave_summary(session, wave)
    tasks_by_list: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = session.execute(
        select(PickTask, Location.code, Sku.code, OrderLine.order_id)
        .join(PickList, PickList.id == PickTask.pick_list_id)
        .join(Location, Location.id == PickTask.location_id)
        .join(Sku, Sku.id == PickTask.sku_id)
        .join(OrderLine, OrderLine.id == PickTask.order_line_id)
        .where(PickList.wave_id == wave.id)
        .order_by(PickTask.pick_list_id, PickTask.seq, PickTask.id)
    ).all()
    externals = dict(
        session.execute(select(Order.id, Order.external_id).where(Order.wave_id == wave.id)).all()
    )
    for task, loc, sku, order_id in rows:
        tasks_by_list[task.pick_list_id].append(
            {
                "id": task.id,
                "seq": task.seq,
                "status": task.status.value,
                "location": loc,
                "sku": sku,
                "quantity": task.quantity,
                "picked_qty": task.picked_qty,
                "order": externals.get(order_id, str(order_id)),
                "short_reason": task.short_reason.value if task.short_reason else None,
                "assigned_user_id": task.assigned_user_id,
            }
        )
    detail["lists"] = [
        {
            "id": pl.id,
            "zone_id": pl.zone_id,
            "status": pl.status.value,
            "route_length_m": pl.route_length_m,
            "assigned_user_id": pl.assigned_user_id,
            "tasks": tasks_by_list.get(pl.id, []),
        }
        for pl in session.scalars(
            select(PickList).where(PickList.wave_id == wave.id).order_by(PickList.id)
        )
    ]
    detail["orders"] = sorted(externals.values())
    return detail


def settle_after_task(session: Session, task: PickTask) -> None:
    """After a task is picked or short: close its pick list and wave when nothing is open."""
    settle_pick_list(session, task.pick_list_id)


def settle_pick_list(session: Session, pick_list_id: int, *, picking: bool = True) -> None:
    """Close a pick list with no open task (``done``, or ``canceled`` if none of its tasks was
    picked or short) and its wave when no list is open (``completed``, or ``canceled``).

    ``picking=False`` for callers that only canceled tasks (e.g. an order was canceled): the
    wave is then not moved to ``in_progress``. Publishes ``wave.progress``.
    """
    session.flush()
    open_in_list = session.scalar(
        select(func.count(PickTask.id)).where(
            PickTask.pick_list_id == pick_list_id, PickTask.status.in_(OPEN_TASK)
        )
    )
    pick_list = session.get(PickList, pick_list_id)
    assert pick_list is not None
    if not open_in_list and pick_list.status in (PickListStatus.open, PickListStatus.in_progress):
        done = session.scalar(
            select(func.count(PickTask.id)).where(
                PickTask.pick_list_id == pick_list_id, PickTask.status.in_(DONE_TASK)
            )
        )
        pick_list.status = PickListStatus.done if done else PickListStatus.canceled
    wave = session.get(Wave, pick_list.wave_id)
    assert wave is not None
    if picking and wave.status == WaveStatus.released:
        wave.status = WaveStatus.in_progress
    session.flush()
    lists = dict(
        session.execute(
            select(PickList.status, func.count(PickList.id))
            .where(PickList.wave_id == wave.id)
            .group_by(PickList.status)
        ).all()
    )
    still_open = lists.get(PickListStatus.open, 0) + lists.get(PickListStatus.in_progress, 0)
    if not still_open and wave.status in ACTIVE_WAVE:
        if lists.get(PickListStatus.done, 0):
            wave.status = WaveStatus.completed
            wave.completed_at = utcnow()
        else:
            wave.status = WaveStatus.canceled
    publish(session, "wave.progress", wave_summary(session, wave), "dashboard", f"wave:{wave.id}")


def open_orders_done(session: Session, order: Order) -> bool:
    """True when none of the order's tasks is still pending or assigned."""
    n = session.scalar(
        select(func.count(PickTask.id))
        .join(OrderLine, OrderLine.id == PickTask.order_line_id)
        .where(OrderLine.order_id == order.id, PickTask.status.in_(OPEN_TASK))
    )
    return not n


def units_picked(session: Session, order: Order) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(OrderLine.picked_qty), 0)).where(
                OrderLine.order_id == order.id
            )
        )
        or 0
    )


def dashboard_waves(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Open waves (planned, released, in progress) by cut-off, then recent finished ones."""
    waves = list(
        session.scalars(
            select(Wave)
            .order_by(
                case((Wave.status.in_([WaveStatus.completed, WaveStatus.canceled]), 1), else_=0),
                Wave.cutoff_at,
                Wave.id,
            )
            .limit(limit)
        )
    )
    sums = summaries(session, waves)
    return [sums[w.id] for w in waves]


# --------------------------------------------------------------------------
# Auto waves (APScheduler)
# --------------------------------------------------------------------------


def plan_and_release_due_waves(
    sessions: sessionmaker[Session], *, now: dt.datetime | None = None
) -> list[int]:
    """Scheduled job: apply every enabled rule whose ``schedule_every_min`` interval is due.

    Each due rule plans waves from the orders due within its ``cutoff_horizon_min`` (0 = all)
    and releases them when ``auto_release`` is on. Returns the ids of the waves planned.
    """
    now = now or utcnow()
    with unit_of_work(sessions) as s:
        rules = s.scalars(
            select(WaveRule)
            .where(WaveRule.enabled.is_(True), WaveRule.schedule_every_min > 0)
            .order_by(WaveRule.id)
        ).all()
        due = [
            r.id
            for r in rules
            if r.last_run_at is None
            or now - r.last_run_at >= dt.timedelta(minutes=r.schedule_every_min) - _SLACK
        ]
    planned: list[int] = []
    actor = Actor("scheduler")
    for rule_id in due:
        with unit_of_work(sessions) as s:
            rule = s.get(WaveRule, rule_id)
            if rule is None or not rule.enabled:
                continue
            rule.last_run_at = now
            result = plan_waves(
                s, rule, actor, now=now, due_within_min=rule.cutoff_horizon_min or None
            )
            if rule.auto_release:
                for wave in result.waves:
                    release_wave(s, wave.id, actor)
            planned += result.wave_ids
    return planned


# The scheduler ticks every minute; a rule due "every 5 min" must not slip to 6 by jitter.
_SLACK = dt.timedelta(seconds=5)
TICK_SECONDS = 60


def register_jobs(scheduler: Any, floor_ctx: Any) -> None:
    """Job provider for ``web/scheduler.py``: check the wave rules every minute."""
    scheduler.add_job(
        plan_and_release_due_waves,
        "interval",
        seconds=TICK_SECONDS,
        kwargs={"sessions": floor_ctx.sessions},
        id="waves.plan_and_release_due",
        replace_existing=True,
    )


def waiting_orders(session: Session) -> int:
    """Orders a plan would consider now (for the dashboard)."""
    return int(session.scalar(select(func.count(Order.id)).where(_waiting())) or 0)


__all__ = [
    "PlanResult",
    "RuleErrors",
    "RuleSpec",
    "WaveError",
    "cancel_wave",
    "group_into_waves",
    "plan_and_release_due_waves",
    "plan_waves",
    "register_jobs",
    "release_wave",
    "summaries",
    "wave_detail",
    "wave_summary",
]
