"""What every carrier adapter offers: create a shipment (tracking number + label), tell a
package's tracking status, and take the end-of-day manifest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import FloorError
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import Package
from orders.models import Order


@dataclass(frozen=True)
class Label:
    format: str  # "zpl" or "pdf"; "demo": none, the floor prints its own label (printing/)
    data: bytes


@dataclass(frozen=True)
class Shipment:
    tracking_number: str
    service: str
    label: Label


@dataclass(frozen=True)
class TrackingStatus:
    status: str  # "in_transit", "delivered", "exception", "unknown"
    delivered_at: dt.datetime | None = None

    @property
    def delivered(self) -> bool:
        return self.status == "delivered"


class CarrierError(FloorError):
    """The carrier refused or could not be reached (502: the floor's gateway failed);
    ``retryable`` says whether to try later. ``code`` is a ``FulfilmentErrorCode`` when the
    floor names the reason, or the carrier's own reason code (a str) passed through as it came:
    the one place a code is not an enum member, because the vocabulary is the carrier's."""

    code = FulfilmentErrorCode.carrier_failed
    http_status = 502

    def __init__(
        self, code: FulfilmentErrorCode | str, message: str, *, retryable: bool = False
    ) -> None:
        super().__init__(code, message)  # type: ignore[arg-type]  # a carrier's code: a str
        self.retryable = retryable


class CarrierAdapter(Protocol):
    name: str

    def create_shipment(self, package: Package, order: Order) -> Shipment: ...

    def tracking_status(
        self, tracking_number: str, *, shipped_at: dt.datetime | None = None
    ) -> TrackingStatus: ...

    def manifest(self, packages: Sequence[Package], day: str) -> str: ...


def shipment_request(package: Package, order: Order) -> dict[str, Any]:
    """What a carrier needs to rate and label one package (JSON-ready)."""
    return {
        "order": order.external_id,
        "service": order.service,
        "ship_to": order.ship_to,
        "package": {
            "sscc": package.sscc,
            "weight_g": package.weight_g,
            "length_mm": package.length_mm,
            "width_mm": package.width_mm,
            "height_mm": package.height_mm,
        },
    }
