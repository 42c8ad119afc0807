"""Payload sealing: AES-GCM with one data key per data subject, so destroying that key erases the payloads."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
    """A decrypted payload: its canonical bytes and the salt its journal entry committed to."""

    salt: bytes
    payload_bytes: bytes


@functools.lru_cache(maxsize=4096)
def _cipher(data_key: bytes) -> AESGCM:
    """The cipher of a data key, set up once (its key schedule costs more than sealing a small payload)."""
    return AESGCM(data_key)


def _aad(index: int, subject: str) -> bytes:
    return f"{index}\n{subject}".encode()


def seal(*, data_key: bytes, index: int, subject: str, salt: bytes, payload_bytes: bytes) -> bytes:
    """Encrypt salt and the payload's canonical bytes; index and subject are authenticated, so a sealed row
    cannot be moved to another entry or subject. Plaintext: one length byte, the salt, the payload bytes."""
    nonce = os.urandom(NONCE_SIZE)
    plain = bytes([len(salt)]) + salt + payload_bytes
    return nonce + _cipher(data_key).encrypt(nonce, plain, _aad(index, subject))


def unseal(*, data_key: bytes | None, index: int, subject: str, sealed: bytes) -> OpenedPayload:
    """Decrypt a sealed payload of journal entry ``index``.

    Raises ``ErasedError`` when ``data_key`` is None (the subject was erased) and ``VerificationError`` when
    the ciphertext was altered or belongs to another entry.
    """
    if data_key is None:
        raise ErasedError(f"payload of entry {index} was erased with its data subject's key")
    try:
        plain = _cipher(data_key).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], _aad(index, subject))
    except InvalidTag as exc:
        raise VerificationError(f"sealed payload of entry {index} fails authentication") from exc
    salt_end = 1 + plain[0]
    return OpenedPayload(salt=plain[1:salt_end], payload_bytes=plain[salt_end:])
