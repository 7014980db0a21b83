"""Explicit state machines (an enum plus an allowed-transitions table) and the only code that
writes a ``status`` column.

Each entity declares its machine once, next to its model, e.g.::

    WAVE_MACHINE = StateMachine("wave", {WaveStatus.planned: {WaveStatus.released, ...}, ...})

and every status change goes through that machine, in one of four shapes:

* ``machine.move(entity, target)``: one loaded entity; checks, then sets ``entity.status``.
* ``machine.move_many(session, entities, target)``: many loaded entities in one UPDATE (wave
  planning moving thousands of orders); every move is checked before anything is written.
* ``machine.move_rows(session, table, rows, target)``: the same for rows that were never loaded
  as objects, given as ``(id, current status)`` (batch intake moving the orders it just wrote).
* ``machine.move_where(session, model, *criteria, target=...)``: one ``UPDATE … WHERE`` (cancel
  every open task of a wave); the statuses of the rows it matches are checked first.

``machine.start(entity, initial)`` gives a new entity its first status. Nothing else assigns a
status: ``tests/test_state_machines.py`` walks every machine's table and scans the code for
``.status =`` and ``update(...).values(status=...)`` outside this module, and
``core.bulk.update_rows`` refuses a ``status`` column unless it comes from here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.bulk import update_rows
from core.db import core_connection, one_of
from core.errors import CoreErrorCode, FloorError

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E")


class InvalidTransition(FloorError):
    """Raised when an entity is asked to move to a state its machine does not allow (409
    ``invalid_transition`` on every surface)."""

    code = CoreErrorCode.invalid_transition
    http_status = 409

    def __init__(self, entity: str, current: enum.Enum | None, target: enum.Enum) -> None:
        now = current.value if current is not None else "nothing"
        super().__init__(
            None,
            f"{entity} cannot go from {now} to {target.value}",
            details={"entity": entity, "from": now, "to": target.value},
        )
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

    def sources(self, target: S) -> frozenset[S]:
        """The states ``target`` may be reached from."""
        return frozenset(s for s, nexts in self.transitions.items() if target in nexts)

    # --- one entity ------------------------------------------------------------------------

    def start(self, entity: Any, initial: S) -> None:
        """Give a new entity (no status yet, or already ``initial``) its first status."""
        current = entity.status
        if current is not None and current != initial:
            raise InvalidTransition(self.entity, current, initial)
        entity.status = initial

    def move(self, entity: Any, target: S) -> S:
        """Move one loaded entity to ``target``; returns the status it left. Raises
        ``InvalidTransition`` (and changes nothing) if its machine does not allow the move,
        staying where it is included."""
        current: S = entity.status
        self.check(current, target)
        entity.status = target
        return current

    # --- many at once ----------------------------------------------------------------------

    def move_rows(
        self,
        session: Session,
        table: Table,
        rows: Sequence[tuple[Any, S]],
        target: S,
        values: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Move rows given as ``(id, current status)`` to ``target`` in one UPDATE, setting
        ``values[i]`` (more columns, the same keys in every mapping) on row ``i`` too. Every
        move is checked before anything is written: one refused move writes nothing."""
        for _, current in rows:
            self.check(current, target)
        self._write(session, table, [(ident, target) for ident, _ in rows], values)

    def move_many(
        self,
        session: Session,
        entities: Sequence[E],
        target: S,
        values: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[E]:
        """Move loaded entities to ``target`` in one UPDATE (entities already there stay, the
        same object given twice counts once). ``values[i]``: more columns to set on
        ``entities[i]`` in the same UPDATE, whether it moves or not (the same keys for every
        entity). Every move is checked before anything is written.

        The objects are updated in place as committed state (nothing is left for the session
        to flush). Returns the entities that moved, in the given order."""
        if values is not None and len(values) != len(entities):
            raise ValueError("one values mapping per entity")
        picked: list[tuple[Any, bool, Mapping[str, Any]]] = []
        seen: set[int] = set()
        for i, entity in enumerate(entities):
            if id(entity) in seen:
                continue
            seen.add(id(entity))
            moves = entity.status != target
            if moves:
                self.check(entity.status, target)
            extra = values[i] if values is not None else {}
            if moves or extra:
                picked.append((entity, moves, extra))
        if not picked:
            return []
        if any(entity.id is None for entity, *_ in picked):
            session.flush()
        table = type(picked[0][0]).__table__
        self._write(
            session,
            table,
            [(entity.id, target if moves else entity.status) for entity, moves, _ in picked],
            [extra for *_, extra in picked],
        )
        for entity, moves, extra in picked:
            set_committed_value(entity, "status", target if moves else entity.status)
            for column, value in extra.items():
                set_committed_value(entity, column, value)
        return [entity for entity, moves, _ in picked if moves]

    def move_where(
        self,
        session: Session,
        model: Any,
        *criteria: Any,
        target: S,
        values: Mapping[str, Any] | None = None,
    ) -> int:
        """``UPDATE model SET status = target, **values WHERE criteria`` for the rows not yet in
        ``target``. The statuses those rows are in are read first and checked (a refused move
        raises and writes nothing); the UPDATE also requires a status ``target`` may be
        reached from, so a row another transaction moved in between is left alone. Objects
        of ``model`` already loaded are not refreshed (``synchronize_session=False``).
        Returns the number of rows moved."""
        status = model.status
        where = (*criteria, status != target)
        found = session.scalars(select(status).where(*where).distinct()).all()
        if not found:
            return 0
        for current in found:
            self.check(current, target)
        sources = sorted(self.sources(target), key=lambda s: str(s.value))
        result = session.execute(
            update(model)
            .where(*where, one_of(status, sources))
            .values({"status": target, **(values or {})})
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)

    def prepare_where(
        self,
        model: Any,
        *criteria: Any,
        target: S,
        values: Mapping[str, Any] | None = None,
        returning: Sequence[Any] = (),
        from_states: Sequence[S] = (),
    ) -> PreparedWhere[S]:
        """``move_where`` with its two statements built once (at import time, say): building
        a select and an UPDATE costs more CPU than running them. ``criteria`` and ``values``
        hold ``bindparam()``s whose values ``PreparedWhere.run`` takes. Same checks and the
        same guarded UPDATE as ``move_where``. ``returning``: columns of the moved rows that
        ``PreparedWhere.run_returning`` answers with.

        ``from_states``: the move applies only to rows in these states, each checked against
        the machine here, once (``InvalidTransition`` at preparation); the UPDATE then needs
        no statuses read first, and ``run`` is one statement."""
        for current in from_states:
            self.check(current, target)
        status = model.status
        if from_states:
            where = (*criteria, one_of(status, sorted(from_states, key=lambda s: str(s.value))))
        else:
            where = (*criteria, status != target)
        sources = sorted(self.sources(target), key=lambda s: str(s.value))
        write = (
            update(model)
            .where(*where, one_of(status, sources))
            .values({"status": target, **(values or {})})
            .execution_options(synchronize_session=False)
        )
        return PreparedWhere(
            self,
            target,
            None if from_states else select(status).where(*where).distinct(),
            write.returning(*returning) if returning else write,
        )

    @staticmethod
    def _write(
        session: Session,
        table: Table,
        moves: Sequence[tuple[Any, Any]],
        values: Sequence[Mapping[str, Any]] | None,
    ) -> None:
        if values is not None and len(values) != len(moves):
            raise ValueError("one values mapping per row")
        rows = [
            {"id": ident, "status": status, **(values[i] if values is not None else {})}
            for i, (ident, status) in enumerate(moves)
        ]
        update_rows(session, table, rows, status_checked=True)


@dataclass(frozen=True)
class PreparedWhere(Generic[S]):
    """A ``move_where`` built once (``StateMachine.prepare_where``)."""

    machine: StateMachine[S]
    target: S
    find: Any
    write: Any

    def run(self, session: Session, params: Mapping[str, Any]) -> int:
        """Move the rows the criteria match (with ``params`` for their bind parameters);
        returns how many moved. A refused move raises and writes nothing."""
        conn = core_connection(session)
        if not self._checked(conn, params):
            return 0
        return int(conn.execute(self.write, params).rowcount or 0)

    def run_returning(self, session: Session, params: Mapping[str, Any]) -> list[Any]:
        """``run`` for a move prepared with ``returning``: the moved rows' returned columns."""
        conn = core_connection(session)
        if not self._checked(conn, params):
            return []
        return list(conn.execute(self.write, params).all())

    def _checked(self, conn: Any, params: Mapping[str, Any]) -> bool:
        """Whether any row is to move (every one allowed, else ``InvalidTransition``). Moves
        prepared ``from_states`` were checked once, at preparation."""
        if self.find is None:
            return True
        found = conn.scalars(self.find, params).all()
        for current in found:
            self.machine.check(current, self.target)
        return bool(found)
