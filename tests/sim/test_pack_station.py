"""A simulated packer's wrong scan is of an item the order does not hold: another line's GTIN is
a right item for the order (the server counts it, rightly), so it must not be counted as a wrong
item the server 'missed' (a 2,000-order day showed one such 'wrong_missed')."""

from __future__ import annotations

from web.simulator.floor import not_in_order


def test_wrong_codes_leave_out_every_line_of_the_order() -> None:
    lines = [
        {"line_id": "1", "sku": "SKU-A", "gtins": ["0001", "0001-6PK"], "to_pack": 1},
        {"line_id": "2", "sku": "SKU-B", "gtins": ["0002"], "to_pack": 2},
        {"line_id": "3", "sku": "SKU-C", "gtins": [], "to_pack": 1},
    ]
    seen = {"0001", "0002", "SKU-C", "0003", "0004"}
    assert not_in_order(seen, lines) == ["0003", "0004"]
    assert not_in_order({"0002"}, lines) == []  # nothing wrong to scan: the caller's fallback
