"""A background reader per serial device that survives unplugging.

One thread per port runs this loop::

    while not stopped:
        open the port (pyserial serial_for_url: a device path, or loop://)
            failure -> status offline (reason kept), wait retry_s, try again
        status online
        read with a short timeout; feed bytes to the FrameDecoder; flush it after a
        quiet read; hand each Frame to on_frame and each RejectedFrame to on_reject
            read error (SerialException/OSError: cable pulled, pty closed)
            -> pending bytes become a "partial" rejection, status offline, close,
               and back to opening - the port is re-opened when it reappears

A USB scanner that is unplugged makes reads fail; while it is away, its device path (or
a socat pty link) does not exist, so opening fails until it is back.  Nothing needs a
restart.  The port is opened ``exclusive`` (an advisory lock): two readers - e.g. two
server processes - on one scanner would each get half of the bytes.

Callbacks run on the reader thread and must be quick (hand work to a queue or emit an
event); an exception in one is logged and the reader carries on.  ``on_status`` is called
on every change between ``online`` and ``offline`` (and on ``stopped``) with a
:class:`ReaderStatus` snapshot; ``status`` gives the same snapshot at any time.

:class:`ScaleReader` is the same reader with each frame parsed as a scale line; it keeps
the latest reading and the latest stable one for the pack page.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import serial

from devices.config import SerialDeviceConfig
from devices.framing import Frame, FrameDecoder, RejectedFrame, RejectReason, Result
from devices.scale import ScaleError, ScaleReading, check_range, parse_scale_frame

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.05  # how long one read waits; bounds the latency of flush() and stop()


class ReaderState(enum.StrEnum):
    starting = "starting"
    online = "online"
    offline = "offline"
    stopped = "stopped"


@dataclass(frozen=True)
class ReaderStatus:
    """A snapshot of one reader, for a device registry or an admin page."""

    station: str
    port: str
    state: ReaderState
    since: dt.datetime  # when the state last changed (UTC)
    last_error: str | None = None  # why it is offline (None again once it is back online)
    frames: int = 0
    rejects: int = 0
    last_frame: Frame | None = None
    last_frame_at: dt.datetime | None = None
    last_reject: RejectedFrame | None = None
    last_reject_at: dt.datetime | None = None

    @property
    def online(self) -> bool:
        return self.state is ReaderState.online


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SerialReader:
    """Read frames from one serial port on a background thread; re-open it after an unplug."""

    def __init__(
        self,
        config: SerialDeviceConfig,
        on_frame: Callable[[Frame], object],
        on_reject: Callable[[RejectedFrame], object] | None = None,
        on_status: Callable[[ReaderStatus], object] | None = None,
        *,
        retry_s: float | None = None,
        skip_empty: bool = False,
    ) -> None:
        self.config = config
        self.retry_s = config.retry_s if retry_s is None else retry_s
        self.skip_empty = skip_empty  # blank lines are no frame at all (a scale's separators)
        self._on_frame = on_frame
        self._on_reject = on_reject
        self._on_status = on_status
        self._lock = threading.Lock()
        self._status = ReaderStatus(config.station, config.port, ReaderState.starting, _utcnow())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: serial.SerialBase | None = None

    @property
    def status(self) -> ReaderStatus:
        with self._lock:
            return self._status

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the reader thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"reader for {self.config.station} already started")
        self._thread = threading.Thread(
            target=self._run, name=f"serial-{self.config.station}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop reading, close the port and wait for the thread to end."""
        self._stop.set()
        port = self._port
        if port is not None and hasattr(port, "cancel_read"):
            with contextlib.suppress(Exception):  # a half-closed port: the read timeout ends it
                port.cancel_read()  # wake a blocked read at once (POSIX ports)
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise RuntimeError(f"reader for {self.config.station} did not stop")

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                port = self._open()
                if port is None:
                    self._stop.wait(self.retry_s)
                    continue
                try:
                    self._read_until_error(port)
                finally:
                    self._port = None
                    with contextlib.suppress(Exception):  # closing a vanished device may fail
                        port.close()
        finally:
            self._set_state(ReaderState.stopped, None)

    def _open(self) -> serial.SerialBase | None:
        kwargs = self.config.serial_kwargs()
        if not self.config.url.startswith("loop://"):
            kwargs["exclusive"] = True
        try:
            port = serial.serial_for_url(self.config.url, timeout=READ_TIMEOUT_S, **kwargs)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._set_state(ReaderState.offline, _describe(exc))
            return None
        self._port = port
        self._set_state(ReaderState.online, None)
        return port

    def _read_until_error(self, port: serial.SerialBase) -> None:
        decoder = FrameDecoder(self.config)
        while not self._stop.is_set():
            try:
                waiting = port.in_waiting
                data = port.read(max(1, waiting))
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial reading a port closed under it (fd None)
                self._dispatch(decoder.abort())
                if not self._stop.is_set():
                    self._set_state(ReaderState.offline, _describe(exc))
                return
            now_s = time.monotonic()
            # Bytes that were already waiting came in while the callbacks ran (a scan being
            # recorded): this thread did not see the line quiet before them.
            results = decoder.feed(data, now_s, heard=not waiting) if data else decoder.flush(now_s)
            self._dispatch(results)

    def report_reject(self, rejected: RejectedFrame) -> None:
        """Count and pass on a rejection (also used by parsers layered on top, e.g. scales)."""
        with self._lock:
            self._status = replace(
                self._status,
                rejects=self._status.rejects + 1,
                last_reject=rejected,
                last_reject_at=_utcnow(),
            )
        if self._on_reject is not None:
            self._call(self._on_reject, rejected)

    def _dispatch(self, results: list[Result]) -> None:
        for result in results:
            if isinstance(result, RejectedFrame):
                if self.skip_empty and result.reason == RejectReason.empty:
                    continue
                self.report_reject(result)
                continue
            with self._lock:
                self._status = replace(
                    self._status,
                    frames=self._status.frames + 1,
                    last_frame=result,
                    last_frame_at=_utcnow(),
                )
            self._call(self._on_frame, result)

    def _set_state(self, state: ReaderState, error: str | None) -> None:
        with self._lock:
            old = self._status
            changed = state is not old.state or (error is not None and error != old.last_error)
            if not changed:
                return
            if state is ReaderState.online:
                last_error = None  # back: the reason it was away is history, not a fault now
            else:
                last_error = error if error is not None else old.last_error
            self._status = replace(
                old,
                state=state,
                since=_utcnow() if state is not old.state else old.since,
                last_error=last_error,
            )
            status = self._status
        if state is ReaderState.offline:
            log.warning("%s %s offline: %s", self.config.station, self.config.port, error)
        else:
            log.info("%s %s %s", self.config.station, self.config.port, state.value)
        if self._on_status is not None:
            self._call(self._on_status, status)

    def _call(self, callback: Callable[[object], object], arg: object) -> None:
        try:
            callback(arg)
        except Exception:
            log.exception("%s: callback %r failed", self.config.station, callback)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


@dataclass(frozen=True)
class TimedReading:
    reading: ScaleReading
    at: dt.datetime


class ScaleReader:
    """A :class:`SerialReader` whose frames are scale lines parsed into :class:`ScaleReading`.

    Lines that are no weight (overload, garbage, a piece count, a weight outside
    0..``MAX_WEIGHT_G``) reach ``on_reject`` as a :class:`RejectedFrame` whose reason is the
    :class:`~devices.scale.ScaleErrorCode`. Any such frame - and any frame the decoder
    refused, except a blank line, which is ignored - drops the latest and the latest stable
    weight: after an overload or an error
    the scale has no weight until it sends one again. ``error`` is that last rejection
    until the next good reading.
    """

    def __init__(
        self,
        config: SerialDeviceConfig,
        on_reading: Callable[[ScaleReading], object] | None = None,
        on_reject: Callable[[RejectedFrame], object] | None = None,
        on_status: Callable[[ReaderStatus], object] | None = None,
        *,
        retry_s: float | None = None,
    ) -> None:
        self._on_reading = on_reading
        self._on_reject = on_reject
        self._on_status = on_status
        self._lock = threading.Lock()
        self._latest: TimedReading | None = None
        self._latest_stable: TimedReading | None = None
        self._error: RejectedFrame | None = None
        # Many indicators end a print with a blank line (or send CR LF twice): that is no
        # rejected frame, and must not drop the weight that came just before it.
        self.reader = SerialReader(
            config, self._frame, self._reject, self._status, retry_s=retry_s, skip_empty=True
        )

    @property
    def status(self) -> ReaderStatus:
        return self.reader.status

    @property
    def latest(self) -> TimedReading | None:
        """The last weight the scale sent, stable or not."""
        with self._lock:
            return self._latest

    @property
    def latest_stable(self) -> TimedReading | None:
        """The last stable weight; ``None`` again as soon as the scale reports motion."""
        with self._lock:
            return self._latest_stable

    @property
    def error(self) -> RejectedFrame | None:
        """The rejected frame the scale sent last, if nothing good came after it."""
        with self._lock:
            return self._error

    def start(self) -> None:
        self.reader.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self.reader.stop(timeout_s)

    def _reject(self, rejected: RejectedFrame) -> None:
        with self._lock:  # an error, an overload, garbage: whatever was weighed is gone
            self._latest = self._latest_stable = None
            self._error = rejected
        if self._on_reject is not None:
            self._on_reject(rejected)

    def _status(self, status: ReaderStatus) -> None:
        if not status.online:  # a weight from a scale that went away is no weight
            with self._lock:
                self._latest = self._latest_stable = None
                self._error = None
        if self._on_status is not None:
            self._on_status(status)

    def _frame(self, frame: Frame) -> None:
        try:
            reading = check_range(parse_scale_frame(frame.text))
        except ScaleError as exc:
            self.reader.report_reject(RejectedFrame(exc.code, frame.raw, exc.message))
            return
        timed = TimedReading(reading, _utcnow())
        with self._lock:
            self._latest = timed
            self._latest_stable = timed if reading.stable else None
            self._error = None
        if self._on_reading is not None:
            self._on_reading(reading)
