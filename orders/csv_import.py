"""CSV import of orders (manual uploads): one row per order line, rows with the same
``external_id`` form one order. Goes through the same intake as the JSON API, so the reason codes
are the same; errors are reported per row (header = row 1) and column. Valid orders are
accepted; an order with a bad row is rejected whole (each order is all-or-nothing).

Columns (header names, any order; unknown columns are ignored):
``external_id, channel, priority, ship_by, carrier, service, ship_to_name, ship_to_company,
ship_to_address1, ship_to_address2, ship_to_city, ship_to_region, ship_to_postal_code,
ship_to_country, ship_to_phone, ship_to_email, notes, line_id, sku, quantity``.
``line_id`` may be left out (the column, or a row's cell): such lines get the lowest numbers
1, 2, … that no other row of their order gives.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core.actors import Actor
from core.errors import Invalid
from orders.errors import IntakeFieldCode
from orders.intake import SHIP_TO_FIELDS
from orders.service import MAX_BATCH, create_orders

ORDER_COLUMNS = (
    "external_id",
    "channel",
    "priority",
    "ship_by",
    "carrier",
    "service",
    *(f"ship_to_{name}" for name, _, _ in SHIP_TO_FIELDS),
    "notes",
)
LINE_COLUMNS = ("line_id", "sku", "quantity")
COLUMNS = ORDER_COLUMNS + LINE_COLUMNS
REQUIRED_COLUMNS = ("external_id", "ship_by", "carrier", "sku", "quantity")
MAX_ROWS = 100_000
_SEP_HINT = re.compile(r"sep=([,;\t|])", re.IGNORECASE)
_LINE_FIELD = re.compile(r"^lines\[(\d+)\](?:\.(\w+))?$")


@dataclass(frozen=True)
class RowError:
    """A ``core.errors.FieldError`` with the file row it came from (header = row 1; 0 for the
    file as a whole); ``field`` is the CSV column."""

    row: int
    code: IntakeFieldCode
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "code": str(self.code),
            "field": self.field,
            "message": self.message,
        }


@dataclass
class ImportedOrder:
    external_id: str | None
    rows: list[int]
    outcome: str  # created | unchanged | conflict | invalid
    status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "external_id": self.external_id,
            "rows": self.rows,
            "outcome": self.outcome,
            "status": self.status,
        }


@dataclass
class ImportResult:
    rows: int = 0
    orders: list[ImportedOrder] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts = {"rows": self.rows, "orders": len(self.orders)}
        for outcome in ("created", "unchanged", "conflict", "invalid"):
            counts[outcome] = sum(1 for o in self.orders if o.outcome == outcome)
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "orders": [o.as_dict() for o in self.orders],
            "errors": [e.as_dict() for e in self.errors],
        }


class CsvFileError(Invalid):
    """The file as a whole cannot be read (encoding, header, size): 422 with its row errors."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(errors, "; ".join(e.message for e in errors))
        self.errors = errors


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = max(head.count(b"\n"), head.count(b"\r")) + 1  # CR-only files too
        raise CsvFileError(
            [
                RowError(
                    0,
                    IntakeFieldCode.invalid_encoding,
                    "",
                    f"the file must be UTF-8 (Excel: CSV UTF-8); line {line} is not",
                )
            ]
        ) from exc


@dataclass
class _Group:
    rows: list[int]
    payload: dict[str, Any]
    errors: list[RowError] = field(default_factory=list)


def parse(text: str) -> list[_Group]:
    """Rows → order payloads grouped by external_id (in first-appearance order)."""
    first_line, *rest = re.split(r"\r\n|\r|\n", text, maxsplit=1)  # CR-only files (old Mac) too
    hint = _SEP_HINT.fullmatch(first_line.strip())
    if hint:  # Excel's "sep=;" line: it names the separator and is not a row (Excel hides it)
        delimiter, text = hint.group(1), rest[0] if rest else ""
    else:
        delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    # strict: an unclosed quote is an error, not a cell that swallows every row after it (those
    # orders were neither imported nor reported)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvFileError(
            [RowError(1, IntakeFieldCode.malformed_csv, "", _csv_reason(exc, delimiter))]
        ) from exc
    if not header or not any(h.strip() for h in header):
        raise CsvFileError(
            [RowError(1, IntakeFieldCode.empty_file, "", "the file has no header row")]
        )
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        # A tab-separated file (Excel's "Text (Tab delimited)") is one column here: "no column
        # 'external_id'" about a header that visibly has it sent people looking for a typo.
        other = next((d for d in ("\t", "|") if d in first_line and d != delimiter), None)
        why = f" (the header is separated by {other!r}: use ',' or ';')" if other else ""
        raise CsvFileError(
            [
                RowError(
                    1, IntakeFieldCode.missing_column, c, f"the header has no column {c!r}{why}"
                )
                for c in missing
            ]
        )
    twice = [c for c in COLUMNS if names.count(c) > 1]
    if twice:  # which one would count? The other's cells would be dropped without a word.
        raise CsvFileError(
            [
                RowError(1, IntakeFieldCode.duplicate_column, c, f"the header has {c!r} twice")
                for c in twice
            ]
        )
    index = {name: names.index(name) for name in COLUMNS if name in names}
    width = len(header)
    groups: dict[str, _Group] = {}
    anonymous: list[_Group] = []
    row_no = 1
    try:
        for cells in reader:
            row_no += 1
            if not any(cell.strip() for cell in cells):
                continue
            if row_no > MAX_ROWS + 1:
                raise CsvFileError(
                    [
                        RowError(
                            row_no,
                            IntakeFieldCode.too_many_rows,
                            "",
                            f"at most {MAX_ROWS} rows per file",
                        )
                    ]
                )
            if any(cell.strip() for cell in cells[width:]):
                # An unquoted separator inside a cell ("1 Main St, Apt 2") shifts every cell
                # after it into the wrong column; the rest of the row cannot be trusted.
                raise CsvFileError(
                    [
                        RowError(
                            row_no,
                            IntakeFieldCode.malformed_csv,
                            "",
                            f"row {row_no} has {len(cells)} cells but the header {width}: "
                            f"quote a cell that contains {delimiter!r}",
                        )
                    ]
                )
            values = {name: cells[i].strip() if i < len(cells) else "" for name, i in index.items()}
            _add_row(groups, anonymous, row_no, values)
    except csv.Error as exc:  # raised while reading the next row: row_no is the last one read
        raise CsvFileError(
            [RowError(row_no + 1, IntakeFieldCode.malformed_csv, "", _csv_reason(exc, delimiter))]
        ) from exc
    every = list(groups.values()) + anonymous
    if not every:  # an export of an empty selection: "0 orders imported" read as success
        raise CsvFileError(
            [RowError(2, IntakeFieldCode.empty_file, "", "the file has a header but no order rows")]
        )
    for group in every:
        _number_lines(group.payload["lines"])
    return every


def _csv_reason(exc: csv.Error, delimiter: str) -> str:
    """The csv module's complaint in a spreadsheet user's words."""
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quote opened in this row is never closed (it would take in every row after it)"
    if "expected after" in text:
        return f'a quoted cell goes on after its closing quote: end it with " then {delimiter!r}'
    return text


def _number_lines(lines: list[dict[str, Any]]) -> None:
    """Lines without a ``line_id`` get the lowest numbers 1, 2, … that no row of their order
    gives: numbered as they came, a row without an id after one with ``line_id`` 2 was given
    2 as well and refused as ``duplicate_line``, though its own cell was empty."""
    given = {line["line_id"] for line in lines if line["line_id"] is not None}
    n = 0
    for line in lines:
        if line["line_id"] is None:
            n += 1
            while str(n) in given:
                n += 1
            line["line_id"] = str(n)


def _add_row(
    groups: dict[str, _Group], anonymous: list[_Group], row_no: int, values: dict[str, str]
) -> None:
    ext = values.get("external_id", "")
    line: dict[str, Any] = {
        "line_id": values.get("line_id") or None,
        "sku": values.get("sku") or None,
        "quantity": _number(values.get("quantity", "")),
    }
    group = groups.get(ext) if ext else None
    if group is None:
        ship_to = {name: values.get(f"ship_to_{name}") or None for name, _, _ in SHIP_TO_FIELDS}
        payload: dict[str, Any] = {
            key: values.get(key) or None for key in ORDER_COLUMNS if not key.startswith("ship_to_")
        }
        payload["ship_to"] = ship_to
        payload["lines"] = []
        group = _Group([], payload)
        if ext:
            groups[ext] = group
        else:
            anonymous.append(group)
    else:
        for key in ORDER_COLUMNS:
            value = values.get(key, "")
            first = (
                group.payload["ship_to"].get(key.removeprefix("ship_to_"))
                if key.startswith("ship_to_")
                else group.payload.get(key)
            )
            if value and value != (first or ""):
                group.errors.append(
                    RowError(
                        row_no,
                        IntakeFieldCode.inconsistent_order,
                        key,
                        f"{key} differs from the first row of order {ext}",
                    )
                )
    group.rows.append(row_no)
    group.payload["lines"].append(line)


def _number(text: str) -> Any:
    """A CSV quantity: ASCII digits only (``int()`` would also take ``1_0``, ``+3`` and
    Unicode digits such as ``٣``); anything else is passed on as text and intake answers
    ``invalid_quantity``. 19 digits at most, so a huge cell is never converted."""
    if not text:
        return None
    if text.isascii() and text.isdigit() and len(text) <= 19:
        return int(text)
    return text  # intake answers invalid_quantity


def _row_error(group: _Group, code: IntakeFieldCode, field_path: str, message: str) -> RowError:
    match = _LINE_FIELD.match(field_path)
    if match:
        i = int(match.group(1))
        row = group.rows[i] if i < len(group.rows) else group.rows[0]
        return RowError(row, code, match.group(2) or "", message)
    column = field_path.replace("ship_to.", "ship_to_")
    if column == "lines":
        column = "sku"
    return RowError(group.rows[0], code, column, message)


def import_csv(session: Session, text: str, actor: Actor) -> ImportResult:
    """Import every order of the file; raises CsvFileError when the file cannot be read."""
    groups = parse(text)
    result = ImportResult(rows=sum(len(g.rows) for g in groups))
    for chunk in _chunks(groups, MAX_BATCH):
        ready = [g for g in chunk if not g.errors]
        intake = iter(create_orders(session, [g.payload for g in ready], actor))
        for group in chunk:
            ext = group.payload.get("external_id")
            if group.errors:
                result.errors.extend(group.errors)
                result.orders.append(ImportedOrder(ext, group.rows, "invalid"))
                continue
            res = next(intake)
            result.orders.append(
                ImportedOrder(res.external_id or ext, group.rows, res.outcome, res.order_status)
            )
            result.errors.extend(_row_error(group, e.code, e.field, e.message) for e in res.errors)
            if res.outcome == "conflict":
                result.errors.append(
                    RowError(
                        group.rows[0],
                        IntakeFieldCode.external_id_conflict,
                        "external_id",
                        f"order {res.external_id} exists with different content",
                    )
                )
    result.errors.sort(key=lambda e: e.row)
    return result


def _chunks(items: Sequence[_Group], size: int) -> list[Sequence[_Group]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def sample_csv(now: dt.datetime | None = None) -> str:
    """A valid file to start from: two demo orders due in four hours, one with two lines."""
    due = ((now or dt.datetime.now(dt.UTC)) + dt.timedelta(hours=4)).replace(
        second=0, microsecond=0
    )
    ship_by = due.isoformat().replace("+00:00", "Z")
    rows = [
        {"external_id": "CSV-1001", "priority": "express", "carrier": "ups", "service": "ground",
         "ship_to_name": "Ada Lovelace", "ship_to_address1": "12 St James Sq",
         "ship_to_city": "London", "ship_to_postal_code": "SW1Y 4JH", "ship_to_country": "GB",
         "line_id": "1", "sku": "SKU-00001", "quantity": "2"},
        {"external_id": "CSV-1001", "priority": "express", "carrier": "ups", "service": "ground",
         "ship_to_name": "Ada Lovelace", "ship_to_address1": "12 St James Sq",
         "ship_to_city": "London", "ship_to_postal_code": "SW1Y 4JH", "ship_to_country": "GB",
         "line_id": "2", "sku": "SKU-00042", "quantity": "1"},
        {"external_id": "CSV-1002", "priority": "standard", "carrier": "ups", "service": "ground",
         "ship_to_name": "Bo Diddley", "ship_to_address1": "1 Main St", "ship_to_city": "Austin",
         "ship_to_region": "TX", "ship_to_postal_code": "78701", "ship_to_country": "US",
         "line_id": "1", "sku": "SKU-00007", "quantity": "3"},
    ]  # fmt: skip
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**{c: "" for c in COLUMNS}, "ship_by": ship_by, **row})
    return out.getvalue()
