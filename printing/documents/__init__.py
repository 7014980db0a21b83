"""Office-printer documents (PDF, A4 or US Letter) built with reportlab from plain dataclasses.

* :func:`pick_list_pdf` - one cart's pick list: stops in route order, Code 128 to start it by scan;
* :func:`location_labels_pdf` - sheets of shelf labels: location code as Code 128, check digits
  large;
* :func:`badge_sheet_pdf` - login badge cards, one per user (credentials: keep safe);
* :func:`packing_slip_pdf` - the packing slip of an order, with its cartons and a QR code.

The data comes in as the frozen dataclasses of :mod:`printing.documents.model`; bad data is refused
with a :class:`DocumentError` carrying a :class:`DocumentErrorCode`.  Text in any script prints
with the embedded DejaVu Sans font (see :mod:`printing.documents._common`).
"""

from printing.documents._common import document_fonts
from printing.documents.badges import badge_sheet_pdf
from printing.documents.location_labels import location_labels_pdf
from printing.documents.model import (
    Address,
    BadgeCard,
    DocumentError,
    DocumentErrorCode,
    LocationLabel,
    PackingSlip,
    PageSize,
    PickListSheet,
    PickStop,
    SlipLine,
    SlipPackage,
)
from printing.documents.packing_slip import packing_slip_pdf
from printing.documents.pick_list import pick_list_pdf

__all__ = [
    "Address",
    "BadgeCard",
    "DocumentError",
    "DocumentErrorCode",
    "LocationLabel",
    "PackingSlip",
    "PageSize",
    "PickListSheet",
    "PickStop",
    "SlipLine",
    "SlipPackage",
    "badge_sheet_pdf",
    "document_fonts",
    "location_labels_pdf",
    "packing_slip_pdf",
    "pick_list_pdf",
]
