"""Serial scanners and scales through real pty pairs (socat): what arrives, what is refused
and why, and a scanner that is unplugged and plugged back in."""

from __future__ import annotations

import datetime as dt
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devices.config import parse_device
from devices.framing import Frame, RejectedFrame
from devices.gs1 import ScanKind, parse_scan
from devices.scale import ScaleReading
from devices.serial_reader import ReaderState, ReaderStatus, ScaleReader, SerialReader
from tests.devices.conftest import PtyPair, next_item, wait_for


class Scanner:
    """A SerialReader on the device end with its callbacks collected in queues."""

    def __init__(self, url: str) -> None:
        self.frames: queue.Queue[Frame] = queue.Queue()
        self.rejects: queue.Queue[RejectedFrame] = queue.Queue()
        self.statuses: queue.Queue[ReaderStatus] = queue.Queue()
        self.reader = SerialReader(
            parse_device(url), self.frames.put, self.rejects.put, self.statuses.put
        )

    def wait_state(self, state: ReaderState) -> ReaderStatus:
        while True:
            status = next_item(self.statuses, f"reader to go {state}")
            if status.state is state:
                return status

    def frame(self) -> Frame:
        return next_item(self.frames, "a frame")

    def reject(self) -> RejectedFrame:
        return next_item(self.rejects, "a rejected frame")


@pytest.fixture
def scanner_for(pty_pair: PtyPair) -> Iterator[Any]:
    started: list[Scanner] = []

    def make(options: str = "") -> Scanner:
        scanner = Scanner(f"PACK-01=serial://{pty_pair.device}?retry_ms=50{options}")
        scanner.reader.start()
        started.append(scanner)
        scanner.wait_state(ReaderState.online)
        return scanner

    yield make
    for scanner in started:
        scanner.reader.stop()


@pytest.mark.parametrize(
    ("suffix", "terminator"),
    [("cr", b"\r"), ("lf", b"\n"), ("crlf", b"\r\n"), ("tab", b"\t")],
)
def test_good_frames_with_each_suffix(pty_pair, scanner_for, suffix, terminator):
    scanner = scanner_for(f"&suffix={suffix}")
    pty_pair.send(b"5901234123457" + terminator + b"TOTE-07" + terminator)
    assert scanner.frame().text == "5901234123457"
    assert scanner.frame().text == "TOTE-07"
    assert scanner.rejects.empty()
    status = scanner.reader.status
    assert status.online and status.frames == 2
    assert status.last_frame is not None and status.last_frame.text == "TOTE-07"


def test_a_frame_sent_in_pieces_arrives_whole(pty_pair, scanner_for):
    scanner = scanner_for()
    pty_pair.send(b"ORD-")
    pty_pair.send(b"10045\r")
    assert scanner.frame().text == "ORD-10045"


def test_prefix_stripped_and_gs_substitute_parsed_to_lot_and_expiry(pty_pair, scanner_for):
    scanner = scanner_for("&prefix=%5DC1&gs=%3CGS%3E&suffix=crlf")
    pty_pair.send(b"]C10109501101530003" + b"10LOT-42<GS>17261130\r\n")
    frame = scanner.frame()
    assert frame.raw_text == "]C10109501101530003" + "10LOT-42<GS>17261130"
    assert frame.text == "0109501101530003" + "10LOT-42\x1d17261130"
    scan = parse_scan(frame.text)
    assert scan.kind is ScanKind.gs1
    assert (scan.gtin, scan.lot, scan.expiry) == ("09501101530003", "LOT-42", dt.date(2026, 11, 30))


def test_a_control_character_prefix_such_as_stx_is_stripped_not_refused(pty_pair, scanner_for):
    # Scanners are often programmed with STX as prefix; every frame was refused as
    # non_printable because the control-character check ran before the prefix was stripped.
    scanner = scanner_for("&prefix=%02")
    pty_pair.send(b"\x02TOTE-07\r\x02ABC\x07\r")
    assert scanner.frame().text == "TOTE-07"
    bell = scanner.reject()  # a control character in the data itself is still refused
    assert bell.reason == "non_printable" and bell.raw_text == "\\x02ABC\\x07"


def test_garbage_partial_and_over_long_frames_are_rejected_with_reasons(pty_pair, scanner_for):
    scanner = scanner_for("&max_len=32&gap_ms=100")
    pty_pair.send(b"\xff\xfe\x80AB\r")  # wrong baud rate: bytes that are no text
    garbage = scanner.reject()
    assert garbage.reason == "non_printable"
    assert garbage.raw_text == "\\xff\\xfe\\x80AB"
    pty_pair.send(b"ABC\x07DEF\r")
    assert scanner.reject().reason == "non_printable"
    pty_pair.send(b"X" * 40 + b"\rOK-1\r")  # too long; the next frame is unharmed
    too_long = scanner.reject()
    assert too_long.reason == "too_long" and too_long.raw == b"X" * 32
    assert scanner.frame().text == "OK-1"
    pty_pair.send(b"59012341")  # the scanner stops mid-frame
    partial = scanner.reject()
    assert (partial.reason, partial.raw) == ("partial", b"59012341")
    pty_pair.send(b"5901234123457\r")
    assert scanner.frame().text == "5901234123457"
    status = scanner.reader.status
    assert (status.frames, status.rejects) == (2, 4)
    assert status.last_reject is not None and status.last_reject.reason == "partial"


def test_suffix_none_ends_a_frame_after_a_quiet_gap(pty_pair, scanner_for):
    scanner = scanner_for("&suffix=none&gap_ms=80")
    pty_pair.send(b"TOTE-12")
    assert scanner.frame().text == "TOTE-12"


def test_unplugged_scanner_goes_offline_and_comes_back_without_restart(pty_pair, scanner_for):
    scanner = scanner_for()
    pty_pair.send(b"BEFORE\r")
    assert scanner.frame().text == "BEFORE"

    pty_pair.unplug()
    offline = scanner.wait_state(ReaderState.offline)
    assert offline.last_error
    assert not scanner.reader.status.online
    wait_for(lambda: "could not open port" in (scanner.reader.status.last_error or ""),
             "the reader to retry opening the missing port")  # fmt: skip

    pty_pair.plug()
    assert scanner.wait_state(ReaderState.online).online
    pty_pair.send(b"AFTER\r")
    assert scanner.frame().text == "AFTER"
    assert scanner.reader.status.frames == 2


def test_a_scanner_back_online_no_longer_shows_why_it_was_offline(pty_pair, scanner_for):
    scanner = scanner_for()
    pty_pair.unplug()
    assert scanner.wait_state(ReaderState.offline).last_error
    pty_pair.plug()
    back = scanner.wait_state(ReaderState.online)
    assert back.last_error is None
    assert scanner.reader.status.last_error is None
    pty_pair.send(b"AFTER\r")
    assert scanner.frame().text == "AFTER"
    assert scanner.reader.status.last_error is None


def test_reader_started_before_the_port_exists_opens_it_when_it_appears(pty_pair):
    pty_pair.unplug()
    scanner = Scanner(f"PACK-02=serial://{pty_pair.device}?retry_ms=50")
    scanner.reader.start()
    try:
        assert scanner.wait_state(ReaderState.offline).last_error
        pty_pair.plug()
        scanner.wait_state(ReaderState.online)
        pty_pair.send(b"HELLO\r")
        assert scanner.frame().text == "HELLO"
    finally:
        scanner.reader.stop()
    assert scanner.reader.status.state is ReaderState.stopped
    assert not scanner.reader.running


def test_scale_sends_unstable_then_stable_weights(pty_pair):
    readings: queue.Queue[ScaleReading] = queue.Queue()
    rejects: queue.Queue[RejectedFrame] = queue.Queue()
    statuses: queue.Queue[ReaderStatus] = queue.Queue()
    config = parse_device(f"PACK-01=serial://{pty_pair.device}?suffix=crlf&retry_ms=50")
    scale = ScaleReader(config, readings.put, rejects.put, statuses.put)
    scale.start()
    try:
        wait_for(lambda: scale.status.online, "the scale reader to open the port")
        pty_pair.send(b"S D     0.412 kg\r\nS D     1.198 kg\r\n")
        first, second = next_item(readings, "reading"), next_item(readings, "reading")
        assert (first.weight_g, first.stable) == (412, False)
        assert (second.weight_g, second.stable) == (1198, False)
        assert scale.latest_stable is None
        pty_pair.send(b"S S     1.234 kg\r\nS +\r\n")
        stable = next_item(readings, "stable reading")
        assert (stable.weight_g, stable.stable) == (1234, True)
        overload = next_item(rejects, "overload line")
        assert overload.reason == "overload" and overload.raw_text == "S +"
        assert scale.latest_stable is None  # over the range: the 1234 g is gone
        assert scale.error is not None and scale.error.reason == "overload"
        pty_pair.send(b"S S     1.234 kg\r\n")
        assert next_item(readings, "stable again").stable is True
        latest = scale.latest_stable
        assert latest is not None and latest.reading.weight_g == 1234
        assert scale.error is None
        pty_pair.send(b"US,GS,+  2.000kg\r\n")
        assert next_item(readings, "A&D/CAS line").stable is False
        assert scale.latest_stable is None  # the scale moved: no stable weight now
        pty_pair.unplug()
        wait_for(lambda: scale.latest is None, "the weight to be dropped when the scale goes")
        assert not scale.status.online
    finally:
        scale.stop()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"OL,+9999999 g", "overload"),
        (b"S +", "overload"),
        (b"S -", "underload"),
        (b"S I", "not_ready"),
        (b"ES", "scale_error"),
        (b"QT,+000000010 PC", "bad_unit"),
        (b"ST,-000.020 kg", "out_of_range"),  # negative: tared with something on the pan
        (b"ST,+999999999 kg", "out_of_range"),  # above MAX_WEIGHT_G
        (b"S S  1000.001 kg", "out_of_range"),
        (b"\xff\xfe\x80", "non_printable"),  # the decoder's own rejection
        (b"hello", "unrecognised"),
    ],
)
def test_a_line_that_is_no_valid_weight_drops_the_stable_weight(pty_pair, line, reason):
    readings: queue.Queue[ScaleReading] = queue.Queue()
    rejects: queue.Queue[RejectedFrame] = queue.Queue()
    config = parse_device(f"PACK-01=serial://{pty_pair.device}?suffix=crlf&retry_ms=50")
    scale = ScaleReader(config, readings.put, rejects.put)
    scale.start()
    try:
        wait_for(lambda: scale.status.online, "the scale reader to open the port")
        pty_pair.send(b"ST,+001.254 kg\r\n")
        assert next_item(readings, "stable reading").weight_g == 1254
        assert scale.latest_stable is not None
        pty_pair.send(line + b"\r\n")
        rejected = next_item(rejects, "the bad line")
        assert rejected.reason == reason
        assert scale.latest_stable is None and scale.latest is None
        assert scale.error is not None and scale.error.reason == reason
    finally:
        scale.stop()


@pytest.mark.parametrize("after", [b"\r\n", b"   \r\n"])
def test_a_blank_line_after_a_weight_keeps_the_stable_weight(pty_pair, after):
    # Indicators that end each print with a blank line: the blank frame was an 'empty'
    # rejection, which dropped the stable weight it followed - the scale never had one.
    readings: queue.Queue[ScaleReading] = queue.Queue()
    rejects: queue.Queue[RejectedFrame] = queue.Queue()
    config = parse_device(f"PACK-01=serial://{pty_pair.device}?suffix=crlf&retry_ms=50")
    scale = ScaleReader(config, readings.put, rejects.put)
    scale.start()
    try:
        wait_for(lambda: scale.status.online, "the scale reader to open the port")
        pty_pair.send(b"ST,+001.254 kg\r\n" + after + b"ST,+001.254 kg\r\n" + after)
        next_item(readings, "stable reading")
        next_item(readings, "stable reading again")
        time.sleep(0.3)  # the blank lines, and a gap
        stable = scale.latest_stable
        assert stable is not None and stable.reading.weight_g == 1254
        assert scale.error is None and rejects.empty()
        assert scale.status.rejects == 0
    finally:
        scale.stop()


def test_an_unstable_line_after_a_stable_one_leaves_no_stable_weight(pty_pair):
    readings: queue.Queue[ScaleReading] = queue.Queue()
    config = parse_device(f"PACK-01=serial://{pty_pair.device}?suffix=crlf&retry_ms=50")
    scale = ScaleReader(config, readings.put)
    scale.start()
    try:
        wait_for(lambda: scale.status.online, "the scale reader to open the port")
        pty_pair.send(b"ST,+001.254 kg\r\nUS,+001.300 kg\r\n")
        next_item(readings, "stable reading")
        assert next_item(readings, "unstable reading").stable is False
        assert scale.latest_stable is None
        assert scale.latest is not None and scale.latest.reading.weight_g == 1300
    finally:
        scale.stop()


def test_a_failing_callback_does_not_stop_the_reader(pty_pair):
    frames: queue.Queue[Frame] = queue.Queue()

    def on_frame(frame: Frame) -> None:
        if frame.text == "BOOM":
            raise RuntimeError("a consumer bug")
        frames.put(frame)

    statuses: queue.Queue[ReaderStatus] = queue.Queue()
    config = parse_device(f"PACK-01=serial://{pty_pair.device}?retry_ms=50")
    reader = SerialReader(config, on_frame, on_status=statuses.put)
    reader.start()
    try:
        wait_for(lambda: reader.status.online, "the reader to open the port")
        pty_pair.send(b"BOOM\rNEXT\r")
        assert next_item(frames, "the frame after the failing one").text == "NEXT"
        assert reader.status.online and reader.status.frames == 2
    finally:
        reader.stop()


def test_a_frame_that_arrives_while_a_scan_is_being_recorded_is_not_cut_in_two(pty_pair):
    # The hub records each scan on the reader's thread (a database write). The next code's
    # bytes that came in meanwhile sat in the port's buffer; the decoder took the time spent
    # in the callback for a quiet gap on the line and cut the code in two: "B2" a partial
    # rejection, "B3" a scan of its own.
    frames: queue.Queue[Frame] = queue.Queue()
    rejects: queue.Queue[RejectedFrame] = queue.Queue()

    def on_frame(frame: Frame) -> None:
        if frame.text == "A1":
            time.sleep(0.4)  # a slow database
        frames.put(frame)

    config = parse_device(f"PACK-01=serial://{pty_pair.device}?retry_ms=50&gap_ms=100")
    reader = SerialReader(config, on_frame, rejects.put)
    reader.start()
    try:
        wait_for(lambda: reader.status.online, "the reader to open the port")
        pty_pair.send(b"A1\rB2")
        time.sleep(0.15)  # within the callback, longer than gap_ms
        pty_pair.send(b"B3\r")
        assert next_item(frames, "the first code").text == "A1"
        assert next_item(frames, "the second code, whole").text == "B2B3"
        assert rejects.empty()
    finally:
        reader.stop()


def test_a_second_reader_on_the_same_port_is_refused(pty_pair, scanner_for):
    first = scanner_for()
    second = Scanner(f"PACK-09=serial://{pty_pair.device}?retry_ms=50")
    second.reader.start()
    try:
        offline = second.wait_state(ReaderState.offline)
        assert "lock" in (offline.last_error or "").lower()
        pty_pair.send(b"ONLY-ONCE\r")
        assert first.frame().text == "ONLY-ONCE"
    finally:
        second.reader.stop()


def test_loop_url_reader_goes_online_and_stops_cleanly():
    scanner = Scanner("TEST=loop://")
    scanner.reader.start()
    assert scanner.wait_state(ReaderState.online).port == "loop://"
    scanner.reader.stop()
    assert scanner.wait_state(ReaderState.stopped).state is ReaderState.stopped
    assert not scanner.reader.running
