"""core.prepared: a statement run on the DBAPI cursor answers what ``Session.execute`` answers,
inside the session's transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db import utcnow
from core.prepared import Prepared
from core.users import Role, User
from floor.site.layout import Location, LocationType
from floor.site.stock import Stock

_USERS = select(User.id, User.username, User.role, User.active, User.created_at).where(
    User.role == bindparam("role")
)
_FACES = select(Location.id, Location.code, Location.active).where(
    Location.type == LocationType.pick_face, Location.id > bindparam("after")
)
_TAKE = (
    update(Stock)
    .where(Stock.id == bindparam("stock_id"))
    .values(on_hand=Stock.on_hand - bindparam("units"))
)


def test_rows_are_what_the_session_reads(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        for stmt, params in ((_USERS, {"role": Role.picker}), (_FACES, {"after": 0})):
            expected = s.execute(stmt, params).all()
            got = Prepared(stmt).rows(s.connection(), params)
            assert expected, "the demo has such rows"
            assert [tuple(r) for r in got] == [tuple(r) for r in expected]
            assert [r._asdict() for r in got] == [r._asdict() for r in expected]
        picker = Prepared(_USERS).first(s.connection(), {"role": Role.picker})
        assert isinstance(picker.role, Role) and picker.active is True
        assert picker.created_at.tzinfo is not None  # timezone-aware UTC, as the model says
        assert Prepared(select(User.id).where(User.id == -1)).scalar(s.connection()) is None


def test_a_write_is_part_of_the_transaction_and_sets_onupdate_columns(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s:
        stock = s.scalars(select(Stock).where(Stock.on_hand > 1).order_by(Stock.id)).first()
        assert stock is not None
        sid, before, stamped = stock.id, stock.on_hand, stock.updated_at
        started = utcnow()
        assert Prepared(_TAKE).run(s.connection(), {"stock_id": sid, "units": 1}) == 1
        assert Prepared(_TAKE).run(s.connection(), {"stock_id": -1, "units": 1}) == 0
        s.expire_all()
        assert s.get(Stock, sid).on_hand == before - 1  # the same transaction sees it
        assert s.get(Stock, sid).updated_at >= started - dt.timedelta(seconds=1)
        assert s.get(Stock, sid).updated_at != stamped
        s.rollback()
        assert s.get(Stock, sid).on_hand == before  # and it rolls back with it


def test_a_database_error_is_sqlalchemys_and_the_session_goes_on(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s:
        stock = s.scalars(select(Stock).order_by(Stock.id)).first()
        assert stock is not None
        sid, on_hand = stock.id, stock.on_hand
        with pytest.raises(IntegrityError):  # on_hand may not go below 0 (CHECK)
            Prepared(_TAKE).run(s.connection(), {"stock_id": sid, "units": on_hand + 1})
        s.rollback()
        assert s.get(Stock, sid).on_hand == on_hand


def test_statement_listeners_see_every_statement(sessions: sessionmaker[Session]) -> None:
    seen: list[str] = []
    with sessions() as s:
        engine = s.get_bind()

        def listen(_conn: object, _cur: object, statement: str, *_rest: object) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", listen)
        try:
            Prepared(_FACES).rows(s.connection(), {"after": 0})
        finally:
            event.remove(engine, "before_cursor_execute", listen)
    assert any(sql.lstrip().upper().startswith("SELECT") for sql in seen)


def test_an_expanding_parameter_is_refused() -> None:
    from sqlalchemy.dialects import sqlite

    stmt = select(User.id).where(User.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="expanding"):
        Prepared(stmt)._form(sqlite.dialect())
