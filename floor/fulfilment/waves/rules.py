"""Wave rules (what a supervisor configures) and the vocabulary the wave modules share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from core.actors import Actor
from core.errors import FieldError, FloorError, Invalid
from core.users import Role, User
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import WaveRule
from floor.fulfilment.states import TaskStatus, WaveStatus

OPEN_TASK = (TaskStatus.pending, TaskStatus.assigned)
DONE_TASK = (TaskStatus.picked, TaskStatus.short)
ACTIVE_WAVE = (WaveStatus.released, WaveStatus.in_progress)
_CHUNK = 2000


def as_actor(user: Actor | User) -> Actor:
    """Services take an ``Actor``; a ``User`` row is accepted too."""
    if isinstance(user, User):
        return Actor(user.username, Role(user.role), user.id)
    return user


class WaveError(FloorError):
    """A refused wave operation (409 unless the raise says otherwise)."""


# --------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------

_BOUNDS = {  # field -> (min, max) for the integer settings
    "cutoff_horizon_min": (0, 7 * 24 * 60),
    "cutoff_window_min": (0, 7 * 24 * 60),
    "max_orders": (1, 100_000),
    "max_lines": (1, 1_000_000),
    "max_units": (1, 10_000_000),
    "totes_per_cart": (1, 100),
    "big_order_picks": (1, 10_000),
    "schedule_every_min": (0, 24 * 60),
}
_FLAGS = ("enabled", "group_by_cutoff", "express_first", "split_by_zone", "auto_release")


@dataclass(frozen=True)
class RuleSpec:
    """The values of a wave rule (a stored ``WaveRule`` or inline values from a request)."""

    name: str = "inline"
    enabled: bool = True
    group_by_cutoff: bool = True
    express_first: bool = True
    split_by_zone: bool = True
    cutoff_horizon_min: int = 240
    cutoff_window_min: int = 60
    max_orders: int = 200
    max_lines: int = 1000
    max_units: int = 5000
    totes_per_cart: int = 8
    big_order_picks: int = 25
    auto_release: bool = False
    schedule_every_min: int = 0
    rule_id: int | None = None

    @classmethod
    def from_rule(cls, rule: WaveRule) -> RuleSpec:
        values = {f.name: getattr(rule, f.name) for f in fields(cls) if f.name != "rule_id"}
        return cls(**values, rule_id=rule.id)

    @classmethod
    def parse(cls, data: Mapping[str, Any], base: RuleSpec | None = None) -> RuleSpec:
        """Validated values over ``base``; raises ``RuleErrors`` listing every bad field."""
        values = asdict(base or cls())
        errors: list[FieldError] = []
        for key, value in data.items():
            if key in ("id", "rule_id", "last_run_at"):
                continue
            if key == "name":
                if not isinstance(value, str) or not value.strip() or len(value) > 80:
                    errors.append(
                        FieldError(FulfilmentErrorCode.invalid, key, "name must be 1-80 characters")
                    )
                else:
                    values[key] = value.strip()
            elif key in _FLAGS:
                if not isinstance(value, bool):
                    errors.append(
                        FieldError(FulfilmentErrorCode.invalid, key, "must be true or false")
                    )
                else:
                    values[key] = value
            elif key in _BOUNDS:
                lo, hi = _BOUNDS[key]
                if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                    errors.append(
                        FieldError(
                            FulfilmentErrorCode.out_of_range, key, f"must be an integer {lo}..{hi}"
                        )
                    )
                else:
                    values[key] = value
            else:
                errors.append(
                    FieldError(FulfilmentErrorCode.unknown_field, key, "not a wave rule setting")
                )
        if errors:
            raise RuleErrors(errors)
        return cls(**values)

    def apply_to(self, rule: WaveRule) -> None:
        for f in fields(self):
            if f.name != "rule_id":
                setattr(rule, f.name, getattr(self, f.name))


class RuleErrors(Invalid):
    """A wave rule with invalid settings: 422, one ``FieldError`` per bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.errors = errors


def rule_to_dict(rule: WaveRule) -> dict[str, Any]:
    d = {"id": rule.id, **{k: v for k, v in asdict(RuleSpec.from_rule(rule)).items()}}
    d.pop("rule_id")
    d["last_run_at"] = rule.last_run_at.isoformat() if rule.last_run_at else None
    return d
