"""A JSON-over-HTTP carrier adapter (the shape most parcel APIs share):

    POST {base}/shipments    {order, service, ship_to, package{sscc, weight_g, *_mm}}
                             Idempotency-Key: <sscc>
                             → {tracking_number, service, label_format, label_base64}
    GET  {base}/tracking/<n> → {status, delivered_at}
    POST {base}/manifests    {day, tracking_numbers: [...]} → {reference}

Authorisation: ``Authorization: Bearer <FLOOR_CARRIER_API_KEY>``. Shipments are idempotent by
SSCC, so a pack station that retries after a failure never buys two labels for one carton.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import requests

from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import Package
from floor.fulfilment.packing.carriers import (
    CarrierError,
    Label,
    Shipment,
    TrackingStatus,
    shipment_request,
)
from orders.models import Order
from sync.deadline_http import AnswerTooLarge, deadline_session, request_within

MAX_ANSWER_BYTES = 16 << 20  # a shipment's label (PDF or ZPL, base64) fits many times over


class HttpCarrier:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        api_key: str = "",
        timeout_s: float = 10.0,
        http: requests.Session | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.http = http or deadline_session()

    def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        headers = kw.pop("headers", {})
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            # The whole exchange within the time-out (a pack station's close waits on it): a
            # carrier that trickles its answer held the close - and its locks - for as long as
            # it liked, each read well inside a per-read time-out.
            resp = request_within(
                self.http,
                method,
                self.base_url + path,
                self.timeout_s,
                max_body=MAX_ANSWER_BYTES,
                headers=headers,
                timeout=self.timeout_s,
                **kw,
            )
        except AnswerTooLarge as exc:
            raise CarrierError(FulfilmentErrorCode.bad_carrier_answer, str(exc)) from exc
        except requests.RequestException as exc:
            raise CarrierError(
                FulfilmentErrorCode.carrier_unreachable, str(exc)[:200], retryable=True
            ) from exc
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):  # a list, a string, a number: nothing we can read
            body = {}
        if resp.status_code >= 400:
            err = body.get("error") if isinstance(body.get("error"), dict) else {}
            raise CarrierError(
                _text(err.get("code"), 60) or f"http_{resp.status_code}",
                _text(err.get("message"), 200) or resp.reason or "carrier error",
                retryable=resp.status_code in (408, 429) or resp.status_code >= 500,
            )
        return body

    def create_shipment(self, package: Package, order: Order) -> Shipment:
        body = self._call(
            "POST",
            "/shipments",
            json=shipment_request(package, order),
            headers={"Idempotency-Key": package.sscc},
        )
        # What is stored and printed must be what a column holds and a label shows: a tracking
        # number of printable text (it goes on the label and to the OMS), a service name.
        tracking = _scalar_text(body.get("tracking_number"))
        if tracking is None or not _storable(tracking, _TRACKING_MAX):
            raise _bad_answer("tracking_number", body.get("tracking_number"))
        service = _scalar_text(body.get("service") or order.service)
        if service is None or not _storable(service, _SERVICE_MAX):
            raise _bad_answer("service", body.get("service"))
        label_format = body.get("label_format", "zpl")
        if not isinstance(label_format, str) or not _storable(label_format, 20):
            raise _bad_answer("label_format", label_format)
        label_data = body.get("label_base64")
        if not isinstance(label_data, str):
            raise _bad_answer("label_base64", label_data)
        try:
            data = base64.b64decode(label_data)
        except ValueError as exc:
            raise _bad_answer("label_base64", label_data) from exc
        return Shipment(tracking, service, Label(label_format, data))

    def tracking_status(
        self, tracking_number: str, *, shipped_at: dt.datetime | None = None
    ) -> TrackingStatus:
        body = self._call("GET", f"/tracking/{tracking_number}")
        delivered_at = body.get("delivered_at")
        when = None
        if delivered_at:
            when = parse_when(delivered_at) if isinstance(delivered_at, str) else None
            if when is None:
                raise _bad_answer("delivered_at", delivered_at)
        return TrackingStatus(str(body.get("status") or "unknown"), when)

    def manifest(self, packages: Sequence[Package], day: str) -> str:
        body = self._call(
            "POST",
            "/manifests",
            json={"day": day, "tracking_numbers": [p.tracking_number for p in packages]},
        )
        raw = body.get("reference")
        reference = _scalar_text(raw or "")
        if reference is None or (reference and not _storable(reference, _REFERENCE_MAX)):
            raise _bad_answer("reference", raw)
        return reference


_TRACKING_MAX = 64  # Package.tracking_number
_SERVICE_MAX = 40  # Package.service
_REFERENCE_MAX = 64  # Manifest.reference


def _scalar_text(value: Any) -> str | None:
    """A string as it is, a whole number as its digits (some APIs send numeric tracking
    numbers as JSON numbers); None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return None


def _storable(text: str, max_len: int) -> bool:
    return bool(text.strip()) and len(text) <= max_len and text.isprintable()


def _text(value: Any, max_len: int) -> str:
    """A carrier's error code or message as text (they send numbers and lists too)."""
    if value is None or value == "":
        return ""
    return (value if isinstance(value, str) else json.dumps(value))[:max_len]


def _bad_answer(field: str, value: Any) -> CarrierError:
    what = "missing" if value is None else f"not usable: {str(value)[:60]!r}"
    return CarrierError(
        FulfilmentErrorCode.bad_carrier_answer, f"the carrier's answer: {field} {what}"
    )


def parse_when(text: str) -> dt.datetime | None:
    """An ISO 8601 time as aware UTC (a naive one taken as UTC); None if it is not one."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when
