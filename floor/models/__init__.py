"""Typed SQLAlchemy models owned by the floor package."""

from floor.models.layout import Aisle, Location, LocationType, Sku, SkuGtin, Zone
from floor.models.stock import Reservation, Stock
from floor.models.users import ApiKey, AuditEntry, Role, User
from floor.models.work import (
    FloorException,
    Manifest,
    Package,
    PackageItem,
    PickList,
    PickTask,
    ReplenishmentTask,
    Tote,
    Wave,
    WaveRule,
)

__all__ = [
    "Aisle",
    "ApiKey",
    "AuditEntry",
    "FloorException",
    "Location",
    "LocationType",
    "Manifest",
    "Package",
    "PackageItem",
    "PickList",
    "PickTask",
    "ReplenishmentTask",
    "Reservation",
    "Role",
    "Sku",
    "SkuGtin",
    "Stock",
    "Tote",
    "User",
    "Wave",
    "WaveRule",
    "Zone",
]
