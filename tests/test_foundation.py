"""The foundation: schema by migrations, health, demo warehouse, state machines, outbox."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import func, select, text

from core.actors import Actor
from core.db import make_engine, make_session_factory, unit_of_work
from core.statemachine import InvalidTransition
from core.users import ApiKey, Role, User
from floor.site.gtin import is_valid_gtin
from floor.site.layout import Location, LocationType, Sku, SkuGtin, Zone
from floor.site.stock import Stock
from migrations import migrate
from orders.models import Order
from orders.outbox import OutboxEvent
from orders.states import OrderStatus
from orders.transitions import transition
from tests.factories import SHIP_BY, add_order, make_test_app
from web.demo import DEMO_API_KEY, load_demo


def test_healthz_reports_database_and_migrations(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["migrations"]["at_head"] is True
    assert body["migrations"]["current"] == migrate.head_revision()
    assert body["version"]


def test_healthz_is_503_when_schema_is_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'unmigrated.sqlite3'}"
    app = make_test_app(url)
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.get_json()["migrations"]["at_head"] is False


def test_models_and_migrations_do_not_drift(db_url):
    engine = make_engine(db_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert migrate.schema_drift(engine) == []
    finally:
        engine.dispose()


def test_scans02_cuts_an_older_over_long_scan_text_so_its_covering_index_builds(empty_db_url):
    """scans02 puts ``raw`` in an index; a PostgreSQL index entry holds ~2.7 kB, so a scan row
    stored before the 500-character rule would stop the upgrade. It is cut to 500 first."""
    from alembic import command

    command.downgrade(migrate.alembic_config(empty_db_url), "lists01")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO scans (client_scan_id, raw, kind, result, scanned_at, received_at)"
                    " VALUES ('old-1', :raw, 'item', 'ok', :at, :at)"
                ),
                {"raw": "é" * 3000, "at": dt.datetime.now(dt.UTC)},  # 6,000 bytes
            )
        migrate.upgrade(empty_db_url)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT raw FROM scans")).scalar() == "é" * 500
    finally:
        engine.dispose()


def test_migrating_a_new_sqlite_database_warns_nothing(tmp_path):
    """The first `make run` migrates a new SQLite file: return01's batch alterations reflect
    pick_tasks, and with it totes, whose index on upper(code) SQLite's reflection cannot read -
    a SAWarning 'Skipped unsupported reflection of expression-based index ix_totes_code_upper'
    was printed above the start-up banner, about nothing wrong (the index is not touched)."""
    import warnings

    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        migrate.upgrade(url)
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            indexes = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            assert "ix_totes_code_upper" in set(indexes.scalars())
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def _demo_fingerprint(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT l.code, l.check_code, l.x_m, l.y_m, s.on_hand, k.code FROM stock s "
                "JOIN locations l ON l.id = s.location_id JOIN skus k ON k.id = s.sku_id "
                "ORDER BY s.id"
            )
        ).all()
    engine.dispose()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_demo_warehouse_has_the_promised_shape(sessions):
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Zone)) >= 3
        locations = s.scalars(select(Location)).all()
        assert 950 <= len(locations) <= 1100
        aisles = {loc.aisle_id for loc in locations if loc.aisle_id}
        assert len(aisles) == 12
        assert len({loc.code for loc in locations}) == len(locations)
        assert all(len(loc.check_code) == 2 and loc.check_code.isdigit() for loc in locations)
        assert sum(loc.type == LocationType.pack_station for loc in locations) == 2
        assert s.scalar(select(func.count()).select_from(Sku)) == 300
        gtins = s.scalars(select(SkuGtin.gtin)).all()
        assert len(gtins) == 300 and all(is_valid_gtin(g) for g in gtins)
        assert s.scalar(select(func.count()).select_from(Stock).where(Stock.on_hand > 0)) >= 300
        roles = set(s.scalars(select(User.role)).all())
        assert roles == set(Role)


def test_demo_is_deterministic(empty_db_url, tmp_path, sqlite_templates):
    engine = make_engine(empty_db_url)
    with unit_of_work(make_session_factory(engine)) as s:
        load_demo(s)
    engine.dispose()
    template = f"sqlite:///{sqlite_templates['demo']}"
    assert _demo_fingerprint(empty_db_url) == _demo_fingerprint(template)


def test_demo_refuses_to_load_twice(sessions):
    with pytest.raises(RuntimeError), unit_of_work(sessions) as s:
        load_demo(s)


def test_api_keys_are_stored_hashed(sessions):
    with unit_of_work(sessions) as s:
        row = s.scalars(select(ApiKey)).one()
        assert row.key_hash != DEMO_API_KEY and DEMO_API_KEY not in row.key_hash
        users = s.scalars(select(User)).all()
        assert all(u.password_hash is None or "demo" not in u.password_hash for u in users)


def _order(s, external_id="O-1"):
    return add_order(s, (), external_id=external_id, reserve=False)


def test_order_transition_writes_outbox_event_in_same_transaction(sessions):
    with unit_of_work(sessions) as s:
        order = _order(s)
        transition(s, order, OrderStatus.allocated, Actor.system())
    with unit_of_work(sessions) as s:
        events = s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        assert [(e.from_state, e.to_state) for e in events] == [
            (None, "received"),
            ("received", "allocated"),
        ]
        order = s.scalars(select(Order)).one()
        assert set(order.status_times) == {"received", "allocated"}


def test_rolled_back_transition_leaves_no_event(sessions):
    with pytest.raises(RuntimeError), unit_of_work(sessions) as s:
        order = _order(s)
        transition(s, order, OrderStatus.allocated, Actor.system())
        raise RuntimeError("boom")
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == 0
        assert s.scalar(select(func.count()).select_from(Order)) == 0


def test_invalid_order_transition_is_refused(sessions):
    with unit_of_work(sessions) as s:
        order = _order(s)
        with pytest.raises(InvalidTransition):
            transition(s, order, OrderStatus.shipped, Actor.system())
        assert order.status == OrderStatus.received


def test_timestamps_are_timezone_aware_utc(sessions):
    with unit_of_work(sessions) as s:
        _order(s)
    with unit_of_work(sessions) as s:
        order = s.scalars(select(Order)).one()
        assert order.created_at.tzinfo is not None
        assert order.created_at.utcoffset() == dt.timedelta(0)
        assert order.ship_by == SHIP_BY


def test_naive_datetimes_are_refused(sessions):
    with pytest.raises(Exception, match="naive"), unit_of_work(sessions) as s:
        s.add(
            Order(
                external_id="naive",
                ship_by=dt.datetime(2030, 1, 1),
                carrier="demo",
                ship_to={},
                content_hash="0",
            )
        )
        s.flush()


def test_stock_can_never_go_negative_or_over_reserve(sessions):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), unit_of_work(sessions) as s:
        stock = s.scalars(select(Stock).limit(1)).one()
        stock.reserved = stock.on_hand + 1
        s.flush()


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path):
    app = make_test_app(f"sqlite:///{tmp_path / 'gone' / 'floor.sqlite3'}")  # no such directory
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["status"] == "error"
    assert body["database"]["reachable"] is False
    assert "migrations" not in body
