"""Carrier adapters: ``carrier_for(name, settings)`` picks the HTTP adapter for carriers listed
in FLOOR_CARRIER_URLS ("name=http://host:port/base,...") and the local demo carrier otherwise."""

from __future__ import annotations

import datetime as dt

from core.settings import Settings
from floor.fulfilment.packing.carriers import (
    CarrierAdapter,
    CarrierError,
    Label,
    Shipment,
    TrackingStatus,
)
from sync.carriers.demo import DemoCarrier
from sync.carriers.http import HttpCarrier

__all__ = [
    "CarrierAdapter",
    "CarrierError",
    "DemoCarrier",
    "HttpCarrier",
    "Label",
    "Shipment",
    "TrackingStatus",
    "carrier_for",
    "carrier_urls",
]


def carrier_urls(settings: Settings) -> dict[str, str]:
    out = {}
    for item in settings.carrier_urls.split(","):
        name, sep, url = item.strip().partition("=")
        if sep and name.strip() and url.strip():
            out[name.strip()] = url.strip()
    return out


def carrier_for(name: str, settings: Settings) -> CarrierAdapter:
    url = carrier_urls(settings).get(name)
    if url:
        return HttpCarrier(name, url, api_key=settings.carrier_api_key)
    return DemoCarrier(name, delivery_after=dt.timedelta(minutes=settings.demo_delivery_min))
