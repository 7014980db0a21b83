"""Supervisor page: upload a CSV of orders (same intake and reason codes as the OMS API)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from floor.models import Role
from orders import csv_import
from web.auth import current_actor, roles_required
from web.context import uow

bp = Blueprint("orders_pages", __name__)


@bp.get("/orders/import")
@roles_required(Role.supervisor)
def import_form() -> Any:
    return render_template("orders_import.html", result=None, file_errors=None)


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
