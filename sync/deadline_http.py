"""HTTP with a deadline for the whole exchange, for calls to systems we do not control.

requests' time-outs bound each socket operation, not the exchange: a receiver that answers
``200`` and then sends its headers a byte every 1.5 s held one webhook delivery for 65 s (and
every delivery behind it), past its lease. ``deadline_session()`` is a ``requests.Session``
whose connections register their socket per thread; ``post_within`` arms a timer that shuts
that socket down when the deadline passes, so the blocked read ends at once and the caller gets
``DeadlineExceeded``. Through a proxy (``*_PROXY``) the connection belongs to urllib3's
``ProxyManager`` and only the per-operation time-outs apply.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_sockets: dict[int, socket.socket] = {}  # thread id -> the socket its request is using
_lock = threading.Lock()


class DeadlineExceeded(requests.Timeout):
    """No complete answer within the deadline (the connection was cut)."""


class _Registered:
    sock: socket.socket | None

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)  # type: ignore[misc]
        if self.sock is not None:
            with _lock:
                _sockets[threading.get_ident()] = self.sock


class _HTTP(_Registered, HTTPConnection):
    pass


class _HTTPS(_Registered, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTP


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPS


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def deadline_session() -> requests.Session:
    session = requests.Session()
    adapter = _DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@contextlib.contextmanager
def _deadline(deadline_s: float) -> Iterator[threading.Event]:
    """Shut the calling thread's registered socket down after ``deadline_s`` seconds; the event
    yielded says whether that happened."""
    me = threading.get_ident()
    cut = threading.Event()

    def cut_off() -> None:
        cut.set()
        with _lock:
            sock = _sockets.get(me)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(deadline_s, cut_off)
    timer.daemon = True
    timer.start()
    try:
        yield cut
    finally:
        timer.cancel()
        with _lock:
            _sockets.pop(me, None)


def post_within(
    http: requests.Session, url: str, deadline_s: float, **kwargs: Any
) -> requests.Response:
    """``http.post(url, **kwargs)`` (``stream=True``: the body is never read unless asked for),
    cut off after ``deadline_s`` seconds in all."""
    with _deadline(deadline_s) as cut:
        try:
            resp = http.post(url, stream=True, **kwargs)
        except requests.RequestException as exc:
            if cut.is_set():
                raise DeadlineExceeded(f"no complete answer within {deadline_s:g} s") from exc
            raise
        # Cut mid-headers, http.client takes what it has for the whole answer: not an answer.
        if cut.is_set():
            resp.close()
            raise DeadlineExceeded(f"no complete answer within {deadline_s:g} s")
        return resp


class AnswerTooLarge(requests.RequestException):
    """The answer's body is longer than the caller will read."""


def request_within(
    http: requests.Session,
    method: str,
    url: str,
    deadline_s: float,
    *,
    max_body: int,
    **kwargs: Any,
) -> requests.Response:
    """``http.request(method, url, **kwargs)`` whose whole exchange - the answer's body too, at
    most ``max_body`` bytes - is cut off after ``deadline_s`` seconds. The response comes back
    with its body read (``.content``, ``.json()`` work)."""
    with _deadline(deadline_s) as cut:
        try:
            resp = http.request(method, url, stream=True, **kwargs)
            try:
                body = resp.raw.read(max_body + 1, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                resp.close()
                raise requests.ConnectionError(str(exc)) from exc
        except requests.RequestException as exc:
            if cut.is_set():
                raise DeadlineExceeded(f"no complete answer within {deadline_s:g} s") from exc
            raise
        if cut.is_set():  # cut mid-answer: what arrived is not the answer
            resp.close()
            raise DeadlineExceeded(f"no complete answer within {deadline_s:g} s")
        if len(body) > max_body:
            resp.close()
            raise AnswerTooLarge(f"the answer is longer than {max_body} bytes")
        resp._content = body  # what requests keeps once it has read a body
        resp._content_consumed = True
        resp.close()  # the body is in hand: the connection is done with
        return resp
