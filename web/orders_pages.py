"""Supervisor pages for orders: the list (newest first, by status, keyset pages), one order in
detail, and the CSV upload (same intake and reason codes as the OMS API). Queries live in
``floor.fulfilment.order_views``; these routes only read the request and render."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from core.accounts import has_role
from core.inputs import MAX_ID
from core.users import Role
from floor.fulfilment import order_views as queries
from orders import csv_import
from orders.states import OrderStatus
from web.auth import current_actor, roles_required
from web.context import uow
from web.inputs import arg_int

bp = Blueprint("orders_pages", __name__)


@bp.get("/orders")
@roles_required(Role.supervisor)
def list_orders() -> Any:
    status_arg = request.args.get("status", "")
    status = OrderStatus(status_arg) if status_arg in OrderStatus.__members__ else None
    before = arg_int("before", None, low=1, high=MAX_ID)  # a bad one: 400 (web/inputs.py)
    with uow() as s:
        page = queries.recent_orders(s, status=status, before=before)
        counts = queries.order_counts(s)
    return render_template(
        "orders.html",
        page=page,
        status=status.value if status else "",
        counts=counts,
        first_page=not before,
    )


@bp.get("/orders/<external_id>")
@roles_required(Role.supervisor)
def order_page(external_id: str) -> Any:
    with uow() as s:
        order = queries.order_detail(s, external_id)
    if order is None:
        abort(404)
    return render_template("order.html", order=order)


@bp.get("/orders/import")
@roles_required(Role.supervisor)
def import_form() -> Any:
    return render_template("orders_import.html", result=None, file_errors=None)


@bp.get("/orders/import/sample.csv")
@roles_required(Role.supervisor)
def import_sample() -> Any:
    """A sample file to start from: two valid orders due in four hours."""
    return Response(
        csv_import.sample_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="orders-sample.csv"'},
    )


@bp.post("/orders/import")
@roles_required(Role.supervisor)
def import_upload() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template(
            "orders_import.html", result=None, file_errors=["Choose a CSV file to upload."]
        ), 400
    actor = current_actor()
    assert actor is not None
    try:
        text = csv_import.decode(upload.read())
        with uow() as s:
            result = csv_import.import_csv(s, text, actor)
    except csv_import.CsvFileError as exc:
        messages = [f"row {e.row}: {e.message}" if e.row else e.message for e in exc.errors]
        return render_template("orders_import.html", result=None, file_errors=messages), 422
    return render_template("orders_import.html", result=result, file_errors=None)


@bp.errorhandler(RequestEntityTooLarge)
def _file_too_large(exc: RequestEntityTooLarge) -> Any:
    """A file over the body limit was Werkzeug's bare "Request Entity Too Large" page (raised
    while the CSRF check read the form): the supervisor lost the page and was not told the limit.
    Now the import page says it; anywhere else, or to anyone else, the 413 stays as it was."""
    actor = current_actor()
    if request.endpoint != "orders_pages.import_upload" or not (
        actor and has_role(actor.role, Role.supervisor)
    ):
        return exc
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    message = (
        f"The file is larger than the {limit / 1_048_576:.1f} MB a request may carry "
        "(FLOOR_MAX_BODY_BYTES): nothing was imported; split it into smaller files."
    )
    return render_template("orders_import.html", result=None, file_errors=[message]), 413
