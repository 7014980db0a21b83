"""ZPL to PNG, offline, so a person can look at a label before (or instead of) printing it.

PyPI ``zplkit`` (a Rust ZPL renderer) draws the label the way a Zebra ZD621 at 203 dpi would: fonts
from captured printer bitmaps, barcodes to the dot. No printer, service or network is involved.
The page size is 4x6 in at 203 dpi unless the ZPL sets ``^PW``/``^LL`` itself.

Errors come back as ``RenderError`` with a ``code``: ``unrenderable`` (zplkit refused the ZPL, e.g.
a glyph none of its fonts has) or ``no_label`` (no ``^XA``..``^XZ`` in the input).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import zplkit
from zplkit.output import OutputError
from zplkit.rendering import RenderError as ZplkitRenderError

from core.errors import FloorError
from printing.zpl import LABEL_HEIGHT_DOTS, LABEL_WIDTH_DOTS

DPI = 203


class RenderErrorCode(enum.StrEnum):
    unrenderable = "unrenderable"
    no_label = "no_label"


class RenderError(FloorError, ValueError):
    """A label the renderer cannot draw."""

    http_status = 422

    def __init__(self, code: RenderErrorCode, message: str) -> None:
        super().__init__(code, message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class RenderedLabel:
    png: bytes
    width_dots: int
    height_dots: int
    warnings: tuple[str, ...]  # what the renderer says may differ from a printer


def render_labels(zpl: str | bytes) -> list[RenderedLabel]:
    """Every label (``^XA``..``^XZ``) in ``zpl`` as a PNG, in order."""
    options = zplkit.Options(width=LABEL_WIDTH_DOTS, height=LABEL_HEIGHT_DOTS, dpi=DPI)
    try:
        document = zplkit.render(zpl, options)
        warnings = tuple(document.warnings)
        return [
            RenderedLabel(scene.png(), scene.width, scene.height, warnings)
            for scene in document.labels
        ]
    except (ZplkitRenderError, OutputError) as exc:
        raise RenderError(RenderErrorCode.unrenderable, str(exc)) from exc


def render_png(zpl: str | bytes) -> bytes:
    """The first label in ``zpl`` as PNG bytes."""
    labels = render_labels(zpl)
    if not labels:
        raise RenderError(RenderErrorCode.no_label, "no ^XA..^XZ label in the input")
    return labels[0].png
