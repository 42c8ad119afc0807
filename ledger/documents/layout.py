"""Bilingual page layout on a reportlab canvas: a cursor down A4 pages with headings, tables, bullets, footers.

Each line is set in runs: characters that Windows-1252 can spell in Helvetica, the others (Chinese) in reportlab's
built-in CID font ``STSong-Light``, whose glyphs the viewer supplies, so no font file is shipped or embedded.
Lines wrap at the last space, or between any two characters where there is none (as Chinese text does).
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from reportlab import rl_config  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]

__all__ = ["LEADING", "Layout", "Rows", "font_for", "prepare_reportlab", "text_width", "wrap"]

CJK_FONT = "STSong-Light"
# Helvetica under a name of our own with its encoding spelled out: the font reportlab registers as "Helvetica"
# takes its encoding from rl_config.defaultEncoding, which RL_defaultEncoding or a settings file can change.
LATIN_FONT = "lifeledger-Helvetica"
# reportlab settings that change the bytes of a PDF and that the environment (RL_<name>) or a settings file may
# set: pinned, so a document's bytes depend on its content only. useA85=0 also keeps streams a quarter smaller.
_PINNED_SETTINGS = {"useA85": 0, "wrapA85": 0, "pdfMultiLine": 0, "canvas_baseColor": None, "pdfComments": 0}
LEADING = 1.3
MARGIN = 42.0
_GREY = 0.45
_FOOTER_SIZE = 7.0
_PAGE_NO_WIDTH = 60.0

# A table row: label in Chinese, label in English, value (may hold "\n" for line breaks).
Rows = list[tuple[str, str, str]]


def prepare_reportlab() -> None:
    """Pin reportlab's output settings and register the two fonts; call before drawing (repeating is harmless).

    The settings are process-wide: this process's reportlab writes PDFs the way this module needs.
    """
    for name, value in _PINNED_SETTINGS.items():
        setattr(rl_config, name, value)
    registered = pdfmetrics.getRegisteredFontNames()
    if LATIN_FONT not in registered:
        pdfmetrics.registerFont(pdfmetrics.Font(LATIN_FONT, "Helvetica", "WinAnsiEncoding"))
    if CJK_FONT not in registered:
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT, isVertical=False, isHalfWidth=False))


def font_for(ch: str) -> str:
    """Helvetica for a character Windows-1252 (Helvetica's encoding here) can spell, else the CJK font."""
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return CJK_FONT
    return LATIN_FONT


def _runs(text: str) -> list[tuple[str, str]]:
    return [(font, "".join(chars)) for font, chars in groupby(text, key=font_for)]


def _char_width(ch: str, size: float) -> float:
    return float(pdfmetrics.stringWidth(ch, font_for(ch), size))


def text_width(text: str, size: float) -> float:
    """The width in points of ``text`` set in runs at ``size``."""
    return sum(float(pdfmetrics.stringWidth(run, font, size)) for font, run in _runs(text))


def wrap(text: str, *, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width``: at each "\n", then at the last space, else anywhere."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0.0
        for ch in paragraph:
            w = _char_width(ch, size)
            if used + w <= width or not line:
                line, used = line + ch, used + w
                continue
            space = line.rfind(" ")
            if ch != " " and space > 0:
                lines.append(line[:space])
                line = line[space + 1 :] + ch
            else:
                lines.append(line.rstrip())
                line = ch.lstrip()
            used = text_width(line, size)
        lines.append(line)
    return lines


class Layout:
    """A cursor ``y`` moving down the pages of ``canvas``; every page gets ``footer`` at the bottom and every
    page after the first the ``continued`` line at the top."""

    def __init__(self, canvas: Any, *, footer: tuple[str, ...], continued: str) -> None:
        self.canvas = canvas
        self.left = MARGIN
        self.right = A4[0] - MARGIN
        self.y = A4[1] - MARGIN
        width = self.right - self.left - _PAGE_NO_WIDTH
        self._footer = [line for text in footer for line in wrap(text, size=_FOOTER_SIZE, width=width)]
        self._continued = continued
        self._bottom = MARGIN + (len(self._footer) + 1) * _FOOTER_SIZE * LEADING + 6
        self._page = 1

    def text(self, x: float, y: float, text: str, *, size: float, grey: bool = False, centre: bool = False) -> None:
        """Draw one line at (x, y) (centred on x when ``centre``), each run in its font."""
        self.canvas.setFillGray(_GREY if grey else 0)
        if centre:
            x -= text_width(text, size) / 2
        for font, run in _runs(text):
            self.canvas.setFont(font, size)
            self.canvas.drawString(x, y, run)
            x += float(pdfmetrics.stringWidth(run, font, size))

    def ensure(self, height: float) -> None:
        """Start a new page unless ``height`` points fit above the footer."""
        if self.y - height >= self._bottom:
            return
        self._draw_footer()
        self.canvas.showPage()
        self._page += 1
        self.y = A4[1] - MARGIN - 8
        self.text(self.left, self.y, self._continued, size=8, grey=True)
        self.y -= 8

    def heading(self, title: tuple[str, str], *, keep: float) -> None:
        """A section heading "中文 English", on one page with the first ``keep`` points that follow it."""
        self.ensure(22 + keep)
        self.y -= 16
        self.text(self.left, self.y, title[0], size=11)
        self.text(self.left + text_width(title[0], 11) + 6, self.y, title[1], size=9, grey=True)
        self.y -= 5

    def table(self, title: tuple[str, str], rows: Rows) -> None:
        """A heading and a two-column ruled table: label (Chinese over English) | value."""
        label_width, pad, size = 118.0, 3.5, 8.5
        value_width = self.right - self.left - label_width - 2 * pad
        cells = [(zh, en, wrap(value, size=size, width=value_width)) for zh, en, value in rows]
        heights = [max(2, len(lines)) * size * LEADING + 2 * pad for _, _, lines in cells]
        self.heading(title, keep=heights[0] if heights else 0)
        self.canvas.setLineWidth(0.4)
        self.canvas.setStrokeGray(0.6)
        for (zh, en, lines), height in zip(cells, heights, strict=True):
            self.ensure(height)
            top = self.y
            baseline = top - pad - size
            self.text(self.left + pad, baseline, zh, size=size)
            self.text(self.left + pad, baseline - size * LEADING, en, size=size - 1.5, grey=True)
            for i, line in enumerate(lines):
                self.text(self.left + label_width + pad, baseline - i * size * LEADING, line, size=size)
            self.canvas.rect(self.left, top - height, label_width, height, stroke=1, fill=0)
            self.canvas.rect(self.left + label_width, top - height, self.right - self.left - label_width, height,
                             stroke=1, fill=0)
            self.y = top - height

    def bullets(self, title: tuple[str, str], items: list[tuple[str, str]]) -> None:
        """A heading and numbered items, each its Chinese text over its English text."""
        size, indent = 8.5, 14.0
        width = self.right - self.left - indent
        blocks = [wrap(zh, size=size, width=width) + wrap(en, size=size, width=width) for zh, en in items]
        english_from = [len(wrap(zh, size=size, width=width)) for zh, _ in items]
        self.heading(title, keep=len(blocks[0]) * size * LEADING if blocks else 0)
        for number, (lines, first_en) in enumerate(zip(blocks, english_from, strict=True), start=1):
            self.ensure(len(lines) * size * LEADING + 3)
            self.text(self.left, self.y - size * LEADING, f"{number}.", size=size)
            for i, line in enumerate(lines):
                self.y -= size * LEADING
                self.text(self.left + indent, self.y, line, size=size, grey=i >= first_en)
            self.y -= 3

    def finish(self) -> None:
        """Close the last page with its footer; the caller then saves the canvas."""
        self._draw_footer()
        self.canvas.showPage()

    def _draw_footer(self) -> None:
        step = _FOOTER_SIZE * LEADING
        y = MARGIN + step * (len(self._footer) - 1)
        self.canvas.setLineWidth(0.4)
        self.canvas.setStrokeGray(0.6)
        self.canvas.line(self.left, y + step, self.right, y + step)
        self.text(self.right - _PAGE_NO_WIDTH + 8, y, f"第 {self._page} 页 Page {self._page}", size=_FOOTER_SIZE,
                  grey=True)
        for line in self._footer:
            self.text(self.left, y, line, size=_FOOTER_SIZE, grey=True)
            y -= step
