"""Transports through real parts: a TCP listener, real files, and a private CUPS scheduler."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from printing.transports import (
    PrinterAddress,
    PrinterError,
    PrinterErrorCode,
    PrinterUriError,
    PrinterUriErrorCode,
    Transport,
    parse_host_status,
    parse_printer_uri,
    query_host_status,
    send,
)
from printing.virtual_zebra import StatusFlags, VirtualZebra, host_status_reply
from printing.zpl import build_shipping_label
from tests.printing.conftest import add_raw_queue, make_label

LABEL = build_shipping_label(make_label())


@pytest.fixture
def zebra():
    with VirtualZebra(0) as printer:
        yield printer


def tcp(printer: VirtualZebra) -> PrinterAddress:
    return parse_printer_uri(f"tcp://127.0.0.1:{printer.port}")


# --- URIs ---


@pytest.mark.parametrize(
    ("uri", "address"),
    [
        ("tcp://10.0.0.21:9100", PrinterAddress(Transport.tcp, host="10.0.0.21", port=9100)),
        (
            "TCP://zebra-pack-01:9100/",
            PrinterAddress(Transport.tcp, host="zebra-pack-01", port=9100),
        ),
        ("tcp://[::1]:9100", PrinterAddress(Transport.tcp, host="::1", port=9100)),
        ("cups://Zebra_ZD621", PrinterAddress(Transport.cups, queue="Zebra_ZD621")),
        (
            "file:///var/spool/labels/",
            PrinterAddress(Transport.file, directory="/var/spool/labels"),
        ),
    ],
)
def test_printer_uris(uri, address):
    assert parse_printer_uri(uri) == address
    assert parse_printer_uri(str(address)) == address


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("lpd://host/queue", PrinterUriErrorCode.unknown_scheme),
        ("10.0.0.21:9100", PrinterUriErrorCode.unknown_scheme),
        ("tcp://:9100", PrinterUriErrorCode.missing_host),
        ("tcp://10.0.0.21", PrinterUriErrorCode.bad_port),
        ("tcp://10.0.0.21:0", PrinterUriErrorCode.bad_port),
        ("tcp://10.0.0.21:99999", PrinterUriErrorCode.bad_port),
        ("tcp://10.0.0.21:91a0", PrinterUriErrorCode.bad_port),
        ("tcp://10.0.0.21:9100/x", PrinterUriErrorCode.unexpected_part),
        ("tcp://u:p@10.0.0.21:9100", PrinterUriErrorCode.unexpected_part),
        ("tcp://10.0.0.21:9100?x=1", PrinterUriErrorCode.unexpected_part),
        ("tcp://10.0.0.21:9100\x00", PrinterUriErrorCode.unexpected_part),
        ("cups://", PrinterUriErrorCode.bad_queue),
        ("cups://a%20b", PrinterUriErrorCode.bad_queue),
        ("cups://q;rm", PrinterUriErrorCode.bad_queue),
        # A leading "-" is an option to lpstat/lpr: "lpstat -p -E" listed every queue and
        # exited 0, so the printer took another queue's state; "-hHOST" asks another server.
        ("cups://-P", PrinterUriErrorCode.bad_queue),
        ("cups://-E", PrinterUriErrorCode.bad_queue),
        ("cups://-hattacker.example", PrinterUriErrorCode.bad_queue),
        ("cups://%2Dl", PrinterUriErrorCode.bad_queue),
        ("cups:///-Uroot", PrinterUriErrorCode.bad_queue),
        ("file://relative/dir", PrinterUriErrorCode.bad_directory),
        ("file:///a/../etc", PrinterUriErrorCode.bad_directory),
        ("file:///etc", PrinterUriErrorCode.bad_directory),  # the system's: never written to
        ("file:///etc/passwd", PrinterUriErrorCode.bad_directory),
        ("file:///dev/null", PrinterUriErrorCode.bad_directory),
        ("file:///proc/self/mem", PrinterUriErrorCode.bad_directory),
        ("file:///", PrinterUriErrorCode.bad_directory),
        ("file:////etc", PrinterUriErrorCode.bad_directory),  # "//etc" is /etc
        ("file:////var/lib/floor", PrinterUriErrorCode.bad_directory),
        ("file:///tmp/x%00y", PrinterUriErrorCode.bad_directory),
        ("file:///tmp/x%0Ay", PrinterUriErrorCode.bad_directory),
        ("tcp://" + "h" * 300 + ":9100", PrinterUriErrorCode.too_long),
        ("file:///labels/" + "d" * 300, PrinterUriErrorCode.too_long),
    ],
)
def test_bad_printer_uris_are_refused_with_a_reason(uri, code):
    with pytest.raises(PrinterUriError) as info:
        parse_printer_uri(uri)
    assert info.value.code == code


# --- TCP ---


def test_label_sent_over_tcp_arrives_exactly_once(zebra):
    send(tcp(zebra), "job-1", LABEL.encode(), timeout_s=5)
    labels = zebra.wait_for_labels(1, timeout_s=5)
    assert labels == [LABEL.strip()]
    time.sleep(0.2)  # nothing else trickles in afterwards
    assert len(zebra.labels) == 1


def test_printer_down_is_unreachable(zebra):
    address = tcp(zebra)
    zebra.set_online(False)
    with pytest.raises(PrinterError) as info:
        send(address, "job-1", LABEL.encode(), timeout_s=2)
    assert info.value.code == PrinterErrorCode.unreachable
    with pytest.raises(PrinterError) as info:
        query_host_status(address, timeout_s=2)
    assert info.value.code == PrinterErrorCode.unreachable

    zebra.set_online(True)  # back on the same port
    send(address, "job-1", LABEL.encode(), timeout_s=5)
    assert len(zebra.wait_for_labels(1, timeout_s=5)) == 1


def test_host_status_ready(zebra):
    status = query_host_status(tcp(zebra), timeout_s=5)
    assert status is not None and status.ready and status.problems == ()
    assert zebra.status_requests == 1
    assert zebra.labels == []  # ~HS is not a label


def test_host_status_paper_out_then_back(zebra):
    zebra.set_status(paper_out=True)
    status = query_host_status(tcp(zebra), timeout_s=5)
    assert status is not None and status.paper_out
    assert not status.ready and status.problems == ("paper_out",)
    zebra.set_status(paper_out=False)
    assert query_host_status(tcp(zebra), timeout_s=5).ready


def test_host_status_every_flag(zebra):
    zebra.set_status(paper_out=True, head_open=True, ribbon_out=True, paused=True)
    status = query_host_status(tcp(zebra), timeout_s=5)
    assert status.problems == ("paper_out", "ribbon_out", "head_open", "paused")


def test_host_status_reply_fields_by_position():
    # a ZD-series reply: head up and ribbon out in string 2, paper out and pause in string 1
    reply = (
        b"\x02030,1,0,1225,002,0,0,0,000,0,0,0\x03\r\n"
        b"\x02001,0,1,0,1,2,6,0,00000012,1,000\x03\r\n"
        b"\x021234,0\x03\r\n"
    )
    status = parse_host_status(reply)
    assert (status.paper_out, status.paused, status.head_open, status.ribbon_out) == (
        True,
        False,
        True,
        False,
    )
    assert status.formats_in_buffer == 2 and status.labels_remaining == 12
    assert parse_host_status(host_status_reply(StatusFlags(paused=True))).problems == ("paused",)


@pytest.mark.parametrize(
    "reply",
    [b"\x02030,1,0\x03\r\n", b"garbage", b"\x02030,x,0,1225,002,0,0,0,000,0,0,0\x03" * 3],
)
def test_garbled_host_status_is_a_reasoned_error(reply):
    with pytest.raises(PrinterError) as info:
        parse_host_status(reply)
    assert info.value.code == PrinterErrorCode.bad_status_reply


def test_a_host_status_cut_short_counts_only_when_it_names_a_problem():
    paper_out = host_status_reply(StatusFlags(paper_out=True)).split(b"\r\n")[0]
    assert parse_host_status(paper_out).problems == ("paper_out",)
    ready = host_status_reply(StatusFlags()).split(b"\r\n")[0]
    with pytest.raises(PrinterError) as info:  # the rest might have said head open
        parse_host_status(ready)
    assert info.value.code == PrinterErrorCode.bad_status_reply


def test_printer_that_never_answers_host_status_gives_none():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, says nothing
        address = PrinterAddress(Transport.tcp, host="127.0.0.1", port=silent.getsockname()[1])
        assert query_host_status(address, timeout_s=0.3) is None


def test_host_status_of_other_transports_is_unknown(tmp_path):
    assert query_host_status(parse_printer_uri(f"file://{tmp_path}"), timeout_s=1) is None


# --- file ---


def test_file_transport_writes_one_file_per_job(tmp_path):
    address = parse_printer_uri(f"file://{tmp_path}")
    send(address, "pkg-42.1", LABEL.encode(), timeout_s=1)
    send(address, "pkg-42.1", LABEL.encode(), timeout_s=1)  # the same job again
    assert [p.name for p in tmp_path.iterdir()] == ["pkg-42.1.zpl"]
    assert (tmp_path / "pkg-42.1.zpl").read_text(encoding="utf-8") == LABEL


def test_file_transport_refuses_path_like_job_ids_and_missing_directories(tmp_path):
    address = parse_printer_uri(f"file://{tmp_path}")
    for job_id in ("../escape", ".hidden", "a/b", "", "x" * 65):
        with pytest.raises(PrinterError) as info:
            send(address, job_id, b"^XA^XZ", timeout_s=1)
        assert info.value.code == PrinterErrorCode.bad_job_id
    with pytest.raises(PrinterError) as info:
        send(parse_printer_uri(f"file://{tmp_path}/nope"), "j1", b"^XA^XZ", timeout_s=1)
    assert info.value.code == PrinterErrorCode.directory_missing
    assert list(tmp_path.iterdir()) == []


# --- CUPS ---


def test_job_through_cups_reaches_the_printer(private_cups, zebra):
    add_raw_queue("zebra_test", zebra.port)
    send(parse_printer_uri("cups://zebra_test"), "pkg-7.1", LABEL.encode(), timeout_s=10)
    assert zebra.wait_for_labels(1, timeout_s=30) == [LABEL.strip()]


def test_cups_queue_missing(private_cups):
    with pytest.raises(PrinterError) as info:
        send(parse_printer_uri("cups://no_such_queue"), "pkg-7.1", b"^XA^XZ", timeout_s=10)
    assert info.value.code == PrinterErrorCode.cups_queue_missing


def test_cups_queue_that_rejects_jobs_is_a_failed_submission(private_cups, zebra):
    add_raw_queue("zebra_test", zebra.port)
    subprocess.run(["cupsreject", "zebra_test"], check=True, capture_output=True)
    with pytest.raises(PrinterError) as info:
        send(parse_printer_uri("cups://zebra_test"), "pkg-7.1", LABEL.encode(), timeout_s=10)
    assert info.value.code == PrinterErrorCode.cups_submit_failed
    assert zebra.labels == []


def test_a_disabled_cups_queue_is_paused(private_cups, zebra):
    """A disabled queue (``cupsdisable``, or stopped by CUPS after its backend failed) takes
    jobs and keeps them: its host status says paused, so the worker holds the label instead of
    recording it printed while CUPS sits on it."""
    add_raw_queue("zebra_test", zebra.port)
    address = parse_printer_uri("cups://zebra_test")
    assert query_host_status(address, timeout_s=10).ready
    subprocess.run(["cupsdisable", "zebra_test"], check=True, capture_output=True)
    assert query_host_status(address, timeout_s=10).problems == ("paused",)
    subprocess.run(["cupsenable", "zebra_test"], check=True, capture_output=True)
    assert query_host_status(address, timeout_s=10).ready
    with pytest.raises(PrinterError) as info:
        query_host_status(parse_printer_uri("cups://no_such_queue"), timeout_s=10)
    assert info.value.code == PrinterErrorCode.cups_queue_missing
