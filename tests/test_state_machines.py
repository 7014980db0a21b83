"""Every status change goes through its entity's state machine.

* Each machine's table is walked pair by pair: an allowed move passes, every other one raises
  ``InvalidTransition`` and leaves the entity where it was. The machines are found by importing
  every module of the product, so a new machine is walked without being listed here.
* The product's code is scanned (AST) for status writes that bypass ``core.statemachine``:
  ``x.status = ...``, ``update(...).values(status=...)``, ``setattr(x, "status", ...)``.
* The set-based paths (``move_where``, ``move_rows``, ``transition_many``) check before they
  write, and ``update_rows`` refuses an unchecked ``status`` column.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import bindparam, func, select

from core.actors import Actor
from core.bulk import update_rows
from core.db import unit_of_work
from core.exception_queue import (
    EXCEPTION_MACHINE,
    ExceptionReason,
    ExceptionStatus,
    FloorException,
)
from core.statemachine import InvalidTransition, StateMachine
from orders.models import Order
from orders.outbox import OutboxEvent
from orders.states import ORDER_MACHINE, OrderStatus
from orders.transitions import transition_many
from tests.factories import add_order

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "orders", "floor", "devices", "printing", "sync", "web")
SCANNED = (*PACKAGES, "migrations")  # and app.py
# The one module allowed to write a status column.
MACHINE_MODULE = Path("core/statemachine.py")
# Status writes outside core/statemachine.py that are allowed, as "path:line" (keep it empty:
# give the code a machine instead).
ALLOWED: frozenset[str] = frozenset()

EXPECTED_MACHINES = {
    "order",
    "wave",
    "pick_list",
    "pick_task",
    "package",
    "exception",
    "replenishment",
    "print_job",
    "outbox_event",
}


def _all_machines() -> dict[str, StateMachine]:
    found: dict[str, StateMachine] = {}
    for package in PACKAGES:
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, StateMachine):
                    found[value.entity] = value
    return found


MACHINES = _all_machines()


def test_every_entity_has_its_machine():
    assert set(MACHINES) >= EXPECTED_MACHINES


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_machine_table_is_complete(name):
    """Every state is a row of its table (a final state with an empty set), and every target
    is a state of the same enum."""
    machine = MACHINES[name]
    states = set(type(next(iter(machine.transitions))))
    assert set(machine.transitions) == states
    for targets in machine.transitions.values():
        assert set(targets) <= states


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_walk_every_pair(name):
    machine = MACHINES[name]
    states = list(type(next(iter(machine.transitions))))
    allowed = forbidden = 0
    for current, target in itertools.product(states, states):
        entity = SimpleNamespace(status=current)
        if target in machine.transitions[current]:
            assert machine.can(current, target)
            assert machine.move(entity, target) is current
            assert entity.status is target
            allowed += 1
        else:
            assert not machine.can(current, target)
            with pytest.raises(InvalidTransition) as caught:
                machine.move(entity, target)
            assert entity.status is current, f"{name}: a refused move changed the status"
            assert (caught.value.current, caught.value.target) == (current, target)
            forbidden += 1
    assert allowed and forbidden


def test_start_gives_a_new_entity_its_first_status_only():
    order = SimpleNamespace(status=None)
    ORDER_MACHINE.start(order, OrderStatus.received)
    assert order.status is OrderStatus.received
    ORDER_MACHINE.start(order, OrderStatus.received)  # constructed with it: fine
    moved = SimpleNamespace(status=OrderStatus.allocated)
    with pytest.raises(InvalidTransition):
        ORDER_MACHINE.start(moved, OrderStatus.received)
    assert moved.status is OrderStatus.allocated


# --- nothing writes a status around the machines ----------------------------------------------


def _chain_calls(node: ast.AST) -> list[str]:
    """Names of the calls a method chain is built from: ``update(X).where(...).values(...)``
    gives ``["values", "where", "update"]``."""
    names = []
    while True:
        if isinstance(node, ast.Call):
            func_ = node.func
            if isinstance(func_, ast.Attribute):
                names.append(func_.attr)
                node = func_.value
                continue
            if isinstance(func_, ast.Name):
                names.append(func_.id)
            return names
        if isinstance(node, ast.Attribute):
            node = node.value
            continue
        return names


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Tuple | ast.List):
        return [t for elt in node.elts for t in _targets(elt)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return [node]


def _is_str(node: ast.AST, text: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == text


def status_writes(source: str) -> list[tuple[int, str]]:
    """(line, what) for every status write in ``source`` that bypasses a machine."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        assigned: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            assigned = [t for target in node.targets for t in _targets(target)]
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            assigned = _targets(node.target)
        for target in assigned:
            if isinstance(target, ast.Attribute) and target.attr == "status":
                owner = target.value
                # An object's own constructor giving it a first status is creation, not a move.
                if function == "__init__" and isinstance(owner, ast.Name) and owner.id == "self":
                    continue
                found.append((node.lineno, f"{ast.unparse(target)} = ..."))
        if isinstance(node, ast.Call):
            chain = _chain_calls(node)
            func_ = node.func
            if isinstance(func_, ast.Attribute) and func_.attr == "values" and "update" in chain:
                keys = [k.arg for k in node.keywords]
                keys += [
                    k.value
                    for arg in node.args
                    if isinstance(arg, ast.Dict)
                    for k in arg.keys
                    if isinstance(k, ast.Constant)
                ]
                if "status" in keys:
                    found.append((node.lineno, "update(...).values(status=...)"))
            name = chain[0] if chain else ""
            if (
                name in ("setattr", "set_committed_value", "set_attribute")
                and len(node.args) >= 2
                and _is_str(node.args[1], "status")
            ):
                found.append((node.lineno, f'{name}(..., "status", ...)'))
            if any(k.arg == "status_checked" for k in node.keywords):
                found.append((node.lineno, "update_rows(..., status_checked=...)"))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(source), None)
    return found


def test_no_status_is_written_outside_the_machines():
    offenders = []
    scanned = 0
    paths = [ROOT / "app.py", *(p for d in SCANNED for p in sorted((ROOT / d).rglob("*.py")))]
    for path in paths:
        rel = path.relative_to(ROOT)
        if rel == MACHINE_MODULE:
            continue
        scanned += 1
        for line, what in status_writes(path.read_text()):
            if f"{rel}:{line}" not in ALLOWED:
                offenders.append(f"{rel}:{line}: {what}")
    assert scanned > 50
    assert not offenders, "status written around its machine:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        "task.status = TaskStatus.picked",
        "a.b.status = 'x'",
        "x, wave.status = 1, WaveStatus.released",
        "obj.status: Status = Status.done",
        "def f(self):\n    self.status = 1",
        "session.execute(update(PickTask).where(PickTask.id == 1).values(status=S.canceled))",
        "stmt = sa.update(T).values({'status': 'dead'})",
        "setattr(order, 'status', OrderStatus.shipped)",
        "set_committed_value(order, 'status', OrderStatus.shipped)",
        "update_rows(session, table, rows, status_checked=True)",
    ],
)
def test_the_scan_finds_a_bypass(source):
    assert status_writes(source), source


@pytest.mark.parametrize(
    "source",
    [
        "if task.status == TaskStatus.picked: pass",
        "class E(Exception):\n    def __init__(self, status):\n        self.status = status",
        "Wave(code='W', status=WaveStatus.planned)",
        "session.execute(insert(T).values(status='pending'))",
        "update(Stock).values(on_hand=Stock.on_hand - 1)",
        "body['status'] = 'ok'",
        "TASK_MACHINE.move(task, TaskStatus.picked)",
    ],
)
def test_the_scan_lets_reads_and_creation_be(source):
    assert not status_writes(source), source


# --- the set-based paths check before they write ---------------------------------------------


def test_update_rows_refuses_an_unchecked_status_column():
    with pytest.raises(ValueError, match="statemachine"):
        update_rows(None, Order.__table__, [{"id": 1, "status": OrderStatus.shipped}])  # type: ignore[arg-type]


def _new_order(s, external_id):
    return add_order(s, (), external_id=external_id, reserve=False)


def _statuses(s):
    return dict(s.execute(select(Order.external_id, Order.status)).all())


def test_transition_many_writes_nothing_when_one_move_is_refused(sessions):
    with unit_of_work(sessions) as s:
        a, b = _new_order(s, "SM-A"), _new_order(s, "SM-B")
        transition_many(s, [a], OrderStatus.allocated, Actor.system())
    with unit_of_work(sessions) as s:
        a, b = (
            s.scalars(select(Order).where(Order.external_id == e)).one() for e in ("SM-A", "SM-B")
        )
        events = s.scalar(select(func.count(OutboxEvent.id)))
        with pytest.raises(InvalidTransition):  # received → waved is not a move
            transition_many(s, [a, b], OrderStatus.waved, Actor.system())
        assert (a.status, b.status) == (OrderStatus.allocated, OrderStatus.received)
        assert s.scalar(select(func.count(OutboxEvent.id))) == events
        s.rollback()
    with unit_of_work(sessions) as s:
        statuses = _statuses(s)
        assert (statuses["SM-A"], statuses["SM-B"]) == (OrderStatus.allocated, OrderStatus.received)


def test_move_rows_checks_every_row(sessions):
    with unit_of_work(sessions) as s:
        order = _new_order(s, "SM-R")
        with pytest.raises(InvalidTransition):
            ORDER_MACHINE.move_rows(
                s, Order.__table__, [(order.id, OrderStatus.received)], OrderStatus.shipped
            )
        ORDER_MACHINE.move_rows(
            s, Order.__table__, [(order.id, OrderStatus.received)], OrderStatus.on_hold
        )
    with unit_of_work(sessions) as s:
        assert _statuses(s)["SM-R"] == OrderStatus.on_hold


def test_move_where_checks_the_rows_it_matches(sessions):
    with unit_of_work(sessions) as s:
        for subject in ("sm-a", "sm-b"):
            s.add(FloorException(reason=ExceptionReason.damaged, subject=subject, message="x"))
    with unit_of_work(sessions) as s:
        moved = EXCEPTION_MACHINE.move_where(
            s, FloorException, FloorException.subject == "sm-a", target=ExceptionStatus.resolved
        )
        assert moved == 1
        # Already resolved: nothing to move, nothing refused.
        assert not EXCEPTION_MACHINE.move_where(
            s, FloorException, FloorException.subject == "sm-a", target=ExceptionStatus.resolved
        )
    with unit_of_work(sessions) as s:
        with pytest.raises(InvalidTransition):  # resolved → open is not a move
            EXCEPTION_MACHINE.move_where(
                s,
                FloorException,
                FloorException.subject.in_(["sm-a", "sm-b"]),
                target=ExceptionStatus.open,
            )
        s.rollback()
    with unit_of_work(sessions) as s:
        rows = dict(
            s.execute(
                select(FloorException.subject, FloorException.status).where(
                    FloorException.subject.in_(["sm-a", "sm-b"])
                )
            ).all()
        )
        assert rows == {"sm-a": ExceptionStatus.resolved, "sm-b": ExceptionStatus.open}


def test_a_move_prepared_from_states_is_checked_once_and_moves_only_those_rows(sessions):
    """``prepare_where(..., from_states=...)`` refuses an illegal source at preparation, and its
    one UPDATE leaves rows in other states alone (no statuses read first)."""
    from printing.models import PRINT_JOB_MACHINE, Printer, PrinterTransport, PrintJob
    from printing.queue import J

    with pytest.raises(InvalidTransition):
        PRINT_JOB_MACHINE.prepare_where(
            PrintJob, target=J.printed, from_states=(J.queued, J.printed)
        )
    move = PRINT_JOB_MACHINE.prepare_where(
        PrintJob, PrintJob.printer_id == bindparam("pid"), target=J.sending, from_states=(J.queued,)
    )
    assert move.find is None
    with unit_of_work(sessions) as s:
        printer = Printer(
            name="P-TEST", transport=PrinterTransport.file, address="/tmp", uri="file:///tmp"
        )
        s.add(printer)
        s.flush()
        jobs = [
            PrintJob(
                job_id=f"t-{st.value}", printer_id=printer.id, kind="t", zpl="^XA^XZ", status=st
            )
            for st in (J.queued, J.printed, J.unknown)
        ]
        s.add_all(jobs)
        s.flush()
        assert move.run(s, {"pid": printer.id}) == 1
        s.expire_all()
        assert [j.status for j in jobs] == [J.sending, J.printed, J.unknown]
