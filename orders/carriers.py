"""The carriers and services this floor ships with: one registry, shared by order intake
(``unsupported_carrier`` / ``unsupported_service``) and the carrier adapters in sync/.

Names are lower-case codes as the OMS sends them; the first service of each carrier is its
default when an order names none.
"""

from __future__ import annotations

from types import MappingProxyType

CARRIERS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "demo": ("ground", "express"),
        "ups": ("ground", "3_day_select", "2nd_day_air", "next_day_air", "next_day_air_saver"),
        "fedex": (
            "ground",
            "home_delivery",
            "express_saver",
            "2day",
            "standard_overnight",
            "priority_overnight",
        ),
        "dhl": ("express_worldwide", "express_12", "economy_select", "parcel"),
        "usps": ("ground_advantage", "priority", "priority_express", "first_class"),
    }
)


def is_supported(carrier: str) -> bool:
    return carrier in CARRIERS


def services(carrier: str) -> tuple[str, ...]:
    return CARRIERS.get(carrier, ())


def default_service(carrier: str) -> str:
    return CARRIERS[carrier][0]
