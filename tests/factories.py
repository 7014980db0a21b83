"""Builders for test data and test actors, in one place: every test module imports from here.

Four kinds, from the outside in:

- what the OMS sends: ``order_payload`` (the JSON body of ``POST /api/v1/orders``);
- rows in the database: ``add_order`` (an order on the demo floor, reserved unless told
  otherwise), ``walk_to_picked`` and ``make_events`` (orders moved along their state machine);
- people: ``actor_for`` / ``supervisor`` inside a transaction; ``login`` (Flask test client),
  ``http_login`` and ``socket_for`` (a live server), ``log_in_picker`` / ``log_in_supervisor``
  (a browser page); ``csrf_token`` reads the token from any page that carries one;
- the app itself: ``make_test_app`` and ``LiveServer`` (a real HTTP server on a free port);
  ``start_server`` / ``wait_healthy`` / ``stop`` run ``flask serve`` as a process.

Plain functions rather than factory classes: each builder is a dozen lines that say which
fields matter, and a test that needs another value passes it by keyword.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import requests
import socketio
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import WSGIRequestHandler, make_server

from core.actors import Actor
from core.db import unit_of_work
from core.errors import FloorError
from core.exception_queue import FloorException
from core.users import Role, User
from floor.fulfilment.models import PickTask
from floor.site.layout import Sku
from floor.site.stock import Reservation, Stock
from orders.allocation import reserve_orders
from orders.models import Order, OrderLine
from orders.outbox import OutboxEvent
from orders.states import OrderStatus, Priority, ShortPolicy
from orders.transitions import record_received, transition
from sync.webhooks import RetryPolicy
from sync.worker import DeliveryConfig
from web.demo import DEMO_API_KEY, demo_gtin

SYSTEM = Actor.system()
SECRET = "whsec-test"  # the webhook signing secret the OMS receiver checks
OMS_AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
SHIP_BY = dt.datetime(2030, 1, 1, 16, 0, tzinfo=dt.UTC)
SHIP_TO = {
    "name": "Ada Lovelace",
    "company": "Analytical Engines Ltd",
    "address1": "12 St James's Square",
    "address2": "",
    "city": "London",
    "region": "",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
    "phone": "+44 20 7946 0000",
    "email": "ada@example.com",
}
DEFAULT_LINES = (("SKU-00001", 2), ("SKU-00002", 1), ("SKU-00003", 3))
_seq = itertools.count(1)


# --- What the OMS sends ------------------------------------------------------------------------


def future() -> str:
    """A ship-by time safely ahead, and the same on every call (payloads must compare equal)."""
    return f"{dt.datetime.now(dt.UTC).year + 2}-06-01T17:00:00+02:00"


def payload_lines(lines: Any) -> Any:
    """``(sku, quantity)`` pairs become lines numbered 1, 2, …; anything else is sent as given,
    so a test can post malformed lines."""
    if isinstance(lines, (list, tuple)) and all(isinstance(x, tuple) for x in lines):
        return [
            {"line_id": str(n), "sku": sku, "quantity": qty}
            for n, (sku, qty) in enumerate(lines, 1)
        ]
    return lines


def order_payload(
    external_id: str = "OMS-1",
    lines: Any = DEFAULT_LINES,
    *,
    due_in: dt.timedelta | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A canonical order as the OMS posts it (docs/api.md). Ship-by is ``future()`` unless
    ``due_in`` puts it that far from now; any other field can be overridden by keyword."""
    body: dict[str, Any] = {
        "external_id": external_id,
        "channel": "web",
        "priority": "standard",
        "ship_by": future() if due_in is None else (dt.datetime.now(dt.UTC) + due_in).isoformat(),
        "carrier": "ups",
        "service": "ground",
        "ship_to": dict(SHIP_TO),
        "lines": payload_lines(lines),
        "notes": "",
    }
    body.update(overrides)
    return body


def gtin(sku: str) -> str:
    """The EAN-13 printed on a demo SKU's box (what a scanner types)."""
    return demo_gtin(int(sku.rsplit("-", 1)[1]))


# --- Orders in the database --------------------------------------------------------------------


def sku_id(s: Session, code: str) -> int:
    return s.scalars(select(Sku.id).where(Sku.code == code)).one()


def add_order(
    s: Session,
    lines: Sequence[tuple[str, int]] = DEFAULT_LINES[:2],
    *,
    external_id: str | None = None,
    ship_by: dt.datetime = SHIP_BY,
    carrier: str = "demo",
    service: str = "ground",
    priority: Priority = Priority.standard,
    policy: ShortPolicy = ShortPolicy.ship_partial,
    reserve: bool = True,
) -> Order:
    """An order received on the demo floor (its ``order.received`` event written), and reserved
    against stock unless ``reserve=False``: what intake leaves behind, without the HTTP."""
    order = Order(
        external_id=external_id or f"T-{next(_seq):06d}",
        ship_by=ship_by,
        carrier=carrier,
        service=service,
        priority=priority,
        short_policy=policy,
        ship_to=dict(SHIP_TO),
        content_hash="0" * 64,
        lines=[
            OrderLine(line_id=str(n), sku_id=sku_id(s, code), quantity=qty)
            for n, (code, qty) in enumerate(lines, 1)
        ],
    )
    s.add(order)
    s.flush()
    record_received(s, order, SYSTEM)
    if reserve:
        reserve_orders(s, [order], SYSTEM)
    return order


def walk_to_picked(s: Session, order: Order) -> Order:
    """received → allocated → waved → picking → picked, everything reserved is picked."""
    if order.status == OrderStatus.received:
        reserve_orders(s, [order], SYSTEM)
    assert order.status == OrderStatus.allocated, order.status
    for target in (OrderStatus.waved, OrderStatus.picking):
        transition(s, order, target, SYSTEM)
    for line in order.lines:
        line.picked_qty = line.reserved_qty
    transition(s, order, OrderStatus.picked, SYSTEM)
    return order


def pick_scan(s: Session, user: Any, task_id: Any, code: str, client_scan_id: str) -> Any:
    """A picker's scan as the handheld makes it: on a cart of several totes an item scan is
    held until the tote is scanned (put-to-tote), so the tote scan follows it."""
    from floor.fulfilment.picking.scans import confirm_scan

    out = confirm_scan(s, user, task_id, code, client_scan_id)
    if out.result == "ok" and out.kind == "item_held":
        return confirm_scan(s, user, task_id, out.extra["await_tote"], client_scan_id + "/tote")
    return out


def make_events(
    sessions: sessionmaker[Session], orders: int, per_order: int, prefix: str = "EV"
) -> list[str]:
    """``orders`` orders with ``per_order`` outbox events each, interleaved across orders."""
    ids = [f"{prefix}-{i:05d}" for i in range(orders)]
    with unit_of_work(sessions) as s:
        rows = [add_order(s, external_id=ext, reserve=False) for ext in ids]
    chain = [OrderStatus.allocated, OrderStatus.waved, OrderStatus.picking, OrderStatus.picked]
    for step in chain[: per_order - 1]:
        with unit_of_work(sessions) as s:
            for order in rows:
                s.add(order)
                transition(s, order, step, SYSTEM)
    return ids


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """How many rows each table intake writes holds, plus total reserved stock."""
    with unit_of_work(sessions) as s:
        out = {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (Order, OrderLine, Reservation, OutboxEvent, FloorException, PickTask)
        }
        out["reserved_units"] = s.scalar(select(func.coalesce(func.sum(Stock.reserved), 0)))
        return out


def fast_config(url: str, **kw: Any) -> DeliveryConfig:
    """Webhook delivery with short time-outs and back-off, so retries happen within a test."""
    policy = kw.pop("policy", RetryPolicy(max_attempts=200, base_s=0.01, max_s=0.05))
    return DeliveryConfig(
        url=url, secret=SECRET, timeout_s=kw.pop("timeout_s", 0.5), policy=policy, **kw
    )


# --- People ------------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf[-_]token" (?:value|content)="([^"]+)"')


def actor_for(s: Session, username: str) -> Actor:
    user = s.scalars(select(User).where(User.username == username)).one()
    return Actor(user.username, Role(user.role), user.id)


def plan_and_release(s: Session, **rule: Any) -> list[Any]:
    """Every allocated order planned into waves (one zone, ``RuleSpec`` fields as given) and
    every wave released; the waves."""
    from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave

    sup = supervisor(s)
    waves = plan_waves(s, RuleSpec(split_by_zone=False, **rule), sup).waves
    for wave in waves:
        release_wave(s, wave.id, sup)
    return waves


def supervisor(s: Session) -> Actor:
    return actor_for(s, "sam")


def picked_order(
    sessions: Any,
    lines: Sequence[tuple[str, int]],
    *,
    carrier: str | None = None,
    service: str | None = None,
    ship_to: dict[str, str] | None = None,
) -> tuple[str, str]:
    """An order walked through the real wave and pick flow (planned, released, every unit
    scanned by ``pat``); returns (external id, tote code), ready for a pack station."""
    from floor.fulfilment.models import Tote
    from floor.fulfilment.picking.scans import confirm_scan, next_task
    from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
    from floor.site.layout import SkuGtin

    with unit_of_work(sessions) as s:
        order = add_order(s, lines)
        if carrier is not None:
            order.carrier = carrier
        if service is not None:
            order.service = service
        if ship_to is not None:
            order.ship_to = ship_to
        for wave in plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves:
            release_wave(s, wave.id, supervisor(s))
        pat = actor_for(s, "pat")
        n = 0
        while (task := next_task(s, pat)) is not None:
            gtin = s.scalar(select(SkuGtin.gtin).where(SkuGtin.sku_id == task.sku_id))
            for _ in range(task.quantity - task.picked_qty):
                n += 1
                assert confirm_scan(s, pat, task.id, gtin, f"pk-{order.id}-{n}").result == "ok"
        tote = s.scalar(select(Tote.code).where(Tote.order_id == order.id))
        assert tote is not None
        return order.external_id, tote


def csrf_token(html: str) -> str:
    """The CSRF token of a page: the login form's hidden field or the ``<meta>`` that JSON
    calls read into their ``X-CSRFToken`` header (the same token either way)."""
    found = _CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def page_csrf(client: Any, path: str = "/dashboard") -> str:
    """The CSRF token of the page at ``path``, read through a Flask test client."""
    return csrf_token(client.get(path).get_data(as_text=True))


def csrf_headers(client: Any, path: str = "/dashboard") -> dict[str, str]:
    return {"X-CSRFToken": page_csrf(client, path)}


def login(
    client: Any,
    *,
    username: str | None = None,
    password: str | None = None,
    badge: str | None = None,
) -> Any:
    """Log a Flask test client in through the real form (with its CSRF token)."""
    data = {"csrf_token": page_csrf(client, "/login")}
    if badge is not None:
        data["badge"] = badge
    else:
        data.update(username=username or "", password=password or "")
    return client.post("/login", data=data)


def http_login(base_url: str, **creds: str) -> requests.Session:
    """A ``requests`` session logged in on a live server (``badge=`` or username/password)."""
    http = requests.Session()
    token = csrf_token(http.get(base_url + "/login", timeout=10).text)
    http.post(
        base_url + "/login", data={"csrf_token": token, **creds}, allow_redirects=False, timeout=10
    )
    return http


class FloorSocket(socketio.Client):
    """A python-socketio client on ``/floor`` sharing a logged-in page session. ``received``
    collects the events named in ``listen``; ``http`` is the page session itself."""

    def __init__(self, http: requests.Session, listen: Iterable[str] = ()) -> None:
        super().__init__(reconnection=False)
        self.http = http
        self.received: dict[str, list[Any]] = {}
        for name in listen:
            self.on(name, self._collector(name), namespace="/floor")

    def _collector(self, name: str) -> Any:
        def collect(data: Any) -> None:
            self.received.setdefault(name, []).append(data)

        return collect

    def wait_for(self, name: str, timeout: float = 5.0) -> list[Any]:
        """The ``name`` events received so far, waiting until there is at least one."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.received.get(name):
                return self.received[name]
            time.sleep(0.02)
        raise AssertionError(f"no {name} event; got {list(self.received)}")


def socket_for(base_url: str, *, listen: Iterable[str] = (), **creds: str) -> FloorSocket:
    """Log in over HTTP, then open the ``/floor`` socket with that session's cookie."""
    http = http_login(base_url, **creds)
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    sio = FloorSocket(http, listen)
    sio.connect(
        base_url,
        namespaces=["/floor"],
        headers={"Cookie": cookie},
        transports=["websocket"],
        wait_timeout=5,
    )
    return sio


def log_in_supervisor(page: Any, base: str) -> None:
    """Sam types his password into the real login page of a browser."""
    page.goto(base + "/login")
    page.fill("#username", "sam")
    page.fill("#password", "supervisor-demo")
    page.click("#password-form button[type=submit]")
    page.wait_for_url("**/dashboard")
    page.wait_for_selector("body[data-live]")  # the snapshot was read after the socket joined


def log_in_picker(page: Any, base: str, badge: str = "BADGE-PICKER-1") -> None:
    """As a keyboard-wedge scanner does: the badge code, then Enter."""
    page.goto(base + "/login")
    page.locator("#badge").press_sequentially(badge)
    page.keyboard.press("Enter")
    page.wait_for_url("**/handheld")
    page.wait_for_selector("#conn.online")


def log_in_packer(page: Any, base: str) -> None:
    """Paco types his password into the real login page and lands on the pack station."""
    page.goto(base + "/login")
    page.fill("#username", "paco")
    page.fill("#password", "packer-demo")
    page.click("#password-form button[type=submit]")
    page.wait_for_url("**/pack")
    page.wait_for_selector("#conn.online", timeout=10_000)


def scan(page: Any, code: str) -> None:
    page.locator("#scan").press_sequentially(code)
    page.keyboard.press("Enter")


# --- The app and a live server -----------------------------------------------------------------


def make_test_app(url: str, **overrides: Any) -> Any:
    from app import create_app

    config = {"database_url": url, "secret_key": "test-secret", "TESTING": True}
    config.update(overrides)
    return create_app(config)


class _ClosingRequestHandler(WSGIRequestHandler):
    """Closes the TCP connection when a WebSocket ends.

    The WebSocket handler leaves Werkzeug by raising ``ConnectionError``; Werkzeug's handler
    then keeps the connection for HTTP keep-alive and reads the client's closing WebSocket
    frames as the next request line (logging a 400), so the TCP connection stays open. The
    python-socketio client's ``disconnect()`` sends a close frame and waits for the answer,
    but its own reader thread consumes the server's answer first; without the end of the TCP
    connection the call sat out websocket-client's 3-second close timeout, on every
    disconnect. RFC 6455 §7.1.1: the server closes the TCP connection first."""

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        self.close_connection = True


class LiveServer:
    """The app on a real HTTP server (a free port on 127.0.0.1, a thread per request)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=_ClosingRequestHandler
        )
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def statements_run(engine: Any, work: Callable[[], Any]) -> list[tuple[str, Any, bool]]:
    """Every statement ``engine`` ran while ``work()`` ran: (SQL, parameters, executemany)."""
    seen: list[tuple[str, Any, bool]] = []

    def listen(_conn: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        seen.append((sql, params, many))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return seen


def query_plan(session: Session, statement: Any, params: dict[str, Any]) -> str:
    """The database's plan for ``statement`` (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN
    with sequential scans discouraged, so a tiny table still shows whether an index *can* serve)."""
    conn = session.connection()
    compiled = statement.compile(conn.engine)
    sql = str(compiled)
    bound = {**compiled.params, **params}
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + sql, tuple(bound[k] for k in compiled.positiontup)
        )
        return "\n".join(str(r[-1]) for r in rows)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a tiny table: ask if it *can*
    rows = conn.exec_driver_sql("EXPLAIN " + sql, bound)
    return "\n".join(r[0] for r in rows)


def free_port() -> int:
    """A TCP port nothing listens on right now (for a server started as a process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> dict:
    """Poll ``/healthz`` of a server process until it answers (or fail with its output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            r = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            if r.status_code == 200:
                return r.json()
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow to start
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become healthy")


ROOT = Path(__file__).resolve().parent.parent  # the checkout: where `flask --app app` runs


def start_server(
    db_path: Path, port: int, *args: str, ignore_sigint: bool = False, **extra_env: str
) -> subprocess.Popen[str]:
    """`flask serve` (`make run`'s command) as a process on ``port``, on a SQLite file;
    ``extra_env`` adds or overrides environment variables (``FLOOR_...``); ``ignore_sigint``
    starts it as a non-interactive shell's ``&`` does (SIGINT ignored)."""
    env = {
        **os.environ,
        "FLOOR_DATABASE_URL": f"sqlite:///{db_path}",
        "FLOOR_PORT": str(port),
        "FLOOR_SECRET_KEY": "serve-test",
        **extra_env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "serve", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if ignore_sigint
        else None,
    )


def stop(proc: subprocess.Popen[str], signum: int = signal.SIGINT) -> str:
    """Ctrl-C (or ``signum``) a server process and return everything it printed."""
    proc.send_signal(signum)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


class AnsweringCarrier:
    """An HTTP carrier that answers every request with ``status`` and the raw ``body`` bytes
    (a real HTTP server on 127.0.0.1), for carriers no sandbox would imitate."""

    def __init__(self, status: int, body: bytes) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> AnsweringCarrier:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawHttpServer:
    """A TCP server on 127.0.0.1 that reads each request (small) and answers with
    ``answer(conn)``: for webhook receivers and carriers no HTTP server library would imitate
    (trickled, endless or broken answers)."""

    def __init__(self, answer: Any, path: str = "/") -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}{path}"
        self.answer = answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            self.answer(conn)

    def close(self) -> None:
        self.server.close()


class HeldRace:
    """Two transactions acting on one row at once, the first held between its read and its
    write: the test patches a step of the first to call ``hold()``. ``run`` starts the first,
    waits until it is held, starts the second, gives it 0.5 s to read (or to wait for the
    first's lock), lets the first go on, and returns each one's outcome: ``"done"`` or the code
    of the ``FloorError`` that refused it."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self._go = threading.Event()

    def hold(self) -> None:
        if not self.held.is_set():  # the first caller only
            self.held.set()
            self._go.wait(timeout=5)

    def run(self, sessions: sessionmaker[Session], first: Any, second: Any) -> tuple[str, str]:
        outcome: dict[int, str] = {}

        def act(n: int, action: Any) -> None:
            try:
                with unit_of_work(sessions) as s:
                    action(s)
                outcome[n] = "done"
            except FloorError as exc:
                outcome[n] = str(exc.code)

        one = threading.Thread(target=act, args=(1, first))
        one.start()
        assert self.held.wait(timeout=10)
        two = threading.Thread(target=act, args=(2, second))
        two.start()
        time.sleep(0.5)  # the second reads (or waits for the first's lock) meanwhile
        self._go.set()
        one.join(timeout=30)
        two.join(timeout=30)
        return outcome.get(1, "unfinished"), outcome.get(2, "unfinished")
