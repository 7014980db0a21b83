"""CSV import: POST /api/v1/orders/import and the supervisor page /orders/import. Row-level
errors carry the API's reason codes; valid orders are accepted."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from core.db import unit_of_work
from orders.models import Order
from tests.factories import counts, csrf_token, future, login

HEADER = (
    "external_id,priority,ship_by,carrier,service,ship_to_name,ship_to_address1,ship_to_city,"
    "ship_to_postal_code,ship_to_country,line_id,sku,quantity\n"
)


def _row(ext, sku="SKU-00001", qty="1", country="US", carrier="ups", line=""):
    return (
        f"{ext},standard,{future()},{carrier},ground,Bob Smith,1 Main St,Springfield,"
        f"12345,{country},{line},{sku},{qty}\n"
    )


def _file():
    return HEADER + "".join(
        [
            _row("CSV-1", "SKU-00001", "2"),  # row 2: order CSV-1, line 1
            _row("CSV-1", "SKU-00002", "1"),  # row 3: order CSV-1, line 2
            _row("CSV-2", "SKU-00003", "0"),  # row 4: invalid_quantity
            _row("CSV-3", "NOPE-1", "1", country="ZZ"),  # row 5: unknown_sku, invalid_country
            _row("CSV-4", "SKU-00004", "1", carrier="pigeon"),  # row 6: unsupported_carrier
            _row("CSV-5", "SKU-00005", "3"),  # row 7: fine
            _row("CSV-6", "SKU-00006", "1", line="7"),  # row 8: line 7 ...
            _row("CSV-6", "SKU-00007", "1", line="7"),  # row 9: ... duplicate_line
        ]
    )


def test_csv_import_accepts_valid_rows_and_reports_row_errors(api, sessions):
    r = api.post("/orders/import", data=_file().encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["summary"] == {
        "rows": 8,
        "orders": 6,
        "created": 2,
        "unchanged": 0,
        "conflict": 0,
        "invalid": 4,
    }
    errors = {(e["row"], e["code"], e["field"]) for e in body["errors"]}
    assert errors == {
        (4, "invalid_quantity", "quantity"),
        (5, "invalid_country", "ship_to_country"),
        (5, "unknown_sku", "sku"),
        (6, "unsupported_carrier", "carrier"),
        (9, "duplicate_line", "line_id"),
    }
    by_id = {o["external_id"]: o for o in body["orders"]}
    assert by_id["CSV-1"] == {
        "external_id": "CSV-1",
        "rows": [2, 3],
        "outcome": "created",
        "status": "allocated",
    }
    order = api.get("/orders/CSV-1").get_json()
    assert [(ln["line_id"], ln["sku"], ln["ordered"]) for ln in order["lines"]] == [
        ("1", "SKU-00001", 2),
        ("2", "SKU-00002", 1),
    ]
    with unit_of_work(sessions) as s:
        assert set(s.scalars(select(Order.external_id))) == {"CSV-1", "CSV-5"}
    # Uploading the same file again changes nothing: CSV intake is idempotent too.
    before = counts(sessions)
    again = api.post("/orders/import", data=_file().encode(), headers={"Content-Type": "text/csv"})
    assert again.get_json()["summary"]["unchanged"] == 2
    assert counts(sessions) == before


def test_csv_file_level_errors(api, sessions):
    before = counts(sessions)
    r = api.post(
        "/orders/import", data=b"sku,quantity\nSKU-00001,1\n", headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.get_json()["errors"]} == {"external_id", "ship_by", "carrier"}
    assert all(e["code"] == "missing_column" for e in r.get_json()["errors"])
    r = api.post("/orders/import", data=b"", headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and r.get_json()["errors"][0]["code"] == "empty_file"
    for only_header in (HEADER.encode(), HEADER.encode() + b",,,\r\n\r\n"):
        r = api.post("/orders/import", data=only_header, headers={"Content-Type": "text/csv"})
        assert r.status_code == 422, r.get_json()
        [error] = r.get_json()["errors"]
        assert error["code"] == "empty_file" and "no order rows" in error["message"]
    r = api.post(
        "/orders/import",
        data=HEADER.encode() + b"\xff\xfe,\n",
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 422 and r.get_json()["errors"][0]["code"] == "invalid_encoding"
    r = api.post("/orders/import", json={"not": "csv"})
    assert r.status_code == 415
    assert counts(sessions) == before


def test_a_cell_over_the_csv_field_limit_is_reported_on_its_own_row(api, sessions):
    """Rows count the header as row 1 (docs/api.md), for a cell the reader refuses too."""
    huge = "x" * (csv.field_size_limit() + 1)
    before = counts(sessions)
    for text, row in (
        (HEADER + _row("CSV-F", huge), 2),
        (HEADER + _row("CSV-F") + _row("CSV-G", huge), 3),
    ):
        r = api.post("/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"})
        assert r.status_code == 422
        [error] = r.get_json()["errors"]
        assert (error["row"], error["code"]) == (row, "malformed_csv")
    assert counts(sessions) == before


def test_csv_rows_that_disagree_about_their_order_are_rejected(api):
    text = HEADER + _row("CSV-X", "SKU-00001") + _row("CSV-X", "SKU-00002", country="CA")
    body = api.post(
        "/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"}
    ).get_json()
    assert body["errors"] == [
        {
            "row": 3,
            "code": "inconsistent_order",
            "field": "ship_to_country",
            "message": "ship_to_country differs from the first row of order CSV-X",
        }
    ]
    assert api.get("/orders/CSV-X").status_code == 404


def test_csv_semicolons_and_multipart_upload(api):
    text = (HEADER + _row("CSV-S", "SKU-00010")).replace(",", ";").encode("utf-8-sig")
    r = api.post(
        "/orders/import",
        data={"file": (io.BytesIO(text), "orders.csv")},
        content_type="multipart/form-data",
    )
    assert r.get_json()["summary"]["created"] == 1


def test_supervisor_uploads_a_csv_on_the_page(client, sessions):
    login(client, username="sam", password="supervisor-demo")
    page = client.get("/orders/import")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    r = client.post(
        "/orders/import",
        data={"csrf_token": token, "file": (io.BytesIO(_file().encode()), "orders.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert re.search(r'id="n-created">2<', html) and re.search(r'id="n-invalid">4<', html)
    assert "<td>4</td><td>quantity</td><td><code>invalid_quantity</code>" in html
    with unit_of_work(sessions) as s:
        assert set(s.scalars(select(Order.external_id))) == {"CSV-1", "CSV-5"}


def test_import_page_needs_a_supervisor_and_a_csrf_token(client):
    assert client.get("/orders/import").status_code == 302  # to the login page
    login(client, badge="BADGE-PICKER-1")
    assert client.get("/orders/import").status_code == 403
    client.post("/logout")
    login(client, username="sam", password="supervisor-demo")
    r = client.post(
        "/orders/import",
        data={"file": (io.BytesIO(_file().encode()), "orders.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 400  # no CSRF token


def test_rows_without_a_line_id_are_numbered_around_the_ids_other_rows_give(api, sessions):
    """A row with line_id 2 and one with none: the second was numbered 2 too and refused as
    duplicate_line, on a row that gave no line id. Now it takes the lowest free number."""
    text = (
        HEADER
        + _row("CSV-L", "SKU-00001", line="2")
        + _row("CSV-L", "SKU-00002")
        + _row("CSV-L", "SKU-00003")
        + _row("CSV-M", "SKU-00004")  # the column left empty throughout: 1, 2
        + _row("CSV-M", "SKU-00005")
    )
    body = api.post(
        "/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"}
    ).get_json()
    assert body["errors"] == []
    assert body["summary"]["created"] == 2
    lines = {ln["line_id"]: ln["sku"] for ln in api.get("/orders/CSV-L").get_json()["lines"]}
    assert lines == {"2": "SKU-00001", "1": "SKU-00002", "3": "SKU-00003"}
    lines = {ln["line_id"]: ln["sku"] for ln in api.get("/orders/CSV-M").get_json()["lines"]}
    assert lines == {"1": "SKU-00004", "2": "SKU-00005"}


def test_a_column_named_twice_refuses_the_file(api, sessions):
    """A second ``sku`` column was ignored without a word: the order was created with the first
    column's SKU and the other's cells were dropped."""
    before = counts(sessions)
    text = HEADER.replace("\n", ",SKU\n") + _row("CSV-D", "SKU-00001").replace("\n", ",SKU-00002\n")
    r = api.post("/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {
            "row": 1,
            "code": "duplicate_column",
            "field": "sku",
            "message": "the header has 'sku' twice",
        }
    ]
    assert counts(sessions) == before


def test_a_row_with_more_cells_than_the_header_refuses_the_file(api, sessions):
    """An unquoted comma in an address shifted the rest of its row one column to the right; the
    surplus cell was dropped and the row read with its values under the wrong columns."""
    before = counts(sessions)
    shifted = _row("CSV-E2").replace("1 Main St", "1 Main St, Apt 2")
    text = HEADER + _row("CSV-E1") + shifted + _row("CSV-E3")
    r = api.post("/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    [error] = r.get_json()["errors"]
    assert (error["row"], error["code"]) == (3, "malformed_csv")
    assert "14 cells but the header 13" in error["message"]
    assert counts(sessions) == before
    # Empty surplus cells (a spreadsheet's trailing separators) are harmless.
    text = HEADER + _row("CSV-E4").replace("\n", ",,\n")
    r = api.post("/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert r.get_json()["summary"]["created"] == 1


def test_a_cr_only_semicolon_file_is_read_by_its_header_line(api, sessions):
    """Old Mac Excel ends lines with CR alone: the separator was guessed from the whole file,
    and a row with more commas in its cells than the file has semicolons read as comma-separated
    (every column missing)."""
    text = (HEADER.rstrip("\n") + ",notes\n").replace(",", ";") + _row("CSV-CR").replace(
        ",", ";"
    ).replace("\n", ';"' + "a, " * 40 + '"\n')
    r = api.post(
        "/orders/import",
        data=text.replace("\n", "\r").encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["summary"]["created"] == 1


def test_a_file_not_in_utf8_names_the_line(api, sessions):
    before = counts(sessions)
    text = HEADER + _row("CSV-W1") + _row("CSV-W2").replace("Bob Smith", "Zoë Smith")
    r = api.post("/orders/import", data=text.encode("cp1252"), headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    [error] = r.get_json()["errors"]
    assert error["code"] == "invalid_encoding" and "line 3 is not" in error["message"]
    assert counts(sessions) == before


def test_a_file_over_the_body_limit_is_refused_on_the_import_page(sqlite_url):
    """Over FLOOR_MAX_BODY_BYTES the page was Werkzeug's bare 'Request Entity Too Large': the
    supervisor lost the page and was never told the limit."""
    from tests.factories import make_test_app

    app = make_test_app(sqlite_url, max_body_bytes=4096)
    client = app.test_client()
    login(client, username="sam", password="supervisor-demo")
    token = csrf_token(client.get("/orders/import").get_data(as_text=True))
    big = (HEADER + _row("CSV-BIG") * 60).encode()
    assert len(big) > 4096
    r = client.post(
        "/orders/import",
        data={"csrf_token": token, "file": (io.BytesIO(big), "orders.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 413
    html = r.get_data(as_text=True)
    assert "Import orders from CSV" in html and "FLOOR_MAX_BODY_BYTES" in html
    assert "nothing was imported" in html
    assert client.get("/orders/CSV-BIG").status_code == 404
    client.post("/logout", data={"csrf_token": token})
    anonymous = app.test_client().post(
        "/orders/import", data={"file": (io.BytesIO(big), "orders.csv")}
    )
    assert anonymous.status_code == 413 and "FLOOR_MAX_BODY_BYTES" not in anonymous.get_data(
        as_text=True
    )
    app.extensions["floor"].close()


def test_an_unclosed_quote_refuses_the_file_instead_of_swallowing_the_rows_after_it(api, sessions):
    """A ship_to_name of '"Bob' (no closing quote) made one cell of the rest of the file: the
    orders in the rows after it were neither imported nor reported anywhere."""
    before = counts(sessions)
    text = (
        HEADER + _row("CSV-Q1") + _row("CSV-Q2").replace("Bob Smith", '"Bob Smith') + _row("CSV-Q3")
    )
    r = api.post("/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    [error] = r.get_json()["errors"]
    assert (error["row"], error["code"]) == (3, "malformed_csv")
    assert "never closed" in error["message"]
    text = HEADER + _row("CSV-Q4").replace("Bob Smith", '"Bob" Smith')
    r = api.post("/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    [error] = r.get_json()["errors"]
    assert (error["row"], error["code"]) == (2, "malformed_csv")
    assert "after its closing quote" in error["message"]
    assert counts(sessions) == before
    # Quoted separators, doubled quotes and line breaks inside quotes are still cells.
    text = HEADER + _row("CSV-Q5").replace("Bob Smith", '"Bob ""B."" Smith,\nJr"')
    r = api.post("/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.get_json()["summary"]["rows"] == 1


def test_excels_sep_line_names_the_separator_and_is_not_the_header(api):
    """Excel writes (and reads) a first line 'sep=;': it was taken for the header, and every
    required column was reported missing."""
    text = "sep=;\r\n" + (HEADER + _row("CSV-SEP1") + _row("CSV-SEP2", line="x")).replace(",", ";")
    r = api.post("/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["summary"]["created"] == 2
    assert [o["rows"] for o in body["orders"]] == [[2], [3]]  # the header is row 1, as in Excel


def test_a_tab_separated_file_is_told_so(api, sessions):
    before = counts(sessions)
    text = (HEADER + _row("CSV-TAB")).replace(",", "\t")
    r = api.post("/orders/import", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert {e["code"] for e in errors} == {"missing_column"}
    assert all("separated by '\\t': use ',' or ';'" in e["message"] for e in errors)
    assert counts(sessions) == before
