"""Payload sealing: AES-GCM with one data key per data subject, so destroying that key erases the payloads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.encoding import b64, canonical_json, unb64
from ledger.errors import ErasedError, VerificationError

NONCE_SIZE = 12


def new_data_key() -> bytes:
    """A fresh 256-bit data key for one data subject."""
    return AESGCM.generate_key(bit_length=256)


def wrap_key(*, master_key: bytes, subject: str, data_key: bytes) -> bytes:
    """Encrypt a subject's data key under the master key, bound to the subject id."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(master_key).encrypt(nonce, data_key, subject.encode("utf-8"))


def unwrap_key(*, master_key: bytes, subject: str, wrapped: bytes) -> bytes:
    """Decrypt a wrapped data key; raise ``VerificationError`` if it was altered or belongs elsewhere."""
    try:
        return AESGCM(master_key).decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], subject.encode("utf-8"))
    except InvalidTag as exc:
        raise VerificationError(f"data key of subject {subject!r} fails authentication") from exc


@dataclass(frozen=True)
class OpenedPayload:
    """A decrypted payload with the salt its journal entry committed to."""

    salt: bytes
    payload: Any


def seal(*, data_key: bytes, index: int, salt: bytes, payload: Any) -> bytes:
    """Encrypt salt and payload; the journal index is authenticated so a sealed row cannot be moved."""
    nonce = os.urandom(NONCE_SIZE)
    plain = canonical_json({"salt": b64(salt), "payload": payload})
    return nonce + AESGCM(data_key).encrypt(nonce, plain, str(index).encode("ascii"))


def unseal(*, data_key: bytes | None, index: int, sealed: bytes) -> OpenedPayload:
    """Decrypt a sealed payload of journal entry ``index``.

    Raises ``ErasedError`` when ``data_key`` is None (the subject was erased) and ``VerificationError`` when
    the ciphertext was altered or belongs to another entry.
    """
    import json

    if data_key is None:
        raise ErasedError(f"payload of entry {index} was erased with its data subject's key")
    try:
        plain = AESGCM(data_key).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], str(index).encode("ascii"))
    except InvalidTag as exc:
        raise VerificationError(f"sealed payload of entry {index} fails authentication") from exc
    body = json.loads(plain)
    return OpenedPayload(salt=unb64(body["salt"], field="salt"), payload=body["payload"])
