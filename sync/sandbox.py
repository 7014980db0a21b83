"""Local stand-ins for the outside world, on real sockets: an OMS webhook receiver (verifies
every signature, de-duplicates by event id, can misbehave on purpose) and a JSON carrier API.
Tests, benchmarks and demos use them; nothing in the server imports this module.

    python -m sync.sandbox oms --port 8099 --secret s3cret      # print what arrives
                                                                # (--quiet: counts only)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import random
import signal
import socket
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sync.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.open_sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        with self._sockets_lock:
            self.open_sockets.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self._sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (reset or closed a kept-alive connection) is no error of the
        receiver's: no traceback in its output, which prints one line per accepted event."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Cut kept-alive connections too, as a process that dies would."""
        with self._sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Base:
    """A ThreadingHTTPServer on 127.0.0.1 that can be stopped and started again on its port."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Any:
        handler = type("H", (self.handler,), {"owner": self})
        self._server = _Server(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until ``start`` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: Any
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once (no delayed-ACK stall)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _read(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, code: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body if body is not None else {}).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# --------------------------------------------------------------------------- OMS receiver


@dataclass
class Chaos:
    """Probabilities of misbehaving per request (the rest are answered 200)."""

    p_500: float = 0.0
    p_503: float = 0.0  # with Retry-After
    p_hang: float = 0.0  # sleep past the client's time-out (then process anyway, half the time)
    p_close: float = 0.0  # drop the connection without an answer
    p_422: float = 0.0  # refuse the event for good (a dead letter)
    hang_s: float = 1.0
    delay_s: float = 0.0  # every answer takes at least this long (a slow OMS)
    retry_after: str = "0"
    seed: int = 0


class _OmsHandler(_Handler):
    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        oms: OmsReceiver = self.owner
        body = self._read()
        declared = self.headers.get("Content-Length")
        if declared is None or len(body) < int(declared):
            # The sender died mid-request (e.g. SIGKILL): an incomplete request is no delivery
            # and says nothing about signatures. Drop it, as any HTTP server would.
            oms.count("truncated")
            self.close_connection = True
            return
        event_id = self.headers.get(EVENT_ID_HEADER, "")
        if not verify(
            oms.secret,
            self.headers.get(TIMESTAMP_HEADER, ""),
            body,
            self.headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
        ):
            oms.count("bad_signature")
            self._send(401, {"error": "bad signature"})
            return
        event = json.loads(body)
        if event.get("event_id") != event_id:
            oms.count("bad_signature")
            self._send(401, {"error": "event id header does not match the body"})
            return
        oms.count("requests", event_id)
        if oms.chaos.delay_s:
            time.sleep(oms.chaos.delay_s)
        roll = oms.roll()
        c = oms.chaos
        edges = [c.p_500, c.p_503, c.p_hang, c.p_close, c.p_422]
        if roll < edges[0]:
            self._send(500, {"error": "boom"})
            return
        roll -= edges[0]
        if roll < edges[1]:
            self._send(503, {"error": "busy"}, {"Retry-After": c.retry_after})
            return
        roll -= edges[1]
        if roll < edges[2]:
            oms.count("hangs")
            process_first = oms.roll() < 0.5
            if process_first:
                oms.accept(event)
            time.sleep(c.hang_s)
            if not process_first:
                oms.accept(event)
            self.close_connection = True
            return
        roll -= edges[2]
        if roll < edges[3]:
            oms.count("closed")
            self.close_connection = True
            return
        roll -= edges[3]
        if roll < edges[4]:
            self._send(422, {"error": "unknown order"})
            return
        oms.accept(event)
        self._send(200, {"ok": True})

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        """``GET /_stats``: what arrived, for a receiver run in another process."""
        oms: OmsReceiver = self.owner
        self._send(200, oms.stats())


class OmsReceiver(_Base):
    """Accepts each event id once (what an OMS does), remembers the order of first acceptance."""

    handler = _OmsHandler

    def __init__(self, secret: str, chaos: Chaos | None = None, port: int = 0) -> None:
        super().__init__(port)
        self.secret = secret
        self.chaos = chaos or Chaos()
        self._rng = random.Random(self.chaos.seed)
        self._lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []
        self.accepted_ids: set[str] = set()
        self.seen: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.out_of_order: list[str] = []
        self._last_cursor: dict[str, int] = defaultdict(int)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "accepted": len(self.accepted_ids),
                "out_of_order": len(self.out_of_order),
                "counters": dict(self.counters),
            }

    def roll(self) -> float:
        with self._lock:
            return self._rng.random()

    def count(self, name: str, event_id: str = "") -> None:
        with self._lock:
            self.counters[name] += 1
            if event_id:
                self.seen[event_id] += 1

    def accepted_since(self, n: int) -> list[dict[str, Any]]:
        """The events accepted after the first ``n`` (each once, in arrival order)."""
        with self._lock:
            return self.accepted[n:]

    def accept(self, event: dict[str, Any]) -> bool:
        with self._lock:
            if event["event_id"] in self.accepted_ids:
                self.counters["duplicates"] += 1
                return False
            # A real OMS treats the cursor as opaque; the sandbox knows it is the decimal feed
            # position and uses it to check that each order's events arrive in order.
            position = int(event["cursor"])
            if position < self._last_cursor[event["order"]]:
                self.out_of_order.append(event["event_id"])
            self._last_cursor[event["order"]] = position
            self.accepted_ids.add(event["event_id"])
            self.accepted.append(event)
            return True


# --------------------------------------------------------------------------- carrier sandbox


class _CarrierHandler(_Handler):
    def _authorised(self) -> bool:
        key = self.owner.api_key
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self._send(401, {"error": {"code": "unauthorised", "message": "bad key"}})
            return False
        return True

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        carrier: CarrierSandbox = self.owner
        body = json.loads(self._read() or b"{}")
        if not self._authorised():
            return
        if self.path.endswith("/shipments"):
            self._send(*carrier.create_shipment(body, self.headers.get("Idempotency-Key", "")))
        elif self.path.endswith("/manifests"):
            self._send(*carrier.manifest(body))
        else:
            self._send(404, {"error": {"code": "not_found", "message": self.path}})

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if not self._authorised():
            return
        carrier: CarrierSandbox = self.owner
        prefix = "/tracking/"
        if prefix in self.path:
            self._send(*carrier.tracking(self.path.rsplit(prefix, 1)[1]))
        else:
            self._send(404, {"error": {"code": "not_found", "message": self.path}})


class CarrierSandbox(_Base):
    """A carrier's JSON API: shipments (idempotent by key), tracking, manifests."""

    handler = _CarrierHandler

    def __init__(self, api_key: str = "", port: int = 0) -> None:
        super().__init__(port)
        self.api_key = api_key
        self._lock = threading.Lock()
        self.shipments: dict[str, dict[str, Any]] = {}  # tracking -> request
        self.by_key: dict[str, str] = {}
        self.delivered: dict[str, str] = {}  # tracking -> ISO time
        self.manifests: list[dict[str, Any]] = []

    def create_shipment(self, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
        package = body.get("package") or {}
        if not package.get("sscc") or not package.get("weight_g"):
            return 422, {"error": {"code": "invalid", "message": "package sscc and weight_g"}}
        with self._lock:
            if key and key in self.by_key:
                tracking = self.by_key[key]
            else:
                tracking = f"SBX{len(self.shipments) + 1:09d}"
                self.shipments[tracking] = body
                if key:
                    self.by_key[key] = tracking
        label = f"^XA^FO50,50^BCN,100,Y,N,N^FD{tracking}^FS^XZ".encode()
        return 201, {
            "tracking_number": tracking,
            "service": body.get("service") or "ground",
            "label_format": "zpl",
            "label_base64": base64.b64encode(label).decode(),
        }

    def tracking(self, number: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if number not in self.shipments:
                return 404, {"error": {"code": "unknown_tracking", "message": number}}
            if number in self.delivered:
                return 200, {"status": "delivered", "delivered_at": self.delivered[number]}
        return 200, {"status": "in_transit", "delivered_at": None}

    def deliver(self, number: str, at: dt.datetime | None = None) -> None:
        with self._lock:
            self.delivered[number] = (at or dt.datetime.now(dt.UTC)).isoformat()

    def manifest(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            unknown = [t for t in body.get("tracking_numbers", []) if t not in self.shipments]
            if unknown:
                return 422, {"error": {"code": "unknown_tracking", "message": ",".join(unknown)}}
            self.manifests.append(body)
            return 201, {"reference": f"SBX-MAN-{len(self.manifests):05d}"}


def event_line(event: dict[str, Any]) -> str:
    """One accepted event as the receiver prints it: order, type, from → to, when, its id."""
    move = f"{event.get('from') or '—'} → {event.get('to') or '—'}"
    return (
        f"{event.get('order', '?'):<12} {event.get('type', '?'):<20} {move:<24} "
        f"{event.get('at', '')}  {event.get('event_id', '')}"
    )


def _print_new_events(server: OmsReceiver, shown: int) -> int:
    new = server.accepted_since(shown)
    for event in new:
        print(event_line(event), flush=True)
    return shown + len(new)


def main() -> None:  # pragma: no cover - a manual tool
    """SIGUSR1 stops listening (connections refused) / listens again: an outage on demand."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["oms", "carrier"])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--secret", default="")
    parser.add_argument("--api-key", default="")
    args = parser.parse_args()
    server: _Base
    if args.kind == "oms":
        server = OmsReceiver(args.secret, port=args.port).start()
    else:
        server = CarrierSandbox(args.api_key, port=args.port).start()
    toggles: list[int] = []
    signal.signal(signal.SIGUSR1, lambda *_: toggles.append(1))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{args.kind} sandbox on {server.url} (Ctrl-C stops)", flush=True)
    up, last, shown = True, time.monotonic(), 0
    try:
        while True:
            time.sleep(0.02)
            while toggles:
                toggles.pop()
                server.stop() if up else server.start()
                up = not up
                print("listening" if up else "down (refusing connections)", flush=True)
            if isinstance(server, OmsReceiver) and not args.quiet:
                shown = _print_new_events(server, shown)
                if time.monotonic() - last > 5:
                    last = time.monotonic()
                    print(f"accepted {len(server.accepted)} events; {dict(server.counters)}")
    except (KeyboardInterrupt, SystemExit):
        if up:
            server.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
