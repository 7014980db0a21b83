"""A local carrier that needs no network: deterministic tracking numbers with a check digit,
and "delivered" a configurable time after shipment (so a demo shows it).

It stands in for whichever carrier an order names (``DemoCarrier("ups")``) and makes no label of
its own: its ``Label`` has the format ``"demo"`` and no data, and ``printing.labels`` builds the
GS1 shipping label from the package and its order, with the order's carrier and service marked
"· demo" (``UPS GROUND · demo``)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from core.db import utcnow
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import Package
from floor.fulfilment.packing.carriers import CarrierError, Label, Shipment, TrackingStatus
from orders.models import Order

PREFIX = "DM"
DEMO_LABEL_FORMAT = "demo"  # no carrier label: the floor prints its own, marked "demo"


def luhn_digit(digits: str) -> str:
    """Luhn (mod 10) check digit for a string of digits."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def tracking_number_for(sscc: str) -> str:
    body = sscc[:17]
    return f"{PREFIX}{body}{luhn_digit(body)}"


def is_valid_tracking(number: str) -> bool:
    body = number[len(PREFIX) : -1]
    return (
        number.startswith(PREFIX)
        and len(number) == len(PREFIX) + 18
        and body.isdigit()
        and luhn_digit(body) == number[-1]
    )


class DemoCarrier:
    def __init__(self, name: str = "demo", *, delivery_after: dt.timedelta | None = None) -> None:
        self.name = name
        self.delivery_after = dt.timedelta(minutes=2) if delivery_after is None else delivery_after

    def create_shipment(self, package: Package, order: Order) -> Shipment:
        if package.weight_g <= 0:
            raise CarrierError(
                FulfilmentErrorCode.invalid_weight, "package weight must be positive"
            )
        tracking = tracking_number_for(package.sscc)
        service = order.service or "ground"
        return Shipment(tracking, service, Label(DEMO_LABEL_FORMAT, b""))

    def tracking_status(
        self, tracking_number: str, *, shipped_at: dt.datetime | None = None
    ) -> TrackingStatus:
        if not is_valid_tracking(tracking_number):
            raise CarrierError(
                FulfilmentErrorCode.unknown_tracking,
                f"not a demo tracking number: {tracking_number}",
            )
        if shipped_at is None:
            return TrackingStatus("unknown")
        due = shipped_at + self.delivery_after
        if utcnow() >= due:
            return TrackingStatus("delivered", due)
        return TrackingStatus("in_transit")

    def manifest(self, packages: Sequence[Package], day: str) -> str:
        digest = hashlib.sha256(
            ",".join(sorted(p.tracking_number or "" for p in packages)).encode()
        ).hexdigest()
        return f"DM-{day.replace('-', '')}-{digest[:8].upper()}"
