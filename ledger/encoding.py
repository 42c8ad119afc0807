"""The one home of canonical encoding and hashing: RFC 8785 JSON, SHA-256, digest strings, base64."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import rfc8785

from ledger.errors import ValidationFailed

DIGEST_PREFIX = "sha256:"


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value.

    Raises ``ValidationFailed`` for values JCS cannot encode (floats that are not finite, integers beyond
    IEEE 754 doubles, non-string keys, ...).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValidationFailed(f"value cannot be canonicalised as RFC 8785 JSON: {exc}") from exc


def sha256(data: bytes) -> bytes:
    """SHA-256 of ``data`` (32 bytes)."""
    return hashlib.sha256(data).digest()


def salted_hash(*, salt: bytes, payload: Any = None, canonical: bytes | None = None) -> bytes:
    """``SHA-256(salt || JCS(payload))``: the commitment a journal entry makes to its payload.

    Pass ``canonical`` (the payload's JCS bytes) instead of ``payload`` when they are already at hand.
    """
    return sha256(salt + (canonical if canonical is not None else canonical_json(payload)))


def digest_str(digest: bytes) -> str:
    """Write a 32-byte digest as ``sha256:<lowercase hex>``."""
    if len(digest) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, got {len(digest)}")
    return DIGEST_PREFIX + digest.hex()


def parse_digest(text: str, *, field: str = "digest") -> bytes:
    """Read a ``sha256:<64 lowercase hex>`` string; raise ``ValidationFailed`` naming ``field`` otherwise."""
    if not isinstance(text, str) or not text.startswith(DIGEST_PREFIX):
        raise ValidationFailed(f"{field} must look like 'sha256:<64 lowercase hex digits>'", field=field)
    hexpart = text[len(DIGEST_PREFIX) :]
    if len(hexpart) != 64 or hexpart != hexpart.lower():
        raise ValidationFailed(f"{field} must have exactly 64 lowercase hex digits", field=field)
    try:
        return bytes.fromhex(hexpart)
    except ValueError as exc:
        raise ValidationFailed(f"{field} is not hexadecimal", field=field) from exc


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
