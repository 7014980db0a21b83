"""Refused operations: one base class, ``FloorError``, for every error a user or a client sees.

A domain function that refuses to do something raises a ``FloorError`` (or a subclass named after
its package: ``PickError``, ``OrderActionError``, ``CarrierError`` ...) carrying

- ``code``: a member of its package's ``StrEnum`` of error codes (``OrderErrorCode`` in
  orders/errors.py, ``FulfilmentErrorCode`` in floor/fulfilment/errors.py, ...). The code is the
  stable, machine-readable reason a client branches on; the value is what goes on the wire.
- ``http_status``: what an HTTP surface answers (the class default, or given at the raise).
- ``message``: one sentence for a person.
- ``fields``: optional ``FieldError``s, one per invalid input field (validation: 422).
- ``details``: optional extra data for logs and callers in Python; never sent on the wire.

The web layer renders every ``FloorError`` the same way, on every surface, with ``to_json()``;
the shape is the OMS API's documented contract (docs/api.md, "Errors")::

    {"error": {"code": "not_found", "message": "no order 'SO-1'"}}            # one reason
    {"errors": [{"code": "missing_field", "field": "ship_by", "message": "..."}]}  # per field

Socket.IO acks carry the same ``error`` object: ``{"ok": false, "error": {"code", "message"}}``.
The domain never imports Flask: it raises, and web/errors.py turns the raise into an answer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class CoreErrorCode(enum.StrEnum):
    """Codes every package and surface shares (the generic HTTP reasons among them)."""

    bad_request = "bad_request"
    malformed_json = "malformed_json"
    unauthorized = "unauthorized"  # OMS API: no or unknown key
    not_authenticated = "not_authenticated"  # sessions and sockets: nobody logged in
    forbidden = "forbidden"
    not_found = "not_found"
    unknown_event = "unknown_event"  # a Socket.IO event nothing handles
    method_not_allowed = "method_not_allowed"
    conflict = "conflict"
    payload_too_large = "payload_too_large"
    unsupported_media_type = "unsupported_media_type"
    invalid = "invalid"  # input with field errors (the fields say what)
    invalid_transition = "invalid_transition"
    unavailable = "unavailable"
    internal_error = "internal_error"


@dataclass(frozen=True)
class FieldError:
    """One invalid input field. ``field`` is a path into the input: ``ship_to.country``,
    ``lines[2].quantity`` (0-based), ``""`` for the input as a whole."""

    code: str  # a member of a package's code enum (a StrEnum is a str)
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "field": self.field, "message": self.message}


class FieldProblem(Protocol):
    """Anything that renders as one item of ``errors`` (``FieldError``; the CSV import's
    ``RowError``, which adds the row it came from)."""

    @property
    def message(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


class FloorError(Exception):
    """A refused operation: ``code`` (a StrEnum member), ``http_status``, ``message``, and
    optionally ``fields`` and ``details``. Subclasses set the defaults of their package, e.g.::

        class PickError(FloorError):
            http_status = 409

        raise PickError(FulfilmentErrorCode.task_closed, "task 7 is done")
        raise PickError(FulfilmentErrorCode.not_found, "no task 7", 404)
    """

    code: enum.StrEnum = CoreErrorCode.conflict
    http_status: int = 409

    def __init__(
        self,
        code: enum.StrEnum | None = None,
        message: str = "",
        http_status: int | None = None,
        *,
        fields: Sequence[FieldProblem] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.message = message or (fields[0].message if fields else str(self.code))
        if http_status is not None:
            self.http_status = http_status
        self.fields: list[FieldProblem] = list(fields)
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self.message)

    def error_body(self) -> dict[str, str]:
        """``{"code", "message"}``: the ``error`` object of an answer or a socket ack."""
        return {"code": str(self.code), "message": self.message}

    def to_json(self) -> dict[str, Any]:
        """The answer's body: ``{"errors": [...]}`` when fields are named, else ``{"error"}``."""
        if self.fields:
            return {"errors": [f.as_dict() for f in self.fields]}
        return {"error": self.error_body()}


class Invalid(FloorError):
    """Input that fails validation: 422 with every problem, one ``FieldError`` each."""

    code = CoreErrorCode.invalid
    http_status = 422

    def __init__(self, fields: Sequence[FieldProblem], message: str = "") -> None:
        super().__init__(None, message, fields=fields)
