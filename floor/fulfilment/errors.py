"""Error codes of the floor's work: waves and their rules, picking, packing, shipping, carriers
and the exception queue. Each refusal is a ``core.errors.FloorError`` subclass named after what
refused (``WaveError``, ``PickError``, ``PackError``, ``ShipError``, ``CarrierError``,
``ExceptionError``) with one of these codes; generic reasons (``not_found``, ``forbidden``,
``not_authenticated``, ``invalid_transition``) come from ``core.errors.CoreErrorCode``.
"""

from __future__ import annotations

import enum


class FulfilmentErrorCode(enum.StrEnum):
    # waves and wave rules (rule fields: 422 per field)
    wave_started = "wave_started"
    rule_not_found = "rule_not_found"
    invalid = "invalid"
    too_long = "too_long"  # text longer than any barcode or station code
    out_of_range = "out_of_range"
    unknown_field = "unknown_field"
    required = "required"
    duplicate = "duplicate"
    # picking (handheld and supervisor override)
    invalid_client_scan_id = "invalid_client_scan_id"
    scan_id_reused = "scan_id_reused"  # a known client_scan_id sent with other content
    no_reservation = "no_reservation"
    stock_mismatch = "stock_mismatch"
    reason_required = "reason_required"
    task_closed = "task_closed"
    invalid_quantity = "invalid_quantity"
    invalid_reason = "invalid_reason"
    override_id_reused = "override_id_reused"  # a known override_id sent with other content
    stale_override = "stale_override"  # picked_before is not what the task has picked now
    # moving a started pick list to another picker
    not_held = "not_held"
    invalid_picker = "invalid_picker"
    same_picker = "same_picker"
    # the pack station
    missing_code = "missing_code"
    unknown_code = "unknown_code"
    already_shipped = "already_shipped"
    not_ready = "not_ready"
    order_canceled = "order_canceled"  # its tote was scanned: the items go back, not out
    invalid_weight = "invalid_weight"
    no_stable_weight = "no_stable_weight"  # a close without weight_g, the scale not stable
    invalid_dimensions = "invalid_dimensions"
    invalid_items = "invalid_items"
    not_open = "not_open"  # the order named is not the one open at the station
    nothing_open = "nothing_open"  # an item scan at a station with no order open
    # packing a carton (fields of the package)
    wrong_status = "wrong_status"
    no_packages = "no_packages"
    empty_package = "empty_package"
    unknown_line = "unknown_line"
    over_packed = "over_packed"
    unknown_station = "unknown_station"
    close_id_reused = "close_id_reused"  # a close_id already named another order's close
    # carriers (a carrier's own reason code is passed through as it came, see CarrierError)
    carrier_failed = "carrier_failed"
    carrier_unreachable = "carrier_unreachable"
    bad_carrier_answer = "bad_carrier_answer"
    unknown_tracking = "unknown_tracking"
    # the exception queue
    resolution_required = "resolution_required"
    use_return_to_stock = "use_return_to_stock"  # resolved by "returned to stock", not by text
    # a canceled order's picked units back to stock
    order_not_canceled = "order_not_canceled"
    nothing_to_return = "nothing_to_return"
