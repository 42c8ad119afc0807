"""Bearer tokens: EdDSA JWTs with a role and a subject, signed by the ledger's token key."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.crypto.keys import SigningKey
from ledger.errors import ValidationFailed
from ledger.log.identifiers import check_subject
from ledger.log.reserved import RESERVED_SUBJECTS


class Role(StrEnum):
    CUSTOMER = "customer"
    SERVICING = "servicing"
    UNDERWRITER = "underwriter"
    ADJUSTER = "adjuster"
    CLAIMS_HANDLER = "claims_handler"
    AUDITOR = "auditor"
    SYSTEM = "system"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a subject (a customer id, a staff id, a system name) acting in one role."""

    subject: str
    role: Role


class TokenError(Exception):
    """The bearer token is missing, malformed, expired or not ours."""


class TokenCache:
    """Tokens verified before, with their principal and expiry: a system posting thousands of events with one
    token pays for one signature check, not thousands (an Ed25519 verification costs more than the rest of the
    request). Only valid tokens are kept, each until it expires; the cache is bounded."""

    def __init__(self, *, size: int = 10_000) -> None:
        self._size = size
        self._tokens: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, token: str, *, public_key: Ed25519PublicKey, issuer: str) -> Principal:
        """``read_token`` with a memory of valid tokens; raises ``TokenError`` as it does."""
        with self._lock:
            found = self._tokens.get(token)
            if found is not None:
                principal, expires = found
                if time.time() < expires:
                    self._tokens.move_to_end(token)
                    return principal
                del self._tokens[token]
        principal, expires = _verify(token, public_key=public_key, issuer=issuer)
        with self._lock:
            self._tokens[token] = (principal, expires)
            while len(self._tokens) > self._size:
                self._tokens.popitem(last=False)
        return principal


def check_token_subject(subject: object, *, role: Role) -> str:
    """Return ``subject`` if a token in ``role`` may carry it; raise ``ValidationFailed`` (field ``subject``).

    Every subject is an identifier (``check_subject``: 1-128 of ``A-Z a-z 0-9 . _ : -``). A customer's subject is
    the data subject whose events the token may read, so it may not be one the ledger reserves for its own
    events (``ledger``): such a token would read the key history and the erasure records.
    """
    checked = check_subject(subject, field="subject")
    if role is Role.CUSTOMER and checked in RESERVED_SUBJECTS:
        raise ValidationFailed(f"subject {checked!r} is reserved for the ledger's own events; no customer token "
                               f"may carry it", field="subject")
    return checked


def issue_token(key: SigningKey, *, subject: str, role: Role, issuer: str, ttl: int) -> str:
    """Sign a token for ``subject`` in ``role``, valid for ``ttl`` seconds.

    Raises ``ValidationFailed`` for a subject no token in ``role`` may carry (see ``check_token_subject``).
    """
    check_token_subject(subject, role=role)
    now = int(time.time())
    claims = {"sub": subject, "role": role.value, "iss": issuer, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.key_id})


def read_token(token: str, *, public_key: Ed25519PublicKey, issuer: str) -> Principal:
    """Verify a token and return its principal; raises ``TokenError`` saying what was wrong."""
    return _verify(token, public_key=public_key, issuer=issuer)[0]


def _verify(token: str, *, public_key: Ed25519PublicKey, issuer: str) -> tuple[Principal, int]:
    try:
        claims = jwt.decode(token, public_key, algorithms=["EdDSA"], issuer=issuer,
                            options={"require": ["sub", "role", "exp", "iss"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"token is invalid: {exc}") from exc
    for name in ("exp", "iat", "nbf"):
        if name in claims and type(claims[name]) is not int:
            raise TokenError(f"token claim {name!r} must be an integer (seconds since the epoch), got "
                             f"{type(claims[name]).__name__}")
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise TokenError(f"token has unknown role {claims['role']!r}") from exc
    try:
        subject = check_token_subject(claims["sub"], role=role)
    except ValidationFailed as exc:
        raise TokenError(f"token {exc.message}") from None
    return Principal(subject=subject, role=role), int(claims["exp"])
