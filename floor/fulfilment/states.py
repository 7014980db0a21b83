"""State machines of the floor's own entities (waves, pick lists, pick tasks, packages,
exceptions, replenishment). Orders, print jobs and outbox events keep theirs in their packages."""

from __future__ import annotations

import enum

from core.statemachine import StateMachine


class WaveStatus(enum.StrEnum):
    planned = "planned"
    released = "released"
    in_progress = "in_progress"
    completed = "completed"
    canceled = "canceled"


W = WaveStatus
WAVE_MACHINE: StateMachine[WaveStatus] = StateMachine(
    "wave",
    {
        W.planned: {W.released, W.canceled},
        W.released: {W.in_progress, W.completed, W.canceled},
        W.in_progress: {W.completed, W.canceled},
        W.completed: set(),
        W.canceled: set(),
    },
)


class PickListStatus(enum.StrEnum):
    open = "open"
    in_progress = "in_progress"
    done = "done"
    canceled = "canceled"


L = PickListStatus
PICK_LIST_MACHINE: StateMachine[PickListStatus] = StateMachine(
    "pick_list",
    {
        L.open: {L.in_progress, L.done, L.canceled},
        L.in_progress: {L.done, L.canceled, L.open},
        L.done: set(),
        L.canceled: set(),
    },
)


class TaskStatus(enum.StrEnum):
    pending = "pending"
    assigned = "assigned"
    picked = "picked"
    short = "short"
    canceled = "canceled"


T = TaskStatus
TASK_MACHINE: StateMachine[TaskStatus] = StateMachine(
    "pick_task",
    {
        T.pending: {T.assigned, T.picked, T.short, T.canceled},
        T.assigned: {T.pending, T.picked, T.short, T.canceled},
        T.picked: set(),
        T.short: set(),
        T.canceled: set(),
    },
)


class PackageStatus(enum.StrEnum):
    open = "open"
    closed = "closed"
    labeled = "labeled"
    shipped = "shipped"
    voided = "voided"


P = PackageStatus
PACKAGE_MACHINE: StateMachine[PackageStatus] = StateMachine(
    "package",
    {
        P.open: {P.closed, P.voided},
        P.closed: {P.labeled, P.open, P.voided},
        P.labeled: {P.shipped, P.voided},
        P.shipped: set(),
        P.voided: set(),
    },
)
