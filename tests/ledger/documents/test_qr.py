"""The QR code: segno's matrix, its runs of dark modules, and the form a canvas gets."""

from __future__ import annotations

import io
import re

import pytest
import segno
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from ledger.documents.qr import QR_FORM, dark_runs, draw_qr, qr_matrix
from ledger.errors import ValidationFailed
from tests.ledger.documents.pdfread import matrix_from_form, objects

URL = "https://verify.lifeledger.example/verify?policy=P2025000123&version=2"


def test_the_matrix_is_segnos_at_level_m_without_micro_codes() -> None:
    expected = segno.make(URL, error="m", micro=False)
    assert expected.error == "M"
    assert qr_matrix(URL) == tuple(tuple(bool(m) for m in row) for row in expected.matrix)


def test_a_short_payload_still_gets_a_full_size_code() -> None:
    assert len(qr_matrix("1")) == 21  # version 1, not a micro code


def test_the_runs_cover_exactly_the_dark_modules() -> None:
    matrix = qr_matrix(URL)
    rebuilt = [[False] * len(matrix) for _ in matrix]
    for row, column, length in dark_runs(matrix):
        assert length >= 1
        for c in range(column, column + length):
            assert not rebuilt[row][c]
            rebuilt[row][c] = True
    assert tuple(tuple(row) for row in rebuilt) == matrix


def test_runs_are_maximal() -> None:
    matrix = ((True, True, False, True), (False, False, False, False), (True, True, True, True), (False,) * 4)
    assert dark_runs(matrix) == [(0, 0, 2), (0, 3, 1), (2, 0, 4)]


def test_an_empty_or_oversized_payload_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        qr_matrix("")
    with pytest.raises(ValidationFailed, match="too long"):
        qr_matrix("x" * 3000)


def test_the_form_drawn_holds_the_matrix_and_is_placed_at_the_size_asked() -> None:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=1)
    modules = draw_qr(canvas, URL, x=100, y=200, size=99)
    canvas.showPage()
    canvas.save()
    pdf = buffer.getvalue()
    assert modules == len(qr_matrix(URL))
    assert matrix_from_form(pdf) == qr_matrix(URL)
    page = b"".join(stream for head, stream in objects(pdf) if b"/Subtype /Form" not in head)
    placed = re.search(rb"([\d.]+) 0 0 ([\d.]+) ([\d.]+) ([\d.]+) cm\s*/FormXob\." + QR_FORM.encode() + rb" Do", page)
    assert placed is not None
    sx, sy, x, y = (float(v) for v in placed.groups())
    assert (x, y) == (100, 200)
    assert sx == sy == pytest.approx(99 / modules, abs=1e-5)
