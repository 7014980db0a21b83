"""Cut a serial byte stream into scanner frames: a pure, incremental decoder.

A serial scanner sends each barcode as ``[prefix] data [suffix]``.  Bytes arrive in
arbitrary pieces (one read may hold half a frame, or three frames), so the decoder keeps
what it has not yet framed and is fed again::

    decoder = FrameDecoder(config)
    for result in decoder.feed(chunk, now_s):     # Frame or RejectedFrame, in order
        ...
    for result in decoder.flush(now_s):           # call when a read timed out
        ...

The algorithm, per byte chunk:

1. If bytes are pending and the line has been quiet for ``config.gap_s``, the pending
   bytes are settled first (see step 4) - a new burst never glues onto an old one.  Not
   when the reader says it did not hear the gap (``heard=False``: the bytes were waiting
   in the port's buffer while it was busy; their arrival time is unknown).
2. Append the chunk; while the buffer holds the terminator (CR, LF, CR LF or TAB), cut
   the frame before it.  A scanner set to CR that really sends CR LF is tolerated: an LF
   right after a CR-ended frame is dropped (and a CR before LF with ``lf``).
3. A cut frame is checked: empty (or blank) -> ``empty``; longer than ``config.max_len``
   bytes -> ``too_long``; not valid UTF-8, or holding a control character other than the
   GS1 group separator -> ``non_printable`` (checked after the prefix is stripped and the
   GS substitute, ``config.gs``, is replaced by the real GS (``"\\x1d"``): a prefix may be
   a control character such as STX).  Otherwise a :class:`Frame` comes out.
4. Without a terminator in sight the buffer may only grow to ``max_len``: beyond that a
   ``too_long`` rejection is reported at once and the rest is discarded up to the next
   terminator (or quiet gap).  ``flush(now_s)`` settles pending bytes after a quiet gap:
   with ``suffix=none`` the gap *is* the terminator (they become a frame, checked as in
   step 3); with a terminator configured they are a ``partial`` frame.

Every result carries the raw bytes (``raw``, prefix included, terminator excluded) and a
repr-safe text of them (``raw_text``) so a person can see what the scanner really sent.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from devices.config import GS, SerialDeviceConfig, Suffix


class RejectReason(enum.StrEnum):
    non_printable = "non_printable"
    too_long = "too_long"
    partial = "partial"
    empty = "empty"


def raw_text(raw: bytes) -> str:
    r"""Show bytes as printable text: valid UTF-8 as is, the rest escaped (``\r``, ``\x1d``)."""
    text = raw.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace")
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


@dataclass(frozen=True)
class Frame:
    """A good frame: ``text`` is the barcode (prefix stripped, GS substitute made GS)."""

    text: str
    raw: bytes

    @property
    def raw_text(self) -> str:
        return raw_text(self.raw)


@dataclass(frozen=True)
class RejectedFrame:
    """A frame refused with a reason code (a :class:`RejectReason`, or a parser's code)."""

    reason: str
    raw: bytes
    detail: str

    @property
    def raw_text(self) -> str:
        return raw_text(self.raw)


Result = Frame | RejectedFrame


class FrameDecoder:
    """Incremental frame decoder for one port; not thread-safe (one reader owns it)."""

    def __init__(self, config: SerialDeviceConfig) -> None:
        self.config = config
        self._terminator = config.suffix.terminator
        self._prefix = config.prefix
        self._buffer = bytearray()
        self._discarding = False  # an over-long frame was reported; drop up to the next end
        self._drop_lf = False  # the last frame ended with CR in "cr" mode: an LF may follow
        self._last_rx_s: float | None = None

    @property
    def pending(self) -> int:
        """How many bytes wait for a terminator (0 while discarding)."""
        return 0 if self._discarding else len(self._buffer)

    def feed(self, data: bytes, now_s: float | None = None, *, heard: bool = True) -> list[Result]:
        """Add received bytes; return the frames (and rejections) they complete, in order.

        ``heard=False``: the bytes were already waiting in the port's buffer when the reader
        looked (it was busy, e.g. in a slow callback), so when they arrived is unknown and no
        quiet gap before them is assumed: pending bytes are not settled first. Otherwise
        the rest of a frame that came in while a scan was being recorded was cut off as a
        ``partial`` and its tail handed on as a scan of its own."""
        now_s = time.monotonic() if now_s is None else now_s
        results = self.flush(now_s) if heard else []
        if not data:
            return results
        self._last_rx_s = now_s
        if self._drop_lf:
            self._drop_lf = False
            if self.config.suffix is Suffix.cr and data[:1] == b"\n":
                data = data[1:]
        self._buffer += data
        if not self._terminator:
            self._check_overflow(results)
            return results
        while True:
            end = self._buffer.find(self._terminator)
            if end < 0:
                break
            chunk = bytes(self._buffer[:end])
            del self._buffer[: end + len(self._terminator)]
            if self.config.suffix is Suffix.cr:
                if self._buffer[:1] == b"\n":
                    del self._buffer[:1]
                elif not self._buffer:
                    self._drop_lf = True
            elif self.config.suffix is Suffix.lf and chunk.endswith(b"\r"):
                chunk = chunk[:-1]
            if self._discarding:
                self._discarding = False  # the over-long frame ends here; already reported
                continue
            results.append(self._settle(chunk))
        self._check_overflow(results)
        return results

    def flush(self, now_s: float | None = None) -> list[Result]:
        """Settle pending bytes if the line has been quiet for ``gap_s`` (else nothing)."""
        now_s = time.monotonic() if now_s is None else now_s
        if self._last_rx_s is None or now_s - self._last_rx_s < self.config.gap_s:
            return []
        self._drop_lf = False
        if not self._buffer and not self._discarding:
            return []
        return self._settle_pending(as_partial=bool(self._terminator))

    def abort(self) -> list[Result]:
        """The port went away: pending bytes (if any) become a ``partial`` rejection."""
        return self._settle_pending(as_partial=True)

    def _settle_pending(self, *, as_partial: bool) -> list[Result]:
        chunk = bytes(self._buffer)
        self._buffer.clear()
        self._drop_lf = False
        if self._discarding:
            self._discarding = False
            return []
        if not chunk:
            return []
        if as_partial:
            return [
                RejectedFrame(
                    RejectReason.partial,
                    chunk,
                    f"{len(chunk)} bytes without a {self.config.suffix.value} terminator",
                )
            ]
        return [self._settle(chunk)]

    def _check_overflow(self, results: list[Result]) -> None:
        # With CR LF, a CR at the very end may be the first half of the terminator: keep it.
        tail = 1 if len(self._terminator) > 1 and self._buffer.endswith(b"\r") else 0
        body = len(self._buffer) - tail
        if self._discarding:
            del self._buffer[:body]
        elif body > self.config.max_len:
            results.append(self._too_long(bytes(self._buffer[:body])))
            del self._buffer[:body]
            self._discarding = True

    def _too_long(self, chunk: bytes) -> RejectedFrame:
        return RejectedFrame(
            RejectReason.too_long,
            chunk[: self.config.max_len],
            f"frame longer than {self.config.max_len} bytes",
        )

    def _settle(self, chunk: bytes) -> Result:
        """Check one complete frame and turn it into a Frame or a RejectedFrame."""
        if not chunk.strip():
            return RejectedFrame(RejectReason.empty, chunk, "no data before the terminator")
        if len(chunk) > self.config.max_len:
            return self._too_long(chunk)
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            return RejectedFrame(
                RejectReason.non_printable,
                chunk,
                f"not valid UTF-8 (byte 0x{chunk[exc.start]:02x} at {exc.start})",
            )
        # The prefix and the GS substitute go first: both may be control characters the
        # scanner was programmed to send (STX is the classic prefix), which the check below
        # would otherwise refuse in every frame.
        skipped = 0
        if self._prefix and text.startswith(self._prefix):
            text = text[len(self._prefix) :]
            skipped = len(self._prefix)
        if self.config.gs:
            text = text.replace(self.config.gs, GS)
        for index, ch in enumerate(text):
            if not ch.isprintable() and ch != GS:
                return RejectedFrame(
                    RejectReason.non_printable,
                    chunk,
                    f"control character {raw_text(ch.encode())} at {index + skipped}",
                )
        if not text.strip():
            return RejectedFrame(RejectReason.empty, chunk, "only the prefix, no data")
        return Frame(text, chunk)
