"""A virtual Zebra label printer: a TCP listener that keeps what it receives and answers ``~HS``.

It stands in for a networked Zebra on port 9100 in tests and in ``make run``: bytes that arrive on
any connection are appended to a buffer; each ``~HS`` in the stream is answered at once with a host
status (three ``<STX>...<ETX><CR><LF>`` strings, the layout ``printing.transports`` documents)
built from the flags set with ``set_status``; and every complete label - text up to and including
``^XZ`` - is kept in ``labels`` (and, if a directory is given, written there as
``label-000001.zpl``...). Like a real printer it accepts labels while out of paper or paused (they
wait in its buffer); the flags only change what ``~HS`` reports.

``set_online(False)`` closes the listening socket, so a connection attempt is refused as with a
printer that is switched off; ``set_online(True)`` listens on the same port again.

Standalone: ``python -m printing.virtual_zebra --port 9100 --dir /tmp/labels``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import socketserver
import threading
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


@dataclass(frozen=True)
class StatusFlags:
    paper_out: bool = False
    head_open: bool = False
    ribbon_out: bool = False
    paused: bool = False


def host_status_reply(flags: StatusFlags, formats_in_buffer: int = 0) -> bytes:
    """The three strings a ZD-series printer sends for ``~HS`` with these flags."""
    b = int(flags.paper_out)
    c = int(flags.paused)
    one = f"030,{b},{c},1218,{formats_in_buffer:03d},0,0,0,000,0,0,0"
    two = f"001,0,{int(flags.head_open)},{int(flags.ribbon_out)},1,2,6,0,00000000,1,000"
    three = "1234,0"
    return b"".join(b"\x02" + s.encode() + b"\x03\r\n" for s in (one, two, three))


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        zebra = self.server.zebra
        buffer = b""
        while True:
            try:
                chunk = self.request.recv(65536)
            except OSError:
                return
            if not chunk:
                break
            buffer += chunk
            buffer = zebra._consume(buffer, self.request)
        # Whatever is left has no ^XZ: a label cut short, which a printer would not print.


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    # socketserver's default backlog is 5. With more senders at once, the kernel dropped the
    # final ACK of a handshake; the sender still saw its bytes go out, and a label was lost.
    request_queue_size = 128
    zebra: VirtualZebra


class VirtualZebra:
    """A printer on 127.0.0.1; ``port=0`` picks a free port (read ``.port`` after ``start()``)."""

    def __init__(self, port: int = 0, label_dir: Path | str | None = None) -> None:
        self.port = port
        self.label_dir = Path(label_dir) if label_dir is not None else None
        self.labels: list[str] = []
        self.status_requests = 0
        self._flags = StatusFlags()
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --

    def start(self) -> VirtualZebra:
        if self._server is not None:
            return self
        server = _Server((HOST, self.port), _Handler)
        server.zebra = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def set_online(self, online: bool) -> None:
        """Offline: stop listening, connections are refused. Online: listen on the same port."""
        if online:
            self.start()
        else:
            self.stop()

    @property
    def online(self) -> bool:
        return self._server is not None

    def __enter__(self) -> VirtualZebra:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state --

    def set_status(
        self,
        *,
        paper_out: bool | None = None,
        head_open: bool | None = None,
        ribbon_out: bool | None = None,
        paused: bool | None = None,
    ) -> None:
        """Change the flags ``~HS`` reports; ``None`` leaves a flag as it is."""
        with self._lock:
            old = self._flags
            self._flags = StatusFlags(
                paper_out=old.paper_out if paper_out is None else paper_out,
                head_open=old.head_open if head_open is None else head_open,
                ribbon_out=old.ribbon_out if ribbon_out is None else ribbon_out,
                paused=old.paused if paused is None else paused,
            )

    @property
    def status(self) -> StatusFlags:
        with self._lock:
            return self._flags

    def wait_for_labels(self, count: int, timeout_s: float) -> list[str]:
        """Block until ``count`` labels have arrived (or the time-out passes); the labels so far."""
        with self._received:
            self._received.wait_for(lambda: len(self.labels) >= count, timeout=timeout_s)
            return list(self.labels)

    # -- protocol --

    def _consume(self, buffer: bytes, conn: socket.socket) -> bytes:
        """Answer every ``~HS``, keep every complete label; return what is left of ``buffer``."""
        while (at := buffer.find(b"~HS")) != -1:
            buffer = buffer[:at] + buffer[at + 3 :]
            with self._lock:
                self.status_requests += 1
                reply = host_status_reply(self._flags)
            with contextlib.suppress(OSError):  # the asker went away
                conn.sendall(reply)
        while (end := buffer.find(b"^XZ")) != -1:
            label, buffer = buffer[: end + 3], buffer[end + 3 :]
            self._keep(label.strip().decode("utf-8", "replace"))
        return buffer

    def _keep(self, label: str) -> None:
        with self._received:
            self.labels.append(label)
            number = len(self.labels)
            self._received.notify_all()
        if self.label_dir is not None:
            (self.label_dir / f"label-{number:06d}.zpl").write_text(label, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument("--dir", type=Path, default=None, help="keep labels here as .zpl files")
    args = parser.parse_args(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    zebra = VirtualZebra(args.port, args.dir).start()
    print(f"virtual Zebra listening on tcp://{HOST}:{zebra.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        zebra.stop()


if __name__ == "__main__":
    main()
