"""Strict Ed25519: refuse the weak keys and malleable signatures that OpenSSL's verification lets through.

OpenSSL (4.0, through ``cryptography`` 50) checks ``S < L`` and ``[S]B - [h]A == R`` without the cofactor, comparing R
as bytes. It takes any 32 bytes as a key: a small-order point, for which "signatures" need no private key (``R`` =
identity, ``S`` = 0 verifies against the identity key for every message), a non-canonical encoding (y >= p is reduced),
a point with a torsion component. This module adds the missing checks, in two tiers:

- ``check_public_key`` / ``load_public_key`` (when a key is registered or loaded): length, canonical encoding, on the
  curve, not of small order, in the prime-order subgroup. The last costs a scalar multiplication (a few ms).
- ``verify`` (per signature): ``check_signature_encoding`` plus a cheap key check (length, canonical encoding, not one
  of the 8 small-order encodings); the on-curve and subgroup checks are the loader's job.

Curve arithmetic is plain Python integers (RFC 8032 §5.1); it only classifies public values, so it need not be
constant-time. Signing and the verification equation are libsodium's (PyNaCl): it is strict itself (it refuses
small-order keys and R, and S >= L) and about twice as fast as OpenSSL's here, for signing as for verifying.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign, crypto_sign_open
from nacl.exceptions import BadSignatureError

from ledger.errors import SignatureError, ValidationFailed

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of the base point; the group has order 8 * L
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # 2 is a non-square mod P, so this is a square root of -1
KEY_SIZE = 32
SIGNATURE_SIZE = 64

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, x*y = T/Z
IDENTITY: Point = (0, 1, 1, 0)


class WeakKeyError(ValidationFailed):
    """A public key that is malformed, off the curve, of small order or outside the prime-order subgroup."""


class WeakSignatureError(SignatureError):
    """A signature that is malformed or malleable: wrong length, ``S >= L``, or a bad or small-order ``R``."""


# --- curve arithmetic (RFC 8032 §5.1.3-§5.1.4, twisted Edwards with a = -1) --------------------------------------


def _add(p1: Point, p2: Point) -> Point:
    # The unified formula also handles p1 == p2 and the identity, so no special cases are needed.
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _double(p1: Point) -> Point:
    # Dedicated doubling needs no T input and fewer multiplications; it dominates a scalar multiplication.
    x1, y1, z1, _ = p1
    a, b, c = x1 * x1 % P, y1 * y1 % P, 2 * z1 * z1 % P
    h = a + b
    e, g = h - (x1 + y1) ** 2 % P, a - b
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def _multiply(point: Point, scalar: int) -> Point:
    result = IDENTITY
    for bit in bin(scalar)[2:]:
        result = _double(result)
        if bit == "1":
            result = _add(result, point)
    return result


def _is_identity(point: Point) -> bool:
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


def _small_order(point: Point) -> int | None:
    """The order of ``point`` if it divides 8 (the cofactor), else ``None``."""
    for order in (1, 2, 4, 8):
        if _is_identity(point):
            return order
        point = _double(point)
    return None


def _encode(point: Point) -> bytes:
    x, y, z, _ = point
    x, y = x * pow(z, -1, P) % P, y * pow(z, -1, P) % P
    return (y | (x & 1) << 255).to_bytes(KEY_SIZE, "little")


def _split(raw: bytes) -> tuple[int, int]:
    """The y coordinate (bits 0-254, unreduced) and the sign bit of x (bit 255) of a 32-byte encoding."""
    value = int.from_bytes(raw, "little")
    return value & ((1 << 255) - 1), value >> 255


def _non_canonical(y: int, sign: int) -> str | None:
    # y = 1 and y = P - 1 are exactly the points with x = 0, where the sign bit has no x to describe.
    if y >= P:
        return "non-canonical encoding (y >= p)"
    if sign and y in (1, P - 1):
        return "non-canonical encoding (x = 0 with the sign bit set)"
    return None


def _decompress(y: int, sign: int) -> Point | None:
    """The point with canonical ``y`` and x of parity ``sign``, or ``None`` if no x exists (RFC 8032 §5.1.3)."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    # x = sqrt(u / v) as one exponentiation, valid because P = 5 (mod 8); then fix up the root of -u/v.
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    elif v * x * x % P != u:
        return None
    # The sign only chooses between P and -P, which share every property checked here; honoured all the same.
    if x & 1 != sign:
        x = (P - x) % P
    return x, y, 1, x * y % P


def _small_order_encodings() -> dict[bytes, int]:
    """The canonical encodings of the 8 points of order dividing 8, mapped to their order.

    The group is cyclic of order 8 * L, so [L]Q lies in the 8-torsion for any point Q, and generates it when Q has
    order 8 * L (a quarter of all points). Raises ``RuntimeError`` at import if the arithmetic disagrees.
    """
    for y in range(2, 100):
        point = _decompress(y, 0)
        torsion = IDENTITY if point is None else _multiply(point, L)
        if _small_order(torsion) == 8:
            break
    else:
        raise RuntimeError("no point of order 8 * L among y < 100: the curve arithmetic is wrong")
    found: dict[bytes, int] = {}
    multiple = IDENTITY
    for _ in range(8):
        found[_encode(multiple)] = _small_order(multiple) or 0
        multiple = _add(multiple, torsion)
    # One identity, one point of order 2, phi(4) = 2 of order 4, phi(8) = 4 of order 8; the identity is y = 1.
    if sorted(found.values()) != [1, 2, 4, 4, 8, 8, 8, 8] or found.get((1).to_bytes(KEY_SIZE, "little")) != 1:
        raise RuntimeError(f"the 8-torsion came out wrong: {sorted(found.values())}")
    return found


SMALL_ORDER_ENCODINGS: dict[bytes, int] = _small_order_encodings()


# --- public keys ----------------------------------------------------------------------------------------------


def _cheap_key_problem(raw: bytes) -> str | None:
    """Length, canonical encoding and the 8 small-order encodings: no curve arithmetic."""
    if len(raw) != KEY_SIZE:
        return f"not {KEY_SIZE} bytes (got {len(raw)})"
    problem = _non_canonical(*_split(raw))
    if problem is None and raw in SMALL_ORDER_ENCODINGS:
        problem = f"small-order point (order {SMALL_ORDER_ENCODINGS[raw]})"
    return problem


def describe_public_key(raw: bytes) -> str | None:
    """``None`` if ``raw`` is an acceptable Ed25519 public key, else the reason it is not (as ``check_public_key``)."""
    problem = _cheap_key_problem(raw)
    if problem is not None:
        return problem
    point = _decompress(*_split(raw))
    if point is None:
        return "not a point on the curve (no square root for x)"
    # Every point of order dividing 8 has one of the 8 canonical encodings refused above, so [L]P != O here means
    # a torsion component on top of a point of order L.
    if not _is_identity(_multiply(point, L)):
        return "not in the prime-order subgroup (mixed order: [L]P is not the identity)"
    return None


def check_public_key(raw: bytes, *, field: str = "public_key") -> bytes:
    """Return ``raw`` if it is an acceptable Ed25519 public key.

    Requires 32 bytes that canonically encode a curve point of order L (the prime-order subgroup). Raises
    ``WeakKeyError`` naming ``field`` with one message per defect: wrong length, non-canonical y, x = 0 with the sign
    bit set, not on the curve, small order (with the order), mixed order. Keys from key generation always pass.
    """
    problem = describe_public_key(raw)
    if problem is not None:
        raise WeakKeyError(problem, field=field)
    return raw


def load_public_key(raw: bytes, *, field: str = "public_key") -> Ed25519PublicKey:
    """``check_public_key`` (raising ``WeakKeyError``), then the ``cryptography`` key object."""
    return Ed25519PublicKey.from_public_bytes(check_public_key(raw, field=field))


# --- signatures -----------------------------------------------------------------------------------------------


def describe_signature(signature: bytes) -> str | None:
    """``None`` if ``signature`` is well-formed, else the reason it is not (as ``check_signature_encoding``)."""
    problem = _cheap_signature_problem(signature)
    if problem is None and _decompress(*_split(signature[:32])) is None:
        return "R is not a point on the curve (no square root for x)"
    return problem


def _cheap_signature_problem(signature: bytes) -> str | None:
    """Length, ``S < L``, canonical R and the 8 small-order encodings of R: no curve arithmetic."""
    if len(signature) != SIGNATURE_SIZE:
        return f"not {SIGNATURE_SIZE} bytes (got {len(signature)})"
    r, s = signature[:32], signature[32:]
    # S and S + L verify alike, so accepting S >= L would let anyone re-encode a signature.
    if int.from_bytes(s, "little") >= L:
        return "S is not reduced modulo L (S >= L)"
    y, sign = _split(r)
    problem = _non_canonical(y, sign)
    if problem is not None:
        return f"R has a {problem}"
    # Canonical bytes, so a dictionary lookup finds every small-order R without curve arithmetic.
    if r in SMALL_ORDER_ENCODINGS:
        return f"R is a small-order point (order {SMALL_ORDER_ENCODINGS[r]})"
    return None


def check_signature_encoding(signature: bytes, *, field: str = "signature") -> bytes:
    """Return ``signature`` if its encoding is strict; this says nothing about whether it verifies.

    Requires 64 bytes ``R || S`` with ``S < L`` (little-endian) and ``R`` a canonical encoding of a curve point not of
    small order. Raises ``WeakSignatureError`` naming ``field`` with one message per defect.
    """
    problem = describe_signature(signature)
    if problem is not None:
        raise WeakSignatureError(problem, field=field)
    return signature


def verify(*, public_key: bytes, signature: bytes, data: bytes) -> None:
    """Check an Ed25519 signature over ``data`` strictly; return ``None`` or raise.

    Checked here, per call and without curve arithmetic: the key's length, canonical encoding and that it is not
    one of the 8 small-order encodings (``WeakKeyError``, ``field="public_key"``); the signature's length, ``S < L``,
    a canonical R that is not of small order (``WeakSignatureError``); then the verification equation, by libsodium
    (``SignatureError("signature does not verify")``), which is about twice as fast as OpenSSL's here and refuses
    the same malleable encodings itself. An R off the curve needs no test of its own: the equation compares R's
    bytes with the encoding of a point it computed, which is always on the curve. Not checked here: that the key
    is in the prime-order subgroup; callers must have passed it through ``check_public_key`` or
    ``load_public_key`` when registering or loading it.
    """
    problem = _cheap_key_problem(public_key)
    if problem is not None:
        raise WeakKeyError(problem, field="public_key")
    problem = _cheap_signature_problem(signature)
    if problem is not None:
        raise WeakSignatureError(problem, field="signature")
    try:
        crypto_sign_open(signature + data, public_key)
    except BadSignatureError as exc:
        raise SignatureError("signature does not verify", field="signature") from exc


def sign(*, secret_key: bytes, data: bytes) -> bytes:
    """The Ed25519 signature of ``data`` by libsodium's 64-byte secret key (seed then public key); libsodium signs
    in about half the time OpenSSL takes, which every event the ledger emits pays."""
    return bytes(crypto_sign(data, secret_key)[:64])
