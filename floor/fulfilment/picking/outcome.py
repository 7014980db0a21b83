"""What a picking operation answers: ``PickOutcome`` (``ok`` or a reason code, with the task
before and after), and ``PickError`` for a refusal that changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import FloorError
from floor.fulfilment.models import PickTask


class PickError(FloorError):
    """A refused picking operation (409 unless the raise says otherwise)."""


@dataclass
class PickOutcome:
    """What a scan or short report did; ``result`` is ``ok`` or a reason code. ``view`` is the
    handheld's view of the task after it (``views.task_payload``) when the scan built it itself
    (``fast_path``): then ``task`` is None and the task stays current unless the scan finished
    it; ``next_view`` is then the view of the next task when one was built the same way
    (else ``next_task`` is the task, or None: no work left)."""

    result: str
    message: str
    task: PickTask | None = None
    next_task: PickTask | None = None
    kind: str = ""  # item | location | short | unknown
    units: int = 0
    replayed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    view: dict[str, Any] | None = None
    next_view: dict[str, Any] | None = None
