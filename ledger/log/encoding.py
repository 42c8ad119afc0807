"""The one home of canonical encoding and hashing: RFC 8785 JSON, SHA-256, digest strings, base64."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

import orjson
import rfc8785

from ledger.errors import ValidationFailed

DIGEST_PREFIX = "sha256:"
MAX_EXACT_INTEGER = 2**53 - 1  # the largest integer RFC 8785 (I-JSON) carries exactly


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value.

    Raises ``ValidationFailed`` for values JCS cannot encode (floats that are not finite, integers beyond
    IEEE 754 doubles, non-string keys, ...).

    Values made only of objects with string keys, lists, strings, booleans, null and integers within I-JSON's
    exact range (what business payloads are: amounts travel as decimal strings) are written by orjson with sorted
    keys (its encoder takes a fifteenth of the standard library's time), which for them is byte for byte what JCS
    prescribes: the same string escapes, and code point order equals UTF-16 order below U+10000
    (``tests/ledger/log/test_encoding.py`` holds it to the ``rfc8785`` encoder over every character below U+0800
    and generated values). Anything else, a float, a tuple, a supplementary character, a lone surrogate or nesting
    deeper than orjson goes (255 levels), goes to the ``rfc8785`` encoder, which implements the whole of RFC 8785.
    (Tuples stay off the fast path: orjson bounds the nesting of lists, not of tuples, and a few thousand levels of
    them corrupt its memory.)
    """
    if _simple(value):
        try:
            encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # a lone surrogate or very deep nesting: the full encoder decides
            encoded = b""
        if encoded and not _FOUR_BYTE_UTF8.search(encoded):
            return encoded
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:  # deeper than the stack
        raise ValidationFailed(f"value cannot be canonicalised as RFC 8785 JSON: {exc}") from exc


_FOUR_BYTE_UTF8 = re.compile(rb"[\xf0-\xf4]")  # a character above U+FFFF, where code point and UTF-16 order part


FAST_PATH_CONTAINERS = 100_000  # more objects and lists than any payload holds: a value that contains itself


def _simple(value: Any) -> bool:
    """True if ``value`` holds nothing but string-keyed objects, lists, strings, booleans, null and safe integers,
    in fewer than ``FAST_PATH_CONTAINERS`` objects and lists (so a value that contains itself ends the walk)."""
    stack = [value]
    containers = 0
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            containers += 1
            if containers > FAST_PATH_CONTAINERS:
                return False
            for key, child in item.items():
                if type(key) is not str:
                    return False
                stack.append(child)
        elif kind is list:  # not tuples: orjson 3.13 bounds the nesting of lists but not of tuples
            containers += 1
            if containers > FAST_PATH_CONTAINERS:
                return False
            stack.extend(item)
        elif kind is int:
            if not -MAX_EXACT_INTEGER <= item <= MAX_EXACT_INTEGER:
                return False
        elif kind is not str and kind is not bool and item is not None:
            return False
    return True


def parse_json(raw: bytes | str, *, max_depth: int, what: str = "body", field: str | None = None) -> Any:
    """Decode JSON whose objects and arrays nest at most ``max_depth`` levels; raise ``ValidationFailed`` otherwise.

    The decoder (orjson) bounds nesting itself, without Python recursion, so no input can exhaust the C stack
    whatever recursion limit an imported package has set; the tighter ``max_depth`` is then checked without
    recursion either. Invalid UTF-8, lone surrogates, ``NaN`` and trailing garbage are refused. The error names
    ``field`` (default: ``what``) and, for syntax errors, the position.
    """
    too_deep = f"{what} nests objects and arrays more than {max_depth} levels deep; the limit is {max_depth}"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
        if "recursion" in reason or "depth limit" in reason:  # orjson stops at 1024 levels by itself
            raise ValidationFailed(too_deep, field=field or what) from None
        raise ValidationFailed(f"{what} is not acceptable JSON: {reason}", field=field or what) from None
    if nesting_exceeds(value, max_depth):
        raise ValidationFailed(too_deep, field=field or what)
    return value


def decoded_copy(encoded: bytes) -> Any | None:
    """A fresh copy of the JSON value ``encoded`` (bytes this process encoded), or None if it nests deeper than the
    decoder reads (1,024 levels). Unlike ``parse_json`` it applies no nesting limit of its own: the caller's
    checks of the value do."""
    try:
        return orjson.loads(encoded)
    except orjson.JSONDecodeError:
        return None


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True if ``value`` nests objects and arrays more than ``limit`` levels deep (checked without recursion).

    It walks one level at a time, keeping only the containers of the next level: every payload is checked on
    intake and when the ledger signs, so this runs for every event.
    """
    level: list[Any] = [value] if isinstance(value, dict | list | tuple) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        deeper: list[Any] = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, dict | list | tuple):  # a tuple is an array too (code builds them)
                    deeper.append(child)
        level = deeper
        depth += 1
    return False


# Printable ASCII other than '"' and '\\': RFC 8785 writes such a string as itself between quotes.
_PLAIN = re.compile(r'[\x20\x21\x23-\x5b\x5d-\x7e]*', re.ASCII)


def plain_members(members: list[tuple[str, str | int]]) -> bytes | None:
    """RFC 8785 bytes of a flat object whose keys are given in JCS order, or None if any value is not plain.

    A value is plain if it is a string of printable ASCII without quote or backslash, or an integer (not a bool)
    within I-JSON's exact range: exactly the values JCS writes without escaping or number formatting, so this
    agrees byte for byte with ``canonical_json`` and skips its general encoder on the hot path. Callers pass keys
    already sorted the JCS way (by UTF-16 code units, which for ASCII is plain order).
    """
    parts = []
    for key, value in members:
        if isinstance(value, str):
            if not _PLAIN.fullmatch(value):
                return None
            parts.append(f'"{key}":"{value}"')
        elif type(value) is int and -MAX_EXACT_INTEGER <= value <= MAX_EXACT_INTEGER:
            parts.append(f'"{key}":{value}')
        else:
            return None
    return ("{" + ",".join(parts) + "}").encode("ascii")


def plain_string(value: str) -> bytes | None:
    """RFC 8785 bytes of a plain string (see ``plain_members``), or None if it needs the general encoder."""
    return f'"{value}"'.encode("ascii") if _PLAIN.fullmatch(value) else None


def sha256(data: bytes) -> bytes:
    """SHA-256 of ``data`` (32 bytes)."""
    return hashlib.sha256(data).digest()


def payload_commitment(*, salt: bytes, payload_canonical: bytes, data_subject: str | None) -> bytes:
    """The ``payload_hash`` a statement carries for a payload (given as its JCS bytes).

    With ``data_subject`` (version 2 statements): ``SHA-256(salt || JCS({"data_subject": s, "payload": p}))``,
    so the subject whose key seals the payload is bound to what was signed without appearing on the log. With
    None (version 1 statements, recorded before that binding): ``SHA-256(salt || JCS(payload))``. The object is
    assembled from the payload's canonical bytes in JCS member order ("data_subject" sorts before "payload"),
    byte-identical to canonicalising it whole.
    """
    if data_subject is None:
        return sha256(salt + payload_canonical)
    subject = plain_string(data_subject) or canonical_json(data_subject)
    return sha256(b"".join((salt, b'{"data_subject":', subject, b',"payload":', payload_canonical, b"}")))


def digest_str(digest: bytes) -> str:
    """Write a 32-byte digest as ``sha256:<lowercase hex>``."""
    if len(digest) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, got {len(digest)}")
    return DIGEST_PREFIX + digest.hex()


_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)


def parse_digest(text: str, *, field: str = "digest") -> bytes:
    """Read a ``sha256:<64 lowercase hex>`` string as 32 bytes; raise ``ValidationFailed`` naming ``field`` if not.

    The whole string must be exactly that: no whitespace or newline anywhere, no ``0x``, no uppercase digits
    (``bytes.fromhex`` alone would skip whitespace and accept uppercase, so two spellings could name one digest).
    """
    if not isinstance(text, str) or not text.startswith(DIGEST_PREFIX):
        raise ValidationFailed(f"{field} must look like 'sha256:<64 lowercase hex digits>'", field=field)
    hexpart = text[len(DIGEST_PREFIX) :]
    if not _HEX64.fullmatch(hexpart):
        if len(hexpart) != 64:
            raise ValidationFailed(f"{field} must have exactly 64 lowercase hex digits after 'sha256:', got "
                                   f"{len(hexpart)} characters", field=field)
        raise ValidationFailed(f"{field} must have only lowercase hex digits (0-9 a-f) after 'sha256:'",
                               field=field)
    return bytes.fromhex(hexpart)


def b64(data: bytes) -> str:
    """Standard, padded base64 (as in C2SP notes and RFC 9162 proofs)."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, *, field: str = "value", length: int | None = None) -> bytes:
    """Strictly decode standard padded base64; optionally require an exact decoded length."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, AttributeError) as exc:
        raise ValidationFailed(f"{field} is not standard padded base64", field=field) from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValidationFailed(f"{field} is not canonical base64", field=field)
    if length is not None and len(raw) != length:
        raise ValidationFailed(f"{field} must decode to {length} bytes, got {len(raw)}", field=field)
    return raw
