"""Signing, what one attempt's answer means, and when the next attempt comes."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import random
import socket
import struct
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import select

from core.db import unit_of_work
from orders.outbox import OutboxEvent
from sync.deadline_http import deadline_session
from sync.sandbox import Chaos, OmsReceiver
from sync.webhooks import (
    Outcome,
    RetryPolicy,
    _short,
    attempt,
    classify,
    encode_body,
    parse_retry_after,
    sign,
    verify,
)
from sync.worker import deliver_due
from tests.factories import RawHttpServer, fast_config, free_port, make_events

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"event_id":"e1","type":"order.shipped"}'
    expected = hmac.new(b"s3cret", b"1795435200." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1795435200, body) == f"sha256={expected}"
    assert verify("s3cret", "1795435200", body, f"sha256={expected}")
    assert not verify("other", "1795435200", body, f"sha256={expected}")
    assert not verify("s3cret", "1795435201", body, f"sha256={expected}")
    assert not verify("s3cret", "1795435200", body + b" ", f"sha256={expected}")
    # Stale timestamps are refused when the receiver passes its clock.
    assert not verify("s3cret", "1795435200", body, f"sha256={expected}", now=1795435200 + 301)


def test_openssl_computes_the_same_signature():
    body = b'{"event_id":"e1"}'
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", "s3cret"],
        input=b"1795435200." + body,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert sign("s3cret", 1795435200, body) == "sha256=" + out.strip().split()[-1]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (200, "delivered"),
        (201, "delivered"),
        (204, "delivered"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (400, "dead"),
        (401, "dead"),
        (404, "dead"),
        (409, "dead"),
        (422, "dead"),
        (301, "dead"),
        (102, "retry"),
        (103, "retry"),
    ],
)
def test_status_codes_are_classified(code, kind):
    assert classify(code, {}, NOW).kind == kind


def test_retry_after_in_seconds_and_as_http_date():
    assert parse_retry_after("120", NOW) == 120
    date = email.utils.format_datetime(NOW + dt.timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(date, NOW) == 90
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0  # in the past
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("99999999", NOW) == 3600  # capped
    # Latin-1 / Unicode digits are not delta-seconds (float() refused "\xb2" and the attempt
    # raised instead of answering): no Retry-After, the back-off applies.
    for odd in ("\xb2", "\xb9", "\u0663", "\uff11"):
        assert parse_retry_after(odd, NOW) is None
    out = classify(503, {"Retry-After": "30"}, NOW)
    assert out == Outcome("retry", 503, "HTTP 503", 30.0)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(max_attempts=10, base_s=2, max_s=60)
    rng = random.Random(1)
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 60), (12, 60)]:
        delays = [policy.backoff_s(attempts, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 100  # jittered, not one fixed value


def test_retry_after_wins_over_backoff_and_is_never_undercut():
    policy = RetryPolicy(max_attempts=10, base_s=2, max_s=60)
    rng = random.Random(2)
    out = Outcome("retry", 429, "HTTP 429", 45.0)
    delays = [policy.delay_s(out, 1, rng) for _ in range(100)]
    assert all(45 <= d <= 46 for d in delays)


def test_attempt_against_a_real_receiver_refused_and_timed_out():
    http = requests.Session()
    with OmsReceiver("k") as oms:
        ok = attempt(
            http,
            oms.url,
            "k",
            "e-1",
            b'{"event_id":"e-1","cursor":"1","order":"A"}',
            timeout_s=2,
            now=dt.datetime.now(dt.UTC),
        )
        assert ok.kind == "delivered" and ok.status_code == 200
        bad = attempt(
            http,
            oms.url,
            "wrong",
            "e-2",
            b'{"event_id":"e-2"}',
            timeout_s=2,
            now=dt.datetime.now(dt.UTC),
        )
        assert bad == Outcome("dead", 401, "HTTP 401 (not retried)")
        url = oms.url
    refused = attempt(http, url, "k", "e-3", b"{}", timeout_s=1, now=dt.datetime.now(dt.UTC))
    assert refused.kind == "retry" and refused.status_code is None
    assert "refused" in refused.error.lower()
    with OmsReceiver("k", Chaos(p_hang=1.0, hang_s=1.0)) as slow:
        hung = attempt(
            http,
            slow.url,
            "k",
            "e-4",
            b'{"event_id":"e-4","cursor":"4","order":"A"}',
            timeout_s=0.2,
            now=dt.datetime.now(dt.UTC),
        )
    assert hung.kind == "retry" and "timed out" in hung.error


def _trickle_headers(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for byte in b"X-Slow: " + b"a" * 200 + b"\r\n\r\n":
        conn.sendall(bytes([byte]))
        time.sleep(0.3)  # each read well inside the time-out, the whole far beyond it


def _endless_body(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    chunk = b"x" * (1 << 20)
    for _ in range(2000):  # 2 GB, were it read
        conn.sendall(chunk)


def _timed_attempt(answer, timeout_s: float) -> tuple[Outcome, float]:
    """One attempt against a raw receiver answering with ``answer``; its outcome and seconds."""
    receiver = RawHttpServer(answer, "/hook")
    try:
        started = time.monotonic()
        out = attempt(
            deadline_session(),
            receiver.url,
            "k",
            "e-raw",
            b"{}",
            timeout_s=timeout_s,
            now=dt.datetime.now(dt.UTC),
        )
        return out, time.monotonic() - started
    finally:
        receiver.close()


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_time_out():
    out, took = _timed_attempt(_trickle_headers, 1.0)
    assert out.kind == "retry" and "within 1 s" in out.error, out
    assert took < 2.5, took  # before: one read at a time, ~65 s for this answer


def test_an_endless_answer_body_is_never_read():
    out, took = _timed_attempt(_endless_body, 2.0)
    assert out.kind == "delivered" and out.status_code == 200
    assert took < 2.0, took  # before: read whole, the server's memory growing ~1 GB / 4 s


def test_a_retry_after_of_non_ascii_digits_is_a_retry_not_a_crash_of_the_round(sessions):
    """``Retry-After: \\xb2`` (a superscript two in Latin-1) made ``attempt`` raise: the round
    died before recording anything, so every event it had claimed, delivered or not, was posted
    again after its lease, and the bad one for ever (never a dead letter)."""

    def superscript_retry_after(conn):
        conn.sendall(b"HTTP/1.1 503 Busy\r\nRetry-After: \xb2\r\nContent-Length: 0\r\n\r\n")

    out, _ = _timed_attempt(superscript_retry_after, 2.0)
    assert out == Outcome("retry", 503, "HTTP 503", None)

    make_events(sessions, orders=2, per_order=1, prefix="RA")
    receiver = RawHttpServer(superscript_retry_after, "/hook")
    try:
        # 5 s, not fast_config's 0.5 s: the answer is the subject, and a loaded CI machine
        # once took longer than 0.5 s to give it (a retry then, but without its 503)
        config = fast_config(receiver.url, timeout_s=5.0)
        stats = deliver_due(sessions, config, max_rounds=1)
    finally:
        receiver.close()
    assert (stats.rounds, stats.retried, stats.dead) == (1, 2, 0)
    with unit_of_work(sessions) as s:
        rows = s.execute(select(OutboxEvent.attempts, OutboxEvent.last_status_code)).all()
    assert sorted(rows) == [(1, 503), (1, 503)]


def test_an_interim_answer_before_the_real_one_is_tried_again_not_a_dead_letter():
    """``102 Processing`` then ``200``: http.client takes the 102 for the answer. It was a dead
    letter at once ("HTTP 102 (not retried)"), holding back the order's later events until a
    supervisor redelivered it, for an event the OMS had taken."""

    def processing_then_ok(conn):
        conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    out, _ = _timed_attempt(processing_then_ok, 2.0)
    assert out.kind == "retry" and out.status_code == 102, out


def test_the_webhook_urls_query_never_reaches_the_error_shown_on_sync():
    """requests names the URL in its errors: a TLS failure towards
    ``https://oms/hook?token=...`` put the OMS's token into the event's last_error, which the
    /sync page and the reconciliation JSON show."""
    receiver = RawHttpServer(lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n"), "/hook")
    try:
        out = attempt(
            deadline_session(),
            receiver.url.replace("http://", "https://") + "?token=tok-S3CRET&v=2",
            "k",
            "e-tls",
            b"{}",
            timeout_s=3,
            now=dt.datetime.now(dt.UTC),
        )
    finally:
        receiver.close()
    assert out.kind == "retry" and "SSL" in out.error, out
    assert "S3CRET" not in out.error and "***" in out.error


def test_a_failed_attempt_never_records_the_urls_path_or_query():
    """A name that does not resolve gave urllib3's whole text as last_error, with the path and
    query ('.../hooks?token=…'): the token reached the /sync page, which masks it in the URL."""
    http = requests.Session()
    for url in (
        "http://no-such-host.invalid/hooks?token=SECRET-1",
        f"http://127.0.0.1:{free_port()}/hooks?token=SECRET-2",
    ):
        out = attempt(http, url, "k", "e-9", b"{}", timeout_s=2, now=dt.datetime.now(dt.UTC))
        assert out.kind == "retry" and out.error.startswith("unreachable: ")
        assert "SECRET" not in out.error and "/hooks" not in out.error
    assert "***" in _short(requests.ConnectionError("Max retries exceeded with url: /x?t=SECRET"))


def test_the_sandbox_receiver_prints_each_event_it_accepts_once(tmp_path):
    """docs/api.md's receiver (`python -m sync.sandbox oms`) prints what arrives: a line per
    accepted event (order, type, from -> to, its id), a re-delivery not again, and nothing for
    a client that hangs up."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync.sandbox", "oms", "--port", str(port), "--secret", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "oms sandbox on" in proc.stdout.readline()
        hung_up = socket.create_connection(("127.0.0.1", port))  # a client that resets
        hung_up.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        hung_up.sendall(b"POST / HTTP/1.1\r\n")
        hung_up.close()
        body = encode_body(
            {"event_id": "e-7", "cursor": "7", "type": "order.shipped", "order": "SO-7",
             "from": "packed", "to": "shipped", "at": "2026-12-01T07:00:00+00:00"}
        )  # fmt: skip
        http = requests.Session()
        for _ in range(2):  # delivered twice: printed once
            sent = attempt(http, f"http://127.0.0.1:{port}/", "k", "e-7", body, timeout_s=5,
                           now=dt.datetime.now(dt.UTC))  # fmt: skip
            assert sent.kind == "delivered", sent
        line = proc.stdout.readline()
        assert "SO-7" in line and "order.shipped" in line and "packed → shipped" in line
        assert "e-7" in line
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "SO-7" not in out  # not printed a second time
