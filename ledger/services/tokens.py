"""What the edges need to check a bearer token: the token key's public half and the expected issuer."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass(frozen=True)
class TokenVerifier:
    """The Ed25519 public key bearer tokens are signed with, and the issuer they must name (``iss``)."""

    public_key: Ed25519PublicKey
    issuer: str
