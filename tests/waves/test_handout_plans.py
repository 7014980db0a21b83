"""What a picker's scan asks the database grows with the picker's own work, not with the site's:
the next task starts from the picker's lists, a claim from the released waves, a scan's cart
from the list's totes. (Joined the other way, SQLite read every pending task of the site after
each finished task, and every open list at each claim, inside the writer lock.)"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, select

from core.db import unit_of_work
from floor.fulfilment.models import PickList, PickTask, Tote, Wave
from floor.fulfilment.picking.fast_path import _FACTS
from floor.fulfilment.picking.handout import _NEXT_TASK, _OPEN_LIST, next_task_id
from floor.fulfilment.states import TASK_MACHINE, PickListStatus, TaskStatus
from orders.models import OrderLine
from tests.factories import DEFAULT_LINES, actor_for, add_order, plan_and_release, query_plan


def _sqlite_only(sessions) -> None:
    if sessions.kw["bind"].dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans by its statistics; SQLite's plan follows the query's form")


def test_the_next_task_reads_the_pickers_lists_not_every_pending_task(sessions):
    _sqlite_only(sessions)
    with unit_of_work(sessions) as s:
        plan = query_plan(s, _NEXT_TASK.statement, {"user_id": 1})
    # the pending tasks are reached through their list (pick_list_id), never by status alone,
    # and the picker's lists under way through (picker, status): not every list they ever had
    pending_branch = plan.split("UNION ALL", 1)[1]
    assert (
        "ix_pick_lists_assigned_user_id_status (assigned_user_id=? AND status=?)" in pending_branch
    ), plan
    assert "ix_pick_tasks_status" not in pending_branch, plan


def test_a_claim_reads_the_released_waves_not_every_open_list(sessions):
    _sqlite_only(sessions)
    with unit_of_work(sessions) as s:
        plan = query_plan(s, _OPEN_LIST, {})
    assert re.search(r"SEARCH waves USING INDEX", plan), plan
    assert "ix_pick_lists_status" not in plan, plan
    assert "ix_pick_lists_wave_id" in plan, plan


def test_a_scans_cart_reads_the_lists_totes_not_every_tote(sessions):
    with unit_of_work(sessions) as s:
        plan = query_plan(s, _FACTS.statement, {"task_id": 1})
    assert "SCAN totes" not in plan and "Seq Scan on totes" not in plan, plan


def test_pickers_get_the_earliest_waves_first_list_then_its_tasks_in_route_order(sessions):
    """The reshaped queries hand out the same work: the first open list of the wave with the
    earliest cut-off, its tasks by seq, and a second picker the next list."""
    with unit_of_work(sessions) as s:
        for _ in range(6):
            add_order(s, DEFAULT_LINES)
        plan_and_release(s, totes_per_cart=2)
    with unit_of_work(sessions) as s:
        first_list = s.scalars(
            select(PickList)
            .join(Wave, Wave.id == PickList.wave_id)
            .order_by(Wave.cutoff_at, Wave.id, PickList.id)
        ).first()
        picker = actor_for(s, "pat")
        task_id = next_task_id(s, picker)
        task = s.get(PickTask, task_id)
        assert task.pick_list_id == first_list.id
        route = s.scalars(
            select(PickTask.id)
            .where(PickTask.pick_list_id == first_list.id)
            .order_by(PickTask.seq, PickTask.id)
        ).all()
        assert task_id == route[0]
        assert next_task_id(s, picker) == task_id  # asked again: the same task, still theirs
        TASK_MACHINE.move(s.get(PickTask, task_id), TaskStatus.picked)  # done: the list's next
        s.flush()
        assert len(route) > 1, "a cart of two orders of three lines"
        assert next_task_id(s, picker) == route[1]


def test_a_claim_with_fewer_free_totes_than_orders_gives_the_first_order_the_tote(sessions):
    """One free tote left for a cart of two orders: the order picked first (route order) gets
    it, the other order's tasks go without a tote, and the list and its first task are the
    picker's."""
    with unit_of_work(sessions) as s:
        for _ in range(2):
            add_order(s, DEFAULT_LINES)
        plan_and_release(s, totes_per_cart=2)
        keep = s.scalar(select(Tote.code).order_by(Tote.code).limit(1))
        s.execute(delete(Tote).where(Tote.code != keep))
    with unit_of_work(sessions) as s:
        picker = actor_for(s, "pat")
        task_id = next_task_id(s, picker)
        task = s.get(PickTask, task_id)
        pick_list = s.get(PickList, task.pick_list_id)
        assert (pick_list.status, pick_list.assigned_user_id) == (
            PickListStatus.in_progress,
            picker.user_id,
        )
        assert (task.status, task.assigned_user_id) == (TaskStatus.assigned, picker.user_id)
        tote = s.scalar(select(Tote).where(Tote.code == keep))
        assert tote.pick_list_id == pick_list.id
        first_order = s.get(OrderLine, task.order_line_id).order_id
        assert tote.order_id == first_order
        totes = set(
            s.execute(
                select(OrderLine.order_id, PickTask.tote_id)
                .join(OrderLine, OrderLine.id == PickTask.order_line_id)
                .where(PickTask.pick_list_id == pick_list.id)
            ).all()
        )
        orders = {order for order, _ in totes}
        assert len(orders) == 2, "a cart of two orders"
        assert totes == {(first_order, tote.id)} | {(o, None) for o in orders - {first_order}}
