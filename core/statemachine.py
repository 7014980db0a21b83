"""A tiny helper for explicit state machines: an enum plus an allowed-transitions table.

Each entity declares its machine once, next to its model, e.g.::

    WAVE_MACHINE = StateMachine("wave", {WaveStatus.planned: {WaveStatus.released, ...}, ...})

and every status change goes through ``machine.check(current, target)``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S", bound=enum.Enum)


class InvalidTransition(Exception):
    """Raised when an entity is asked to move to a state its machine does not allow."""

    code = "invalid_transition"

    def __init__(self, entity: str, current: enum.Enum, target: enum.Enum) -> None:
        super().__init__(f"{entity} cannot go from {current.value} to {target.value}")
        self.entity = entity
        self.current = current
        self.target = target


@dataclass(frozen=True)
class StateMachine(Generic[S]):
    entity: str
    transitions: Mapping[S, frozenset[S] | set[S]]

    def can(self, current: S, target: S) -> bool:
        return target in self.transitions.get(current, ())

    def check(self, current: S, target: S) -> None:
        if not self.can(current, target):
            raise InvalidTransition(self.entity, current, target)
