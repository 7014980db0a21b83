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
        self.http = http or requests.Session()

    def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        headers = kw.pop("headers", {})
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            resp = self.http.request(
                method, self.base_url + path, headers=headers, timeout=self.timeout_s, **kw
            )
        except requests.RequestException as exc:
            raise CarrierError(
                FulfilmentErrorCode.carrier_unreachable, str(exc)[:200], retryable=True
            ) from exc
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code >= 400:
            err = body.get("error") if isinstance(body.get("error"), dict) else {}
            raise CarrierError(
                err.get("code") or f"http_{resp.status_code}",
                err.get("message") or resp.reason or "carrier error",
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
        try:
            return Shipment(
                body["tracking_number"],
                body.get("service") or order.service,
                Label(body.get("label_format", "zpl"), base64.b64decode(body["label_base64"])),
            )
        except (KeyError, ValueError) as exc:
            raise CarrierError(FulfilmentErrorCode.bad_carrier_answer, f"missing {exc}") from exc

    def tracking_status(
        self, tracking_number: str, *, shipped_at: dt.datetime | None = None
    ) -> TrackingStatus:
        body = self._call("GET", f"/tracking/{tracking_number}")
        delivered_at = body.get("delivered_at")
        when = dt.datetime.fromisoformat(delivered_at) if delivered_at else None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return TrackingStatus(str(body.get("status") or "unknown"), when)

    def manifest(self, packages: Sequence[Package], day: str) -> str:
        body = self._call(
            "POST",
            "/manifests",
            json={"day": day, "tracking_numbers": [p.tracking_number for p in packages]},
        )
        return str(body.get("reference") or "")
