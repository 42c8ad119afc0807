"""Ed25519 keys: raw encodings, signing and checking, and the ledger's own key files in the data dir."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import SignatureError, ValidationFailed

KEY_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
LEDGER_KEY_ID = "ledger"


def check_key_id(key_id: str, *, field: str = "key_id") -> str:
    """Return ``key_id`` if it is 3-64 chars of ``[a-z0-9._-]`` starting with a letter or digit."""
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.match(key_id):
        raise ValidationFailed(
            f"{field} must be 3-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
            field=field,
        )
    return key_id


def public_bytes(key: Ed25519PublicKey) -> bytes:
    """Raw 32-byte encoding of an Ed25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_public_key(raw: bytes, *, field: str = "public_key") -> Ed25519PublicKey:
    """Build a public key from its raw 32 bytes, or raise ``ValidationFailed`` naming ``field``."""
    if len(raw) != 32:
        raise ValidationFailed(f"{field} must be a raw 32-byte Ed25519 key, got {len(raw)} bytes", field=field)
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_signature(*, public_key: bytes, signature: bytes, data: bytes) -> None:
    """Check an Ed25519 signature; raise ``SignatureError`` if it does not verify."""
    if len(signature) != 64:
        raise SignatureError(f"an Ed25519 signature is 64 bytes, got {len(signature)}", field="signature")
    try:
        load_public_key(public_key).verify(signature, data)
    except InvalidSignature as exc:
        raise SignatureError("signature does not verify", field="signature") from exc


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with the key id that signatures made by it carry."""

    key_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, key_id: str) -> SigningKey:
        return cls(check_key_id(key_id), Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, key_id: str, seed: bytes) -> SigningKey:
        if len(seed) != 32:
            raise ValidationFailed("an Ed25519 seed is 32 bytes", field="seed")
        return cls(check_key_id(key_id), Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public_key(self) -> bytes:
        return public_bytes(self.private_key.public_key())

    def seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def _read_or_create_secret(path: Path, size: int) -> bytes:
    """Read a secret file of ``size`` bytes, creating it (mode 0600) with random bytes if missing."""
    if path.exists():
        raw = path.read_bytes()
        if len(raw) != size:
            raise ValidationFailed(f"key file {path} holds {len(raw)} bytes, expected {size}")
        return raw
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    return secret


@dataclass(frozen=True)
class LocalKeys:
    """The secrets a ledger keeps in ``<data_dir>/keys``: log signing key, token key, payload master key."""

    ledger: SigningKey
    token: SigningKey
    master_key: bytes = field(repr=False)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> LocalKeys:
        keys_dir = data_dir / "keys"
        return cls(
            ledger=SigningKey.from_seed(LEDGER_KEY_ID, _read_or_create_secret(keys_dir / "ledger.ed25519", 32)),
            token=SigningKey.from_seed("token", _read_or_create_secret(keys_dir / "token.ed25519", 32)),
            master_key=_read_or_create_secret(keys_dir / "master.key", 32),
        )
