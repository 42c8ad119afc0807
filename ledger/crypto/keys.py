"""Ed25519 keys: raw encodings, signing and checking, and the ledger's own key files in the data dir."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.crypto import ed25519
from ledger.errors import ConfigurationError, NotFound, SignatureError, ValidationFailed

KEY_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}", re.ASCII)
LEDGER_KEY_ID = "ledger"


def check_key_id(key_id: str, *, field: str = "key_id") -> str:
    """Return ``key_id`` if it is 3-64 chars of ``[a-z0-9._-]`` starting with a letter or digit."""
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValidationFailed(
            f"{field} must be 3-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
            field=field,
        )
    return key_id


def public_bytes(key: Ed25519PublicKey) -> bytes:
    """Raw 32-byte encoding of an Ed25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_public_key(raw: bytes, *, field: str = "public_key") -> Ed25519PublicKey:
    """Build a public key from its raw 32 bytes, refusing weak keys.

    Raises ``WeakKeyError`` (a ``ValidationFailed``) naming ``field`` for a key of the wrong length, a
    non-canonical encoding, a point off the curve, of small order or outside the prime-order subgroup: keys for
    which signatures can be made without a private key, or which verifiers disagree about.
    """
    return ed25519.load_public_key(raw, field=field)


def verify_signature(*, public_key: bytes, signature: bytes, data: bytes) -> None:
    """Check an Ed25519 signature strictly (``S < L``, canonical ``R`` not of small order, no small-order key).

    Raises ``SignatureError`` (``WeakSignatureError`` for a malleable encoding) if it does not verify.
    """
    if len(signature) != 64:
        raise SignatureError(f"an Ed25519 signature is 64 bytes, got {len(signature)}", field="signature")
    ed25519.verify(public_key=public_key, signature=signature, data=data)


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with the key id that signatures made by it carry."""

    key_id: str
    private_key: Ed25519PrivateKey
    _secret: bytes = field(init=False, repr=False, compare=False)  # libsodium's form: seed then public key

    def __post_init__(self) -> None:
        object.__setattr__(self, "_secret", self.seed() + self.public_key)

    @classmethod
    def generate(cls, key_id: str) -> SigningKey:
        return cls(check_key_id(key_id), Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, key_id: str, seed: bytes) -> SigningKey:
        """A key from its 32-byte seed; its public key is checked like any other (``WeakKeyError``)."""
        if len(seed) != 32:
            raise ValidationFailed("an Ed25519 seed is 32 bytes", field="seed")
        key = cls(check_key_id(key_id), Ed25519PrivateKey.from_private_bytes(seed))
        ed25519.check_public_key(key.public_key, field=f"key {key_id}")
        return key

    @property
    def public_key(self) -> bytes:
        return public_bytes(self.private_key.public_key())

    def seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, data: bytes) -> bytes:
        return ed25519.sign(secret_key=self._secret, data=data)


KEY_FILES = ("ledger.ed25519", "token.ed25519", "master.key")


def _read_secret(path: Path, size: int) -> bytes:
    """The ``size`` bytes of the secret file ``path``.

    Raises ``ValidationFailed`` if it holds another number of bytes, ``ConfigurationError`` naming it if it cannot
    be read.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the key file {path}: {exc.strerror or exc}") from exc
    if len(raw) != size:
        raise ValidationFailed(f"key file {path} holds {len(raw)} bytes, expected {size}")
    return raw


def _read_or_create_secret(path: Path, size: int) -> bytes:
    """Read a secret file of ``size`` bytes, creating it (mode 0600) with random bytes if missing.

    Raises ``ConfigurationError`` naming the file or folder that cannot be read or made.
    """
    try:
        if path.exists():
            return _read_secret(path, size)
        secret = os.urandom(size)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
    except OSError as exc:
        where = exc.filename or path
        raise ConfigurationError(f"cannot create the key file {path} ({where}: {exc.strerror or exc})") from exc
    return secret


@dataclass(frozen=True)
class LocalKeys:
    """The secrets a ledger keeps in ``<data_dir>/keys``: log signing key, token key, payload master key."""

    ledger: SigningKey
    token: SigningKey
    master_key: bytes = field(repr=False)

    @functools.cached_property
    def token_public_key(self) -> Ed25519PublicKey:
        """The key that verifies bearer tokens (derived once: every request needs it)."""
        return self.token.private_key.public_key()

    @classmethod
    def load(cls, data_dir: Path) -> LocalKeys:
        """Load the keys of an existing data directory and create nothing (so a tool run in the wrong folder does
        not quietly make new keys).

        Raises ``NotFound`` naming the keys directory if any key file is missing, ``ConfigurationError`` if one
        cannot be read, ``ValidationFailed`` if one has the wrong length.
        """
        keys_dir = data_dir / "keys"
        try:
            missing = [name for name in KEY_FILES if not (keys_dir / name).is_file()]
        except OSError as exc:
            raise ConfigurationError(f"cannot read {keys_dir.resolve()}: {exc.strerror or exc}") from exc
        if missing:
            raise NotFound(f"{keys_dir.resolve()} holds no ledger keys ({', '.join(missing)} missing)")
        return cls._build(lambda name: _read_secret(keys_dir / name, 32))

    @classmethod
    def load_or_create(cls, data_dir: Path) -> LocalKeys:
        """Load the keys of ``data_dir``, making any that are missing (and the folders they go in).

        Raises ``ConfigurationError`` naming what cannot be read or made.
        """
        keys_dir = data_dir / "keys"
        return cls._build(lambda name: _read_or_create_secret(keys_dir / name, 32))

    @classmethod
    def _build(cls, secret: Callable[[str], bytes]) -> LocalKeys:
        ledger_seed, token_seed, master_key = (secret(name) for name in KEY_FILES)
        return cls(ledger=SigningKey.from_seed(LEDGER_KEY_ID, ledger_seed),
                   token=SigningKey.from_seed("token", token_seed), master_key=master_key)
