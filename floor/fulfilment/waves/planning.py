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
3. Batching (``batching.batch_orders``, seed-and-grow over aisle footprints): one tote an
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, load_only

from core.actors import Actor
from core.audit import audit
from core.bulk import among, insert_rows
from core.db import refresh_statistics, utcnow
from core.events import publish
from core.users import User
from floor.fulfilment.models import PickList, PickTask, Wave, WaveRule
from floor.fulfilment.states import PickListStatus, TaskStatus, WaveStatus
from floor.fulfilment.waves.batching import BatchOrder, batch_orders
from floor.fulfilment.waves.progress import (
    cancel_wave,
    dashboard_waves,
    open_orders_done,
    picker_rooms,
    release_wave,
    settle_after_task,
    settle_pick_list,
    summaries,
    units_picked,
    wave_detail,
    wave_summary,
)
from floor.fulfilment.waves.rules import (
    _CHUNK,
    ACTIVE_WAVE,
    DONE_TASK,
    OPEN_TASK,
    RuleErrors,
    RuleSpec,
    WaveError,
    as_actor,
    rule_to_dict,
)
from floor.site.geometry import FloorGeometry, geometry
from floor.site.routing import route_length, route_optimal
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from orders.states import OrderStatus, Priority, ShortPolicy
from orders.transitions import transition_many

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
    refresh_statistics(session, Wave.__tablename__, PickList.__tablename__, PickTask.__tablename__)
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


def waiting_orders(session: Session) -> int:
    """Orders a plan would consider now (for the dashboard)."""
    return int(session.scalar(select(func.count(Order.id)).where(_waiting())) or 0)


# The waves API in one place: planning lives here, the rest in waves.rules (rules and
# shared vocabulary), waves.progress (release, cancel, progress) and waves.jobs.
__all__ = [
    "ACTIVE_WAVE",
    "DONE_TASK",
    "OPEN_TASK",
    "PlanResult",
    "RuleErrors",
    "RuleSpec",
    "WaveError",
    "as_actor",
    "cancel_wave",
    "dashboard_waves",
    "group_into_waves",
    "open_orders_done",
    "picker_rooms",
    "plan_waves",
    "release_wave",
    "rule_to_dict",
    "settle_after_task",
    "settle_pick_list",
    "summaries",
    "units_picked",
    "waiting_orders",
    "wave_detail",
    "wave_summary",
]
