"""Getting ZPL to a printer: raw TCP, a CUPS queue or a directory, chosen by a URI.

URIs (``parse_printer_uri``):

* ``tcp://HOST:PORT`` - raw ZPL over a plain TCP socket, the way every networked Zebra takes it on
  port 9100. ``send`` connects and sends with a time-out each and returns once every byte is
  handed to the network (``sendall``), then closes its half of the connection.
* ``cups://QUEUE`` - a CUPS queue (a raw queue in front of a USB or network Zebra). The PyPI
  ``zebra`` package's ``Zebra(queue).output(data)`` pipes the data into ``lpr -P QUEUE -oraw`` and
  neither waits for a verdict nor looks at lpr's exit status, and its ``getqueues()`` runs
  ``lpstat -p`` with an environment of only ``LANG`` (so a ``CUPS_SERVER`` setting is lost). So
  this module asks CUPS itself first: ``lpstat -p QUEUE`` must exit 0 (else ``cups_queue_missing``,
  or ``cups_unavailable`` when no scheduler answers), and then sends through a ``Zebra`` subclass
  whose lpr step is the same ``lpr -PQUEUE -oraw`` run with a time-out, its exit status checked
  (non-zero: ``cups_submit_failed`` with lpr's own message) and the job id as the job's title.
* ``file:///DIR`` - each job written to ``DIR/<job_id>.zpl`` atomically: a temporary file in the
  same directory, flushed to disk, then renamed over the final name, so a reader never sees half a
  label and a job sent twice leaves one file.

Errors are ``PrinterError`` with a ``code`` (``PrinterErrorCode``): for TCP, ``unreachable`` when
no connection can be made (nothing listens, no route, unknown host: the printer is off or gone),
``timeout`` when connecting or sending takes longer than allowed, ``refused`` when the printer drops
the connection while the label is being sent. A bad URI raises ``PrinterUriError``.

Host status (``query_host_status``): a Zebra answers ``~HS`` on its raw port with three strings,
each ``<STX>...<ETX><CR><LF>`` (ZPL II Programming Guide, "~HS Host Status Return")::

    1: aaa,b,c,dddd,eee,f,g,h,iii,j,k,l     b paper out, c pause, eee formats in buffer,
                                            f buffer full, j corrupt RAM, k under temp, l over temp
    2: mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www     o head up (open), p ribbon out, q thermal transfer,
                                            r print mode, uuuuuuuu labels remaining in batch
    3: xxxx,y                               password, static RAM installed

``parse_host_status`` reads these (or a reply cut short whose first string already names a
problem: paper out, paused...) into a ``HostStatus`` whose ``problems`` name what stops
printing (``paper_out``, ``ribbon_out``, ``head_open``, ``paused``, ``buffer_full``, ``head_cold``,
``head_too_hot``) and ``ready`` is true when there are none. Some printers stay silent on ``~HS``
while out of paper or with the head open, and printers that do not speak ZPL never answer: a
printer that accepts the connection but sends nothing within the time-out gives ``None``
("status unknown"), and so does a ``file://`` printer. A CUPS queue answers for itself: a queue
disabled (``cupsdisable``, or stopped by CUPS after its backend failed) takes jobs and keeps them,
so it is ``paused`` (a label sent there would be recorded printed while it waits); an enabled one
is ready as far as CUPS can tell.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from zebra import Zebra

from core.errors import FloorError

STX, ETX = b"\x02", b"\x03"
HOST_STATUS_COMMAND = b"~HS"
_JOB_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# CUPS: printable, no space, "/" or "#". Not a leading "-": lpstat and lpr would read the queue
# as options ("lpstat -p -hHOST" asks another CUPS server, "-E", "-l" list every queue).
_QUEUE_RE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,126}")


class Transport(enum.StrEnum):
    tcp = "tcp"
    cups = "cups"
    file = "file"


class PrinterUriErrorCode(enum.StrEnum):
    unknown_scheme = "unknown_scheme"
    missing_host = "missing_host"
    bad_port = "bad_port"
    bad_queue = "bad_queue"
    bad_directory = "bad_directory"
    unexpected_part = "unexpected_part"
    too_long = "too_long"


class PrinterErrorCode(enum.StrEnum):
    unreachable = "unreachable"
    timeout = "timeout"
    refused = "refused"
    dropped_after_send = "dropped_after_send"  # reset once every byte had left: printed or not?
    bad_status_reply = "bad_status_reply"
    bad_job_id = "bad_job_id"
    cups_unavailable = "cups_unavailable"
    cups_queue_missing = "cups_queue_missing"
    cups_submit_failed = "cups_submit_failed"
    directory_missing = "directory_missing"
    write_failed = "write_failed"


class PrinterUriError(FloorError, ValueError):
    """A printer address that cannot be used."""

    http_status = 422

    def __init__(self, code: PrinterUriErrorCode, message: str) -> None:
        super().__init__(code, message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class PrinterError(FloorError):
    """The printer could not be reached or refused the job."""

    http_status = 502

    def __init__(self, code: PrinterErrorCode, message: str) -> None:
        super().__init__(code, message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class PrinterAddress:
    transport: Transport
    host: str = ""  # tcp
    port: int = 0  # tcp
    queue: str = ""  # cups
    directory: str = ""  # file: absolute path

    def __str__(self) -> str:
        if self.transport is Transport.tcp:
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"tcp://{host}:{self.port}"
        if self.transport is Transport.cups:
            return f"cups://{self.queue}"
        return f"file://{self.directory}"


@dataclass(frozen=True)
class HostStatus:
    paper_out: bool
    paused: bool
    head_open: bool
    ribbon_out: bool
    buffer_full: bool
    head_cold: bool
    head_too_hot: bool
    corrupt_ram: bool
    formats_in_buffer: int
    labels_remaining: int

    @property
    def problems(self) -> tuple[str, ...]:
        """What keeps the printer from printing, most actionable first."""
        flags = (
            ("paper_out", self.paper_out),
            ("ribbon_out", self.ribbon_out),
            ("head_open", self.head_open),
            ("paused", self.paused),
            ("buffer_full", self.buffer_full),
            ("head_too_hot", self.head_too_hot),
            ("head_cold", self.head_cold),
        )
        return tuple(name for name, on in flags if on)

    @property
    def ready(self) -> bool:
        return not self.problems


# --- URIs ---------------------------------------------------------------------------------------


MAX_URI = 200  # the URI and the address taken from it fit their columns (printers.address: 200)
# Where a file:// printer must never write its jobs (the server may run as root).
_SYSTEM_DIRS = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root")
_SYSTEM_DIRS += ("/run", "/sbin", "/sys", "/usr", "/var/lib", "/var/run")


def parse_printer_uri(uri: str) -> PrinterAddress:
    """``tcp://HOST:PORT``, ``cups://QUEUE`` or ``file:///ABSOLUTE/DIR`` as a ``PrinterAddress``."""
    E = PrinterUriErrorCode
    if len(uri.strip()) > MAX_URI:
        raise PrinterUriError(E.too_long, f"a printer URI is at most {MAX_URI} characters")
    if "\x00" in uri or any(c.isspace() for c in uri.strip()):
        raise PrinterUriError(E.unexpected_part, "whitespace or NUL in the URI")
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError as exc:
        raise PrinterUriError(E.bad_port, str(exc)) from exc
    scheme = parts.scheme.lower()
    if parts.query or parts.fragment or parts.username or parts.password:
        raise PrinterUriError(E.unexpected_part, "no user, query or fragment in a printer URI")
    if scheme == Transport.tcp:
        if not parts.hostname:
            raise PrinterUriError(E.missing_host, "tcp://HOST:PORT needs a host")
        if port is None or not 1 <= port <= 65535:
            raise PrinterUriError(E.bad_port, "tcp://HOST:PORT needs a port (9100 on a Zebra)")
        if parts.path not in ("", "/"):
            raise PrinterUriError(E.unexpected_part, "no path in a tcp:// URI")
        return PrinterAddress(Transport.tcp, host=parts.hostname, port=port)
    if scheme == Transport.cups:
        queue = unquote(parts.netloc + parts.path).strip("/")
        if not _QUEUE_RE.fullmatch(queue):
            raise PrinterUriError(
                E.bad_queue,
                f"not a CUPS queue name: {queue!r} (letters, digits, '_', '.', '-'; no '-' first)",
            )
        return PrinterAddress(Transport.cups, queue=queue)
    if scheme == Transport.file:
        if parts.netloc not in ("", "localhost"):
            raise PrinterUriError(E.bad_directory, "file:// URIs name a local directory")
        directory = unquote(parts.path)
        if not directory.isprintable():  # %00 and other control characters, once decoded
            raise PrinterUriError(E.bad_directory, "a control character in the directory")
        if not directory.startswith("/") or "/../" in directory + "/":
            raise PrinterUriError(E.bad_directory, "file:///DIR needs an absolute directory")
        # normpath keeps a leading "//" (POSIX leaves it to the system; Linux reads it as "/"):
        # file:////etc was /etc written as "//etc", past the check below.
        directory = "/" + os.path.normpath(directory).lstrip("/")
        if any(directory == d or directory.startswith(d + "/") for d in _SYSTEM_DIRS):
            raise PrinterUriError(
                E.bad_directory, f"{directory} belongs to the system: name a directory of labels"
            )
        return PrinterAddress(Transport.file, directory=directory)
    raise PrinterUriError(E.unknown_scheme, f"scheme {scheme!r}: use tcp://, cups:// or file://")


# --- sending ------------------------------------------------------------------------------------


def send(address: PrinterAddress, job_id: str, zpl_bytes: bytes, timeout_s: float) -> None:
    """Send one print job; returns once the printer (or CUPS, or the file system) has all of it.

    ``job_id`` names the job (file name, CUPS title): letters, digits, ``.``, ``_``, ``-``.
    Raises ``PrinterError``.
    """
    if not _JOB_ID_RE.fullmatch(job_id):
        raise PrinterError(PrinterErrorCode.bad_job_id, f"job id {job_id!r}")
    if address.transport is Transport.tcp:
        _send_tcp(address, zpl_bytes, timeout_s)
    elif address.transport is Transport.cups:
        _send_cups(address.queue, job_id, zpl_bytes, timeout_s)
    else:
        _send_file(Path(address.directory), job_id, zpl_bytes)


def _connect(address: PrinterAddress, timeout_s: float) -> socket.socket:
    try:
        return socket.create_connection((address.host, address.port), timeout=timeout_s)
    except TimeoutError as exc:
        raise PrinterError(PrinterErrorCode.timeout, f"connecting to {address}") from exc
    except OSError as exc:  # refused, no route, unknown host
        raise PrinterError(PrinterErrorCode.unreachable, f"{address}: {exc}") from exc


CLOSE_WAIT_S = 1.0  # at most, for the printer to close its side once it has read the label


def _send_tcp(address: PrinterAddress, data: bytes, timeout_s: float) -> None:
    with _connect(address, timeout_s) as sock:
        try:
            sock.sendall(data)
        except TimeoutError as exc:  # not every byte left: the label's ^XZ did not
            raise PrinterError(PrinterErrorCode.timeout, f"sending to {address}") from exc
        except OSError as exc:  # reset, broken pipe, with bytes still to send
            raise PrinterError(PrinterErrorCode.refused, f"{address}: {exc}") from exc
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:  # every byte had left, then the printer reset the connection
            raise _dropped(address, exc) from exc
        _await_close(sock, address, min(timeout_s, CLOSE_WAIT_S))


def _dropped(address: PrinterAddress, exc: OSError) -> PrinterError:
    return PrinterError(
        PrinterErrorCode.dropped_after_send,
        f"{address} dropped the connection after the label was sent ({exc}): check it printed",
    )


def _await_close(sock: socket.socket, address: PrinterAddress, wait_s: float) -> None:
    """``sendall`` returns once the bytes are in this host's socket buffer, not in the printer.
    A printer that read the label closes its side (end of stream). A connection reset now means
    it went away with bytes unread, or closed abruptly after reading them: the label may or may
    not have printed (``dropped_after_send``, for a person to check; never sent again on its
    own). A printer that keeps the connection open past ``wait_s`` is taken at its word."""
    deadline = time.monotonic() + wait_s
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            if not sock.recv(4096):
                return
    except TimeoutError:
        return
    except OSError as exc:
        raise _dropped(address, exc) from exc


class _CheckedZebra(Zebra):
    """``zebra.Zebra`` whose Unix output step checks lpr's verdict (the original discards it)."""

    def __init__(self, queue: str, title: str, timeout_s: float) -> None:
        super().__init__(queue)
        self.title = title
        self.timeout_s = timeout_s

    def _output_unix(self, commands: bytes) -> None:
        argv = ["lpr", f"-P{self.queue}", "-oraw", "-T", self.title]
        try:
            done = subprocess.run(argv, input=commands, capture_output=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise PrinterError(PrinterErrorCode.timeout, f"lpr to {self.queue}") from exc
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
            raise PrinterError(PrinterErrorCode.cups_submit_failed, message)


def _send_cups(queue: str, job_id: str, data: bytes, timeout_s: float) -> None:
    check_cups_queue(queue, timeout_s)
    _CheckedZebra(queue, job_id, timeout_s).output(data)


def _cups_status(queue: str, timeout_s: float) -> HostStatus:
    """The queue's own state (``lpstat -p QUEUE``, in the C locale): disabled is ``paused``."""
    first = check_cups_queue(queue, timeout_s).strip().splitlines()[:1]
    disabled = bool(first) and " disabled" in first[0]
    return HostStatus(
        paper_out=False,
        paused=disabled,
        head_open=False,
        ribbon_out=False,
        buffer_full=False,
        head_cold=False,
        head_too_hot=False,
        corrupt_ram=False,
        formats_in_buffer=0,
        labels_remaining=0,
    )


def check_cups_queue(queue: str, timeout_s: float) -> str:
    """``lpstat -p QUEUE``'s answer; raise ``PrinterError`` unless CUPS knows ``queue`` (it
    exits 0)."""
    if shutil.which("lpstat") is None or shutil.which("lpr") is None:
        raise PrinterError(PrinterErrorCode.cups_unavailable, "lpstat/lpr not installed")
    try:
        done = subprocess.run(
            ["lpstat", "-p", queue],
            capture_output=True,
            timeout=timeout_s,
            text=True,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},  # its words, not a translation
        )
    except subprocess.TimeoutExpired as exc:
        raise PrinterError(PrinterErrorCode.timeout, "lpstat") from exc
    if done.returncode != 0:
        message = done.stderr.strip() or f"lpstat exit {done.returncode}"
        unavailable = "scheduler" in message.lower() or "connect" in message.lower()
        code = (
            PrinterErrorCode.cups_unavailable
            if unavailable
            else PrinterErrorCode.cups_queue_missing
        )
        raise PrinterError(code, f"{queue}: {message}")
    return done.stdout


def _send_file(directory: Path, job_id: str, data: bytes) -> None:
    if not directory.is_dir():
        raise PrinterError(PrinterErrorCode.directory_missing, str(directory))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{job_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, directory / f"{job_id}.zpl")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise PrinterError(PrinterErrorCode.write_failed, f"{directory}: {exc}") from exc


# --- host status --------------------------------------------------------------------------------


def parse_host_status(reply: bytes) -> HostStatus:
    """The three ``<STX>...<ETX>`` strings of a ``~HS`` reply as a ``HostStatus``."""
    frames = re.findall(rb"\x02([^\x02\x03]*)\x03", reply)
    if not frames:
        raise PrinterError(PrinterErrorCode.bad_status_reply, "0 of 3 strings")
    one = frames[0].decode("ascii", "replace").split(",")
    partial = len(frames) < 3
    # Cut short (slow, or cut off): the second string is unknown; what the first one says
    # still counts when it names a problem (see the end).
    two = frames[1].decode("ascii", "replace").split(",") if not partial else ["0"] * 11
    if len(one) < 12 or len(two) < 11:
        detail = f"{len(frames)} of 3 strings" if partial else f"{len(one)}/{len(two)} fields"
        raise PrinterError(PrinterErrorCode.bad_status_reply, detail)

    def flag(value: str) -> bool:
        value = value.strip()
        if value not in ("0", "1"):
            raise PrinterError(PrinterErrorCode.bad_status_reply, f"flag {value!r}")
        return value == "1"

    def number(value: str) -> int:
        value = value.strip()
        if not (value.isascii() and value.isdigit() and len(value) <= 9):
            raise PrinterError(PrinterErrorCode.bad_status_reply, f"number {value!r}")
        return int(value)

    status = HostStatus(
        paper_out=flag(one[1]),
        paused=flag(one[2]),
        formats_in_buffer=number(one[4]),
        buffer_full=flag(one[5]),
        corrupt_ram=flag(one[9]),
        head_cold=flag(one[10]),
        head_too_hot=flag(one[11]),
        head_open=flag(two[2]),
        ribbon_out=flag(two[3]),
        labels_remaining=number(two[8]),
    )
    if partial and status.ready:  # nothing wrong in the first string; the rest is unknown
        raise PrinterError(PrinterErrorCode.bad_status_reply, f"{len(frames)} of 3 strings")
    return status


def query_host_status(address: PrinterAddress, timeout_s: float) -> HostStatus | None:
    """Ask a TCP printer for its host status (a CUPS queue for its state); ``None`` for a
    ``file://`` printer or a TCP one that accepts the connection but does not answer within
    ``timeout_s``. Raises ``PrinterError`` when it cannot be reached or answers something that
    is not a host status."""
    if address.transport is Transport.cups:
        return _cups_status(address.queue, timeout_s)
    if address.transport is not Transport.tcp:
        return None
    deadline = time.monotonic() + timeout_s
    with _connect(address, timeout_s) as sock:
        try:
            sock.sendall(HOST_STATUS_COMMAND)
        except OSError as exc:
            raise PrinterError(PrinterErrorCode.refused, f"{address}: {exc}") from exc
        reply = b""
        while reply.count(ETX) < 3:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                break
            except OSError as exc:
                raise PrinterError(PrinterErrorCode.refused, f"{address}: {exc}") from exc
            if not chunk:
                break
            reply += chunk
            if len(reply) > 4096:
                raise PrinterError(PrinterErrorCode.bad_status_reply, "reply too long")
    if not reply:
        return None
    return parse_host_status(reply)
