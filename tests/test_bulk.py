"""core.bulk: its writes run on the raw DBAPI cursor, yet the engine's ``before_cursor_execute``
listeners hear each of them once (an ``executemany`` too), as they hear a ``Session.execute``:
the benchmarks' "SQL per scan" counts them, and a write path moved to these helpers cannot
look cheaper than it is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.bulk import add_to_column, update_rows
from floor.site.stock import Stock
from tests.factories import statements_run


def _heard(engine: Any, work: Any) -> list[tuple[str, bool]]:
    return [(" ".join(sql.split()), many) for sql, _params, many in statements_run(engine, work)]


def test_bulk_writes_are_heard_by_the_statement_listeners(sessions: sessionmaker[Session]):
    with sessions() as s:
        rows = s.execute(select(Stock.id, Stock.on_hand).order_by(Stock.id).limit(3)).all()
        assert len(rows) == 3, "the demo has stock"
        s.connection()  # BEGIN before listening: only the writes are counted below
        engine = s.get_bind()
        seen = _heard(
            engine,
            lambda: (
                add_to_column(s, Stock.__table__, "on_hand", {r.id: 2 for r in rows}),
                update_rows(s, Stock.__table__, [{"id": r.id, "reserved": 0} for r in rows]),
            ),
        )
        assert [sql.split()[0] for sql, _ in seen] == ["UPDATE", "UPDATE"], seen
        assert "on_hand" in seen[0][0] and "reserved" in seen[1][0]
        if engine.dialect.name == "sqlite":  # one executemany each; PostgreSQL: one unnest
            assert [many for _, many in seen] == [True, True]
        after = dict(
            s.execute(
                select(Stock.id, Stock.on_hand).where(Stock.id.in_([r.id for r in rows]))
            ).all()
        )
        assert after == {r.id: r.on_hand + 2 for r in rows}
        s.rollback()
