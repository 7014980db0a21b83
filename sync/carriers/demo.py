"""A local carrier that needs no network: deterministic tracking numbers with a check digit,
a ZPL label, and "delivered" a configurable time after shipment (so a demo shows it)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from core.db import utcnow
from floor.fulfilment.models import Package
from floor.fulfilment.packing.carriers import CarrierError, Label, Shipment, TrackingStatus
from orders.models import Order

PREFIX = "DM"


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


def _zpl(package: Package, order: Order, tracking: str, service: str) -> str:
    to = order.ship_to or {}
    lines = [
        to.get("name", ""),
        to.get("address1", ""),
        " ".join(str(to.get(k, "")) for k in ("postal_code", "city")).strip(),
        to.get("country", ""),
    ]
    text = "".join(
        f"^FO40,{60 + 40 * i}^A0N,32,32^FD{line}^FS" for i, line in enumerate(lines) if line
    )
    return (
        "^XA^CI28"
        f"^FO40,20^A0N,36,36^FDDEMO CARRIER {service.upper()}^FS"
        f"{text}"
        f"^FO40,260^BY3^BCN,120,Y,N,N^FD{tracking}^FS"
        f"^FO40,440^BY3^BCN,120,Y,N,N^FD>;>800{package.sscc}^FS"
        f"^FO40,620^A0N,28,28^FDOrder {order.external_id}  {package.weight_g / 1000:.2f} kg^FS"
        "^XZ"
    )


class DemoCarrier:
    def __init__(self, name: str = "demo", *, delivery_after: dt.timedelta | None = None) -> None:
        self.name = name
        self.delivery_after = dt.timedelta(minutes=2) if delivery_after is None else delivery_after

    def create_shipment(self, package: Package, order: Order) -> Shipment:
        if package.weight_g <= 0:
            raise CarrierError("invalid_weight", "package weight must be positive")
        tracking = tracking_number_for(package.sscc)
        service = order.service or "ground"
        return Shipment(
            tracking, service, Label("zpl", _zpl(package, order, tracking, service).encode())
        )

    def tracking_status(
        self, tracking_number: str, *, shipped_at: dt.datetime | None = None
    ) -> TrackingStatus:
        if not is_valid_tracking(tracking_number):
            raise CarrierError("unknown_tracking", f"not a demo tracking number: {tracking_number}")
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
