"""The order state machine: the one place that says which status may follow which."""

from __future__ import annotations

import enum

from core.statemachine import StateMachine


class OrderStatus(enum.StrEnum):
    received = "received"
    allocated = "allocated"
    short = "short"
    waved = "waved"
    picking = "picking"
    picked = "picked"
    packed = "packed"
    shipped = "shipped"
    delivered = "delivered"
    on_hold = "on_hold"
    canceled = "canceled"


class Priority(enum.StrEnum):
    standard = "standard"
    express = "express"


class ShortPolicy(enum.StrEnum):
    ship_partial = "ship_partial"
    hold = "hold"


S = OrderStatus
ORDER_MACHINE: StateMachine[OrderStatus] = StateMachine(
    "order",
    {
        S.received: {S.allocated, S.short, S.on_hold, S.canceled},
        S.allocated: {S.waved, S.short, S.on_hold, S.canceled},
        S.short: {S.allocated, S.waved, S.on_hold, S.canceled},
        S.waved: {S.picking, S.picked, S.allocated, S.short, S.on_hold, S.canceled},
        S.picking: {S.picked, S.short, S.on_hold, S.canceled},
        S.picked: {S.packed, S.on_hold, S.canceled},
        S.packed: {S.shipped, S.on_hold, S.canceled},
        S.shipped: {S.delivered},
        S.delivered: set(),
        S.on_hold: {
            S.received,
            S.allocated,
            S.short,
            S.waved,
            S.picking,
            S.picked,
            S.packed,
            S.canceled,
        },
        S.canceled: set(),
    },
)

OPEN_STATUSES = frozenset(
    {S.received, S.allocated, S.short, S.waved, S.picking, S.picked, S.packed, S.on_hold}
)
