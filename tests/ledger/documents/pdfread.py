"""Just enough PDF reading for the tests: the streams (inflated), the text shown and the objects of one kind."""

from __future__ import annotations

import re
import zlib

_OBJECT = re.compile(rb"(\d+) 0 obj\n(.*?)\nendobj", re.S)
_STREAM = re.compile(rb"^(.*?/Length (\d+).*?)\bstream\r?\n", re.S)
_FONT_NAME = re.compile(rb"/Name /(F\d+)")
_SHOW = re.compile(rb"/(F\d+) [\d.]+ Tf|\((?:\\.|[^\\)])*\) Tj", re.S)
_RECT = re.compile(rb"(-?[\d.]+) (-?[\d.]+) (-?[\d.]+) (-?[\d.]+) re")
_BBOX = re.compile(rb"/BBox \[ 0 0 (\d+) (\d+) \]")
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def objects(pdf: bytes) -> list[tuple[bytes, bytes]]:
    """Each object as (dictionary text, inflated stream or b"")."""
    found = []
    for match in _OBJECT.finditer(pdf):
        body = match.group(2)
        stream = _STREAM.match(body)
        if stream is None:
            found.append((body, b""))
            continue
        head, data = stream.group(1), body[stream.end() : stream.end() + int(stream.group(2))]
        assert b"ASCII85" not in head
        found.append((head, zlib.decompress(data) if b"/FlateDecode" in head else data))
    return found


def unescape(literal: bytes) -> bytes:
    """The bytes of a PDF literal string given without its outer parentheses."""
    out, i = bytearray(), 0
    while i < len(literal):
        ch = literal[i : i + 1]
        if ch != b"\\":
            out += ch
            i += 1
            continue
        nxt = literal[i + 1 : i + 2]
        octal = re.match(rb"[0-7]{1,3}", literal[i + 1 : i + 4])
        if octal:
            out.append(int(octal.group(0), 8) & 0xFF)
            i += 1 + len(octal.group(0))
        else:
            out += _ESCAPES.get(nxt, nxt)
            i += 2
    return bytes(out)


def shown_text(pdf: bytes) -> str:
    """The text that the content streams show, in order and without separators, decoded per font:
    UTF-16BE for the CID (Type0) font, Windows-1252 for the others."""
    cid_fonts = {_FONT_NAME.search(head).group(1) for head, _ in objects(pdf)  # type: ignore[union-attr]
                 if b"/Subtype /Type0" in head}
    parts: list[str] = []
    for _, stream in objects(pdf):
        font = b""
        for match in _SHOW.finditer(stream):
            if match.group(1):
                font = match.group(1)
                continue
            raw = unescape(match.group(0)[1 : match.group(0).rindex(b")")])
            parts.append(raw.decode("utf-16-be") if font in cid_fonts else raw.decode("cp1252"))
    return "".join(parts)


def matrix_from_form(pdf: bytes) -> tuple[tuple[bool, ...], ...]:
    """The QR matrix as drawn: the one form XObject's rectangles (in module units, y up) read back into rows."""
    forms = [(head, stream) for head, stream in objects(pdf) if b"/Subtype /Form" in head]
    assert len(forms) == 1
    head, stream = forms[0]
    box = _BBOX.search(head)
    assert box is not None and box.group(1) == box.group(2)
    n = int(box.group(1))
    dark = [[False] * n for _ in range(n)]
    for match in _RECT.finditer(stream):
        x, y, w, h = (float(v) for v in match.groups())
        assert h == 1 and w >= 1 and x == int(x) and y == int(y) and w == int(w)
        for column in range(int(x), int(x + w)):
            assert not dark[n - 1 - int(y)][column]
            dark[n - 1 - int(y)][column] = True
    return tuple(tuple(row) for row in dark)
