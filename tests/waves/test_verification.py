"""Verification that proves where the picker stood and which tote the item went into:
location confirmation (off / scan / check digits), put-to-tote on a cart of several totes,
and GS1 lot/expiry against the reserved stock. Each refusal books nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.db import unit_of_work
from floor.fulfilment.models import Tote
from floor.fulfilment.picking.scans import confirm_scan, next_task
from floor.fulfilment.picking.views import task_payload
from floor.fulfilment.waves.planning import RuleSpec
from floor.site.layout import Location
from floor.site.settings import set_location_confirm
from floor.site.stock import Reservation, Stock
from tests.factories import actor_for
from tests.waves.test_picking import _gtin, _released, _state


def test_location_confirmation_off_shows_the_check_code_and_an_item_scan_is_enough(sessions):
    with unit_of_work(sessions) as s:
        _released(s, [("SKU-00100", 1)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        payload = task_payload(s, task)
        assert payload["confirm"] == "off" and payload["location"]["check_code"]
        assert confirm_scan(s, pat, task.id, _gtin(s, task.sku_id), "off-1").result == "ok"


def test_scan_mode_hides_the_check_code_and_refuses_items_until_the_location_is_scanned(sessions):
    with unit_of_work(sessions) as s:
        set_location_confirm(s, "scan", "sam")
        _released(s, [("SKU-00100", 2)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        loc = s.get(Location, task.location_id)
        payload = task_payload(s, task)
        assert payload["location"]["check_code"] is None  # not on screen: it is on the label
        assert payload["location_confirmed"] is False
        before = _state(s, task)
        out = confirm_scan(s, pat, task.id, _gtin(s, task.sku_id), "sc-1")
        assert out.result == "location_not_confirmed"
        assert f"scan the location barcode on {loc.code}" in out.message
        typed = confirm_scan(s, pat, task.id, loc.check_code, "sc-2")
        assert typed.result == "scan_location"  # typed digits prove nothing in scan mode
        assert _state(s, task) == before
        assert confirm_scan(s, pat, task.id, loc.code, "sc-3").result == "ok"
        assert task_payload(s, task)["location_confirmed"] is True
        out = confirm_scan(s, pat, task.id, _gtin(s, task.sku_id), "sc-4")
        assert out.result == "ok" and task.picked_qty == 1


def test_check_digit_mode_takes_the_digits_from_the_rack_label(sessions):
    with unit_of_work(sessions) as s:
        set_location_confirm(s, "check_digits", "sam")
        _released(s, [("SKU-00100", 1)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        loc = s.get(Location, task.location_id)
        out = confirm_scan(s, pat, task.id, _gtin(s, task.sku_id), "cd-1")
        assert out.result == "location_not_confirmed" and "check digits" in out.message
        assert confirm_scan(s, pat, task.id, loc.check_code, "cd-2").result == "ok"
        assert confirm_scan(s, pat, task.id, _gtin(s, task.sku_id), "cd-3").result == "ok"


def test_put_to_tote_wrong_tote_books_nothing_and_the_right_tote_books_the_units(sessions):
    with unit_of_work(sessions) as s:
        rule = RuleSpec(split_by_zone=False, totes_per_cart=8)
        _released(s, [("SKU-00100", 1)], [("SKU-00101", 1)], rule=rule)
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        payload = task_payload(s, task)
        assert payload["tote_scan"] is True and len(payload["totes_on_cart"]) == 2
        right = s.get(Tote, task.tote_id).code
        wrong = next(t for t in payload["totes_on_cart"] if t != right)
        before = _state(s, task)
        held = confirm_scan(s, pat, task.id, _gtin(s, task.sku_id), "pt-1")
        assert (held.result, held.kind, held.extra["await_tote"]) == ("ok", "item_held", right)
        # the fast path's view names the cart's totes as the general view does, sorted
        cart = sorted(s.scalars(select(Tote.code).where(Tote.pick_list_id == task.pick_list_id)))
        assert held.view["totes_on_cart"] == payload["totes_on_cart"] == cart
        assert _state(s, task) == before  # nothing booked until the tote is scanned
        again = confirm_scan(s, pat, task.id, _gtin(s, task.sku_id), "pt-1b")  # 1 of 1 in hand
        assert again.result == "over_pick" and f"scan tote {right} first" in again.message
        assert again.extra["await_tote"] == right and _state(s, task) == before
        out = confirm_scan(s, pat, task.id, wrong, "pt-2")
        assert out.result == "wrong_tote" and right in out.message
        assert _state(s, task) == before
        out = confirm_scan(s, pat, task.id, right, "pt-3")
        assert out.result == "ok" and out.kind == "tote" and task.picked_qty == 1


def test_gs1_lot_and_expiry_are_checked_against_the_reserved_stock(sessions):
    with unit_of_work(sessions) as s:
        _released(s, [("SKU-00100", 2)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        stock = s.get(Stock, s.get(Reservation, task.reservation_id).stock_id)
        stock.lot = "L-RIGHT"
        s.flush()
        gtin = _gtin(s, task.sku_id).zfill(14)
        before = _state(s, task)
        future = (dt.date.today() + dt.timedelta(days=200)).strftime("%y%m%d")
        past = (dt.date.today() - dt.timedelta(days=3)).strftime("%y%m%d")
        wrong = confirm_scan(s, pat, task.id, f"]C101{gtin}17{future}10L-WRONG", "lot-1")
        assert wrong.result == "wrong_lot" and "L-RIGHT" in wrong.message
        expired = confirm_scan(s, pat, task.id, f"01{gtin}17{past}10L-RIGHT", "lot-2")
        assert expired.result == "expired_lot"
        assert _state(s, task) == before
        ok = confirm_scan(s, pat, task.id, f"01{gtin}17{future}10L-RIGHT~21S1", "lot-3")
        assert ok.result == "ok" and task.picked_qty == 1


def test_after_the_last_task_the_picker_is_told_where_to_take_the_cart(sessions):
    with unit_of_work(sessions) as s:
        _released(s, [("SKU-00100", 1)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        out = confirm_scan(s, pat, task.id, _gtin(s, task.sku_id), "end-1")
        assert out.next_task is None
        assert out.extra["cart_to"] == "PACK-01" and "take cart to PACK-01" in out.message
