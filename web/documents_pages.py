"""Office documents as PDFs: pick lists per cart, location label sheets, badge sheets and packing
slips (``printing/documents`` builds them, ``printing/sheets`` reads the rows). Page
``/documents`` links them; every download checks its role, and a badge sheet (it issues new
badges) is a CSRF-protected POST by an admin, audited."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select

from core.errors import FloorError
from core.inputs import InputError, parse_id
from core.users import Role, User
from floor.fulfilment.models import PickList, Wave
from floor.fulfilment.states import PickListStatus
from printing import sheets
from printing.documents import (
    PageSize,
    badge_sheet_pdf,
    location_labels_pdf,
    packing_slip_pdf,
    pick_list_pdf,
)
from web.auth import current_actor, roles_required
from web.context import ctx, uow
from web.errors import WebErrorCode, register_json_errors
from web.pages import site_zone

bp = Blueprint("documents_pages", __name__)
# A refused download (DocumentError, bad parameters) answers 422 JSON (web/errors.py).
register_json_errors(bp, pages=True, csrf=False)

MAX_PREFIX = 24


def _page_size() -> PageSize:
    return PageSize.letter if request.args.get("size") == "letter" else PageSize.a4


def _pdf(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf", headers={"Cache-Control": "no-store"})
    response.headers.set("Content-Disposition", "inline", **_file_names(filename))
    return response


def _file_names(filename: str) -> dict[str, str]:
    """``filename`` (quoted as needed) and, for a name beyond ASCII, RFC 6266's ``filename*``.

    A packing slip is named after the OMS's order id, which may hold any text: a header value
    is sent as Latin-1, so ``packing-slip-注文-1.pdf`` broke the response after its status line
    (the client got no answer), and a ``"`` in the id ended the quoted name early."""
    try:
        filename.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
        return {"filename": simple, "filename*": "UTF-8''" + quote(filename, safe="-._~")}
    return {"filename": filename}


def _site_address() -> str:
    return str(getattr(ctx().settings, "site_address", sheets.DEFAULT_SITE_ADDRESS))


@bp.get("/documents")
@roles_required(Role.supervisor)
def index() -> Any:
    with uow() as s:
        lists = s.execute(
            select(PickList.id, Wave.code, PickList.status)
            .join(Wave, Wave.id == PickList.wave_id)
            .where(PickList.status.not_in([PickListStatus.done, PickListStatus.canceled]))
            .order_by(PickList.id.desc())
            .limit(200)
        ).all()
        users = s.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()
        return render_template(
            "documents.html",
            lists=[(sheets.pick_list_code(i), i, w, st.value) for i, w, st in lists],
            users=users,
        )


@bp.get("/documents/pick-lists/<int:pick_list_id>.pdf")
@roles_required(Role.supervisor)
def pick_list(pick_list_id: int) -> Any:
    with uow() as s:
        sheet = sheets.pick_list_sheet(s, pick_list_id)
    if sheet is None:
        abort(404)
    return _pdf(pick_list_pdf(sheet, _page_size()), f"{sheet.pick_list_code}.pdf")


@bp.get("/documents/location-labels.pdf")
@roles_required(Role.supervisor)
def location_labels() -> Any:
    prefix = request.args.get("prefix", "").strip().upper()
    if len(prefix) > MAX_PREFIX or not all(c.isalnum() or c == "-" for c in prefix):
        raise FloorError(WebErrorCode.invalid_prefix, "letters, digits and '-' only", 422)
    with uow() as s:
        labels = sheets.location_labels(s, prefix=prefix)
    data = location_labels_pdf(labels, _page_size())  # DocumentError: 422
    return _pdf(data, f"locations-{prefix or 'all'}.pdf")


@bp.post("/documents/badges.pdf")
@roles_required(Role.admin)
def badges() -> Any:
    """Issue new badges to the chosen users and print them (the old cards stop working)."""
    try:
        ids = sorted({parse_id(v, "user_id") for v in request.form.getlist("user_id")})
    except InputError:
        ids = []
    if not ids or len(ids) > 500:
        raise FloorError(WebErrorCode.no_users, "choose 1 to 500 users", 422)
    actor = current_actor()
    assert actor is not None
    with uow() as s:
        cards = sheets.issue_badges(s, ids, actor)
        if not cards:
            raise FloorError(WebErrorCode.no_users, "no active user chosen", 422)
        site = sheets.site_address_fields(_site_address())["name"]
        data = badge_sheet_pdf(cards, _page_size(), site_name=site)
    for user_id in ids:  # their sessions ended with the old badges: so do their live sockets
        ctx().sockets.disconnect_user(user_id)
    return _pdf(data, "badges.pdf")


@bp.get("/documents/orders/<external_id>/packing-slip.pdf")
@roles_required(Role.packer, Role.supervisor)
def packing_slip(external_id: str) -> Any:
    ship_from = sheets.site_address_fields(_site_address())
    with uow() as s:
        slip = sheets.packing_slip(s, external_id[:64], ship_from, site_zone())
    if slip is None:
        abort(404)
    return _pdf(packing_slip_pdf(slip, _page_size()), f"packing-slip-{slip.order_ref}.pdf")
