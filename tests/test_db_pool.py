"""PostgreSQL connections that died in the pool (a database restart, a killed backend) are
replaced before a request meets them, without a round trip on every checkout of a busy pool."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core import db
from core.db import make_engine
from tests import services


@pytest.fixture
def pg_engine():
    if not services.PG_URL:
        services.skip_or_fail("TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    engine = make_engine(services.PG_URL, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _kill(pid: int) -> None:
    other = make_engine(services.PG_URL)
    with other.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_a_connection_killed_while_idle_in_the_pool_is_replaced(pg_engine, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every checkout counts as idle
    dead = _backend_pid(pg_engine)
    _kill(dead)
    assert _backend_pid(pg_engine) != dead  # no error: a new connection answered


def test_a_connection_back_from_use_a_moment_ago_is_not_pinged(pg_engine, monkeypatch):
    """No round trip per checkout: the pool trusts a connection it had a moment ago (so a
    backend killed in between is met by the query itself, and the pool then replaces it)."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
    dead = _backend_pid(pg_engine)
    _kill(dead)
    with pytest.raises(OperationalError):
        _backend_pid(pg_engine)
    assert _backend_pid(pg_engine) != dead


def test_sqlite_hands_out_the_connection_returned_last(tmp_path):
    """Writers take turns, so the connection that just wrote is the one to reuse: its page cache
    is still valid (a connection whose turn comes round after others wrote re-reads its pages)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'lifo.sqlite3'}")
    try:
        held = [engine.connect() for _ in range(3)]
        raws = [conn.connection.dbapi_connection for conn in held]
        for conn in held:
            conn.close()  # back to the pool in order: the third is returned last
        for _ in range(3):
            with engine.connect() as conn:
                assert conn.connection.dbapi_connection is raws[-1]
    finally:
        engine.dispose()
