"""The QR code on a document: segno's module matrix drawn as filled rectangles on a reportlab canvas.

The code is drawn as vectors (one path, one rectangle per horizontal run of dark modules) inside a form XObject
named ``QR_FORM`` whose unit is one module, so it prints sharp at any size, needs no image library, and a reader
of the PDF finds the exact matrix in one place. Row 0 of the matrix (the top row) is drawn at the top.
"""

from __future__ import annotations

from typing import Any

import segno

from ledger.errors import ValidationFailed

__all__ = ["QR_ERROR_LEVEL", "QR_FORM", "QUIET_ZONE", "dark_runs", "draw_qr", "qr_matrix"]

# Level M survives a crease or a smudge across 15 % of the symbol and keeps a verification URL at version 3-5.
QR_ERROR_LEVEL = "m"
# Modules of blank margin a scanner needs around the symbol; the caller keeps that space free of ink.
QUIET_ZONE = 4
QR_FORM = "qr"

Matrix = tuple[tuple[bool, ...], ...]


def qr_matrix(payload: str) -> Matrix:
    """The modules of the (full-size, never micro) QR code for ``payload``, rows from the top, True for dark.

    Requires a non-empty payload; raises ``ValidationFailed`` if it is empty or too long for any QR version.
    """
    if not payload:
        raise ValidationFailed("a QR code needs a non-empty payload", field="qr")
    try:
        code = segno.make(payload, error=QR_ERROR_LEVEL, micro=False)
    except segno.DataOverflowError as exc:
        raise ValidationFailed(f"the QR payload is too long ({len(payload)} characters)", field="qr") from exc
    return tuple(tuple(bool(module) for module in row) for row in code.matrix)


def dark_runs(matrix: Matrix) -> list[tuple[int, int, int]]:
    """Each horizontal run of dark modules as ``(row, first column, length)``, rows top to bottom, left to right."""
    runs: list[tuple[int, int, int]] = []
    for row_index, row in enumerate(matrix):
        start: int | None = None
        for column, dark in enumerate((*row, False)):
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                runs.append((row_index, start, column - start))
                start = None
    return runs


def draw_qr(canvas: Any, payload: str, *, x: float, y: float, size: float) -> int:
    """Draw the QR code for ``payload`` with its lower-left corner at (``x``, ``y``), ``size`` points square.

    ``canvas`` is a ``reportlab.pdfgen.canvas.Canvas``; the quiet zone is not drawn and lies outside the square.
    Draw at most one QR code per canvas (the form's name is fixed). Returns the number of modules on a side (the
    quiet zone is ``QUIET_ZONE * size / that``). Raises as ``qr_matrix``.
    """
    matrix = qr_matrix(payload)
    n = len(matrix)
    canvas.beginForm(QR_FORM, lowerx=0, lowery=0, upperx=n, uppery=n)
    path = canvas.beginPath()
    for row, column, length in dark_runs(matrix):
        path.rect(column, n - 1 - row, length, 1)
    canvas.setFillColorRGB(0, 0, 0)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.endForm()
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(size / n, size / n)
    canvas.doForm(QR_FORM)
    canvas.restoreState()
    return n
