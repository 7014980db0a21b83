"""A tote is found by its scanned code in any letter case, through an index: the put-to-tote
scan and the pack station's "scan the tote" must not read every tote of the site."""

from __future__ import annotations

from sqlalchemy import select

from core.db import unit_of_work
from floor.fulfilment.models import Tote
from floor.fulfilment.packing.station import _ORDER_BY_CODE, find_order
from floor.fulfilment.picking.fast_path import _FACTS
from tests.factories import DEFAULT_LINES, picked_order, query_plan


def test_tote_lookups_use_the_upper_case_index(sessions):
    with unit_of_work(sessions) as s:
        for statement, params in (
            (_FACTS.statement, {"task_id": 1, "code": "T0001"}),  # is the scan a tote's?
            (_ORDER_BY_CODE, {"fo_tote": "T0001", "fo_code": "T0001"}),
        ):
            plan = query_plan(s, statement, params)
            assert "ix_totes_code_upper" in plan, plan
            assert "SCAN totes" not in plan and "Seq Scan on totes" not in plan, plan


def test_the_pack_station_finds_an_order_by_its_tote_in_any_case(sessions):
    order_code, tote_code = picked_order(sessions, DEFAULT_LINES)
    with unit_of_work(sessions) as s:
        assert s.scalar(select(Tote.code).where(Tote.code == tote_code)) == tote_code
        for typed in (tote_code.lower(), f"  {tote_code.upper()} "):
            assert find_order(s, typed).external_id == order_code
