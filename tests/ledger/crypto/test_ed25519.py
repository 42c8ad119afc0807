"""Tests for ledger.crypto.ed25519: RFC 8032 vectors, generated edge cases, OpenSSL's own verdicts, corruption probes.

The edge-case vectors in ``tests/vectors/ed25519-edge-cases.json`` are produced by ``generate_vectors`` below, which
uses a small affine reference implementation written here (no code shared with the module under test). Regenerate
the file with ``python -m tests.ledger.crypto.test_ed25519``; ``test_vector_file_matches_generator`` keeps it honest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import cache
from itertools import count
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.crypto import ed25519
from ledger.crypto.ed25519 import (
    SMALL_ORDER_ENCODINGS,
    WeakKeyError,
    WeakSignatureError,
    check_public_key,
    check_signature_encoding,
    describe_public_key,
    describe_signature,
    load_public_key,
    verify,
)
from ledger.errors import SignatureError, ValidationFailed
from tests.factories import VECTORS

VECTORS_PATH = VECTORS / "ed25519-edge-cases.json"

# --- an independent affine reference implementation (RFC 8032 §5.1) ----------------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1
Affine = tuple[int, int]
IDENTITY: Affine = (0, 1)


def sqrt(a: int) -> int | None:
    """A square root of ``a`` mod P (P = 5 mod 8), or None."""
    x = pow(a, (P + 3) // 8, P)
    for root in (x, x * SQRT_M1 % P):
        if root * root % P == a % P:
            return root
    return None


def add(p1: Affine, p2: Affine) -> Affine:
    # The affine Edwards law is complete for Ed25519 (d is not a square), so the denominators are never zero.
    (x1, y1), (x2, y2) = p1, p2
    k = D * x1 * x2 * y1 * y2
    return (x1 * y2 + y1 * x2) * pow(1 + k, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - k, -1, P) % P


def mul(point: Affine, n: int) -> Affine:
    result = IDENTITY
    while n:
        if n & 1:
            result = add(result, point)
        point, n = add(point, point), n >> 1
    return result


def on_curve(point: Affine) -> bool:
    x, y = point
    return (-x * x + y * y - 1 - D * x * x * y * y) % P == 0


def point_for_y(y: int, sign: int) -> Affine | None:
    root = sqrt((y * y - 1) * pow(D * y * y + 1, -1, P))
    if root is None:
        return None
    return ((-root) % P if root & 1 != sign else root), y


def encode(point: Affine) -> bytes:
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


def decode(raw: bytes) -> Affine:
    value = int.from_bytes(raw, "little")
    point = point_for_y(value & ((1 << 255) - 1), value >> 255)
    assert point is not None
    return point


def order_dividing_8(point: Affine) -> int | None:
    return next((n for n in (1, 2, 4, 8) if mul(point, n) == IDENTITY), None)


B = decode((4 * pow(5, -1, P) % P).to_bytes(32, "little"))  # the base point: y = 4/5, x even


def challenge(r: bytes, public_key: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + public_key + message).digest(), "little") % L


def sign_as(seed: bytes, public_key: bytes, message: bytes) -> bytes:
    """RFC 8032 §5.1.6 signing with ``seed``'s scalar, but hashing ``public_key`` as the signer's key."""
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    nonce = int.from_bytes(hashlib.sha512(digest[32:] + message).digest(), "little") % L
    r = encode(mul(B, nonce))
    return r + ((nonce + challenge(r, public_key, message) * scalar) % L).to_bytes(32, "little")


def small_order_points() -> list[tuple[str, Affine, int]]:
    """Every point with [8]P = identity, solved from the curve equation -x^2 + y^2 = 1 + d x^2 y^2.

    x(2P) = 2xy / (y^2 - x^2) is 0 only when x = 0 (the identity, or order 2) or y = 0 (order 4, x^2 = -1).
    y(2P) = 0, i.e. 2P of order 4, needs x^2 = -y^2, i.e. x = ±i*y; the curve equation then gives d y^4 + 2 y^2 = 1.
    """
    points: list[tuple[str, Affine, int]] = [
        ("identity (x = 0, y = 1)", IDENTITY, 1),
        ("(x = 0, y = -1)", (0, P - 1), 2),
        ("all-zero encoding (x = sqrt(-1) even root, y = 0)", (SQRT_M1 if SQRT_M1 % 2 == 0 else P - SQRT_M1, 0), 4),
        ("(x = sqrt(-1) odd root, y = 0)", (SQRT_M1 if SQRT_M1 % 2 == 1 else P - SQRT_M1, 0), 4),
    ]
    root = sqrt(1 + D)
    assert root is not None
    for y_squared in ((-1 + root) * pow(D, -1, P) % P, (-1 - root) * pow(D, -1, P) % P):
        y = sqrt(y_squared)
        if y is None:
            continue
        for y_signed in (y, P - y):
            for x in (SQRT_M1 * y_signed % P, (P - SQRT_M1) * y_signed % P):
                encoding = encode((x, y_signed)).hex()
                points.append((f"order-8 point {encoding[:8]}..{encoding[-2:]}", (x, y_signed), 8))
    assert all(on_curve(point) and order_dividing_8(point) == order for _, point, order in points)
    return points


# --- the vector generator ---------------------------------------------------------------------------------------

RFC8032_TEST1 = {
    "seed": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "public_key": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "message": "",
    "signature": "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
}
RFC8032_TEST2 = {
    "seed": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "public_key": "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "message": "72",
    "signature": "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
}

ABOUT = (
    "Ed25519 edge cases for ledger.crypto.ed25519, produced by generate_vectors() in "
    "tests/ledger/crypto/test_ed25519.py from RFC 8032 7.1 TEST 1 and TEST 2 with an affine reference "
    "implementation and no randomness. The 8 small-order points are solved from the curve equation (x = 0; y = 0; "
    "x = +-sqrt(-1)*y). Every small-order key, canonically or non-canonically encoded, carries the forgery R = "
    "identity, S = 0 over the first message 'forgery <n>' (n = 0, 1, ...) whose challenge SHA-512(R || A || M) mod L "
    "is a multiple of the point's order, so that a cofactorless verifier accepts it. Non-canonical encodings: y + p "
    "(only y = 0 and y = 1 leave room below 2^255), and the x = 0 points (y = 1, y = p - 1) with the sign bit set. "
    "The mixed-order key is TEST 1's key plus the first order-8 point listed, signed with TEST 1's secret scalar over "
    "the first message 'mixed-order <n>' whose challenge is a multiple of 8, so that a cofactorless verifier accepts "
    "it. One more identity-key forgery uses R = identity encoded as y = 1 + p. The off-curve encoding is the "
    "smallest y >= 2 with no x; the large-order point is the smallest y >= 2 on the "
    "curve whose order does not divide 8. Signature mutations start from TEST 1's signature R1 || S1. 'expect' is the "
    "outcome of the strict path: check_public_key on the key, then verify; 'reason_contains' is part of its message."
)


def first_message(prefix: str, accept: Callable[[bytes], bool]) -> bytes:
    """The first ``b"<prefix> <n>"`` (n = 0, 1, ...) that ``accept`` takes."""
    return next(message for n in count() if accept(message := f"{prefix} {n}".encode()))


def entry(name: str, key: bytes, message: bytes, signature: bytes, expect: str, reason: str) -> dict[str, str]:
    return {
        "name": name,
        "public_key": key.hex(),
        "message": message.hex(),
        "signature": signature.hex(),
        "expect": expect,
        "reason_contains": reason,
    }


def forgery(name: str, key: bytes, order: int, reason: str, r: bytes = encode(IDENTITY)) -> dict[str, str]:
    """R, S = 0 over the first message whose challenge kills ``key`` (of ``order``): [0]B == R + [h]A if R = O."""
    message = first_message("forgery", lambda m: challenge(r, key, m) % order == 0)
    return entry(name, key, message, r + bytes(32), "weak_key", reason)


def small_order_vectors() -> list[dict[str, str]]:
    points = small_order_points()
    found = [
        forgery(f"small-order key {label}: R = identity, S = 0", encode(pt), n, f"small-order point (order {n})")
        for label, pt, n in points
    ]
    non_canonical = "non-canonical encoding (y >= p)"
    sign_bit = "non-canonical encoding (x = 0 with the sign bit set)"
    for label, (x, y), n in points:
        if y + P < 2**255:
            key = ((y + P) | (x & 1) << 255).to_bytes(32, "little")
            found.append(forgery(f"non-canonical key: y + p for {label}", key, n, non_canonical))
        if x == 0:
            key = (y | 1 << 255).to_bytes(32, "little")
            found.append(forgery(f"non-canonical key: sign bit set on {label}", key, n, sign_bit))
        if x == 0 and y + P < 2**255:
            key = ((y + P) | 1 << 255).to_bytes(32, "little")
            found.append(forgery(f"non-canonical key: y + p and sign bit set for {label}", key, n, non_canonical))
    found.append(
        forgery(
            "identity key with R = identity encoded as y = 1 + p, S = 0",
            encode(IDENTITY),
            1,
            "small-order point (order 1)",
            r=(1 + P).to_bytes(32, "little"),
        )
    )
    return found


def other_key_vectors(test1: dict[str, bytes]) -> list[dict[str, str]]:
    pk, message, signature = test1["public_key"], test1["message"], test1["signature"]
    large_y = next(y for y in count(2) if (pt := point_for_y(y, 0)) is not None and order_dividing_8(pt) is None)
    order_8 = next(pt for _, pt, n in small_order_points() if n == 8)
    mixed = encode(add(decode(pk), order_8))
    # The signature verifies cofactorlessly only if [h](A + T) = [h]A, i.e. 8 divides h.
    def cofactorless_accepts(m: bytes) -> bool:
        return challenge(sign_as(test1["seed"], mixed, m)[:32], mixed, m) % 8 == 0

    mixed_message = first_message("mixed-order", cofactorless_accepts)
    off_curve = next(y for y in count(2) if point_for_y(y, 0) is None).to_bytes(32, "little")
    return [
        entry(
            "non-canonical key: y + p of a point of large order",
            (large_y + P).to_bytes(32, "little"),
            message,
            signature,
            "weak_key",
            "non-canonical encoding (y >= p)",
        ),
        entry(
            "mixed-order key: TEST 1 key + an order-8 point, signed with TEST 1's scalar",
            mixed,
            mixed_message,
            sign_as(test1["seed"], mixed, mixed_message),
            "weak_key",
            "not in the prime-order subgroup",
        ),
        entry("key not on the curve", off_curve, message, signature, "weak_key", "not a point on the curve"),
        entry("key of 31 bytes", pk[:31], message, signature, "weak_key", "not 32 bytes (got 31)"),
    ]


def signature_vectors(test1: dict[str, bytes], test2: dict[str, bytes]) -> list[dict[str, str]]:
    pk, message, signature = test1["public_key"], test1["message"], test1["signature"]
    r1, s1 = signature[:32], signature[32:]
    off_curve = next(y for y in count(2) if point_for_y(y, 0) is None).to_bytes(32, "little")
    found = [
        entry(f"TEST 1 with {name}", pk, message, r1 + s.to_bytes(32, "little"), "weak_signature", "S >= L")
        for name, s in (
            ("S = L", L),
            ("S = L + 1", L + 1),
            ("S = 2^256 - 1", 2**256 - 1),
            ("S1 + L", int.from_bytes(s1, "little") + L),
        )
    ]
    identity_plus_p, identity_signed = (1 + P).to_bytes(32, "little"), (1 | 1 << 255).to_bytes(32, "little")
    found += [
        entry(f"TEST 1 key with {name}", pk, message, r + s, "weak_signature", reason)
        for name, r, s, reason in (
            ("R = identity, S = 0", encode(IDENTITY), bytes(32), "R is a small-order point (order 1)"),
            ("R = the all-zero encoding, S1", bytes(32), s1, "R is a small-order point (order 4)"),
            ("R = identity as y = 1 + p, S1", identity_plus_p, s1, "R has a non-canonical encoding (y >= p)"),
            ("R = identity with the sign bit set, S1", identity_signed, s1, "(x = 0 with the sign bit set)"),
            ("R not on the curve, S1", off_curve, s1, "R is not a point on the curve"),
        )
    ]
    bad = "signature does not verify"
    return [
        *found,
        entry("TEST 1 signature cut to 63 bytes", pk, message, signature[:63], "weak_signature", "not 64 bytes"),
        entry("TEST 1 signature over another message", pk, b"\x00", signature, "bad_signature", bad),
        entry("TEST 1 signature under TEST 2's key", test2["public_key"], message, signature, "bad_signature", bad),
    ]


def generate_vectors() -> dict[str, Any]:
    test1 = {name: bytes.fromhex(value) for name, value in RFC8032_TEST1.items()}
    test2 = {name: bytes.fromhex(value) for name, value in RFC8032_TEST2.items()}
    known_answers = [
        entry(name, test["public_key"], test["message"], test["signature"], "ok", "")
        for name, test in (("RFC 8032 7.1 TEST 1", test1), ("RFC 8032 7.1 TEST 2", test2))
    ]
    found = known_answers + small_order_vectors() + other_key_vectors(test1) + signature_vectors(test1, test2)
    return {"about": ABOUT, "vectors": found}


def render() -> str:
    return json.dumps(generate_vectors(), indent=2) + "\n"


@cache
def committed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text("utf-8"))
    return data


def vectors() -> list[dict[str, str]]:
    return list(committed()["vectors"])


def unhex(vector: dict[str, str]) -> tuple[bytes, bytes, bytes]:
    return bytes.fromhex(vector["public_key"]), bytes.fromhex(vector["message"]), bytes.fromhex(vector["signature"])


def outcome(action: Callable[[], object]) -> tuple[str, str]:
    """The vector category of what ``action`` does, with the error message."""
    try:
        action()
    except WeakKeyError as exc:
        return "weak_key", exc.message
    except WeakSignatureError as exc:
        return "weak_signature", exc.message
    except SignatureError as exc:
        return "bad_signature", exc.message
    return "ok", ""


def openssl_accepts(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def flip(data: bytes, bit: int) -> bytes:
    return data[: bit // 8] + bytes([data[bit // 8] ^ (1 << bit % 8)]) + data[bit // 8 + 1 :]


# --- the vector file and the reference implementation -------------------------------------------------------------


def test_vector_file_matches_generator() -> None:
    assert committed() == generate_vectors(), "regenerate with: python -m tests.ledger.crypto.test_ed25519"


def test_vector_file_is_well_formed() -> None:
    names = [vector["name"] for vector in vectors()]
    assert len(names) == len(set(names))
    assert {vector["expect"] for vector in vectors()} == {"ok", "weak_key", "weak_signature", "bad_signature"}
    assert all(vector["reason_contains"] for vector in vectors() if vector["expect"] != "ok")


def test_constants_match_the_reference() -> None:
    assert (ed25519.P, ed25519.L, ed25519.D, ed25519.SQRT_M1) == (P, L, D, SQRT_M1)
    assert mul(B, L) == IDENTITY and mul(B, 8) != IDENTITY


@pytest.mark.parametrize("test", [RFC8032_TEST1, RFC8032_TEST2], ids=["TEST 1", "TEST 2"])
def test_reference_and_cryptography_reproduce_rfc8032(test: dict[str, str]) -> None:
    seed, pk, message, signature = (bytes.fromhex(test[k]) for k in ("seed", "public_key", "message", "signature"))
    assert sign_as(seed, pk, message) == signature
    private = Ed25519PrivateKey.from_private_bytes(seed)
    assert raw(private) == pk
    assert private.sign(message) == signature


# --- every vector, through every entry point ----------------------------------------------------------------------

# verify() makes only the cheap key checks; these keys get through to OpenSSL and are stopped by check_public_key.
R_OFF_CURVE = "TEST 1 key with R not on the curve, S1"
VERIFY_ALONE = {
    "mixed-order key: TEST 1 key + an order-8 point, signed with TEST 1's scalar": "ok",
    "key not on the curve": "bad_signature",
    # verify skips the on-curve test of R (OpenSSL compares R with a point it computed, so it cannot match);
    # check_signature_encoding and describe_signature, used by the audit, still name it.
    R_OFF_CURVE: "bad_signature",
}

# Observed with cryptography 50.0.2 on OpenSSL 4.0.3: plain verification accepts exactly these vectors. It takes
# every small-order key (reducing y >= p and ignoring a sign bit on x = 0) and the mixed-order key, because its
# equation is cofactorless; it refuses S >= L, compares R as bytes (so a non-canonical R never matches), and refuses
# an off-curve key when verifying (building the key object accepts any 32 bytes).
OPENSSL_ACCEPTS = (
    "RFC 8032 7.1 TEST ",
    "small-order key ",
    "non-canonical key: y + p for ",
    "non-canonical key: sign bit set on ",
    "non-canonical key: y + p and sign bit set for ",
    "mixed-order key: ",
)


@pytest.mark.parametrize("vector", vectors(), ids=lambda vector: vector["name"])
def test_strict_path(vector: dict[str, str]) -> None:
    public_key, message, signature = unhex(vector)

    def strict() -> None:
        check_public_key(public_key)
        verify(public_key=public_key, signature=signature, data=message)

    expect, message_text = outcome(strict)
    if vector["name"] == R_OFF_CURVE:  # refused by OpenSSL; named by describe_signature (see VERIFY_ALONE)
        assert expect == "bad_signature"
        assert vector["reason_contains"] in (describe_signature(signature) or "")
        return
    assert expect == vector["expect"]
    assert vector["reason_contains"] in message_text


@pytest.mark.parametrize("vector", vectors(), ids=lambda vector: vector["name"])
def test_verify_alone(vector: dict[str, str]) -> None:
    public_key, message, signature = unhex(vector)
    expect, message_text = outcome(lambda: verify(public_key=public_key, signature=signature, data=message))
    assert expect == VERIFY_ALONE.get(vector["name"], vector["expect"])
    if vector["name"] not in VERIFY_ALONE:
        assert vector["reason_contains"] in message_text


@pytest.mark.parametrize("vector", vectors(), ids=lambda vector: vector["name"])
def test_key_check_and_description(vector: dict[str, str]) -> None:
    public_key = unhex(vector)[0]
    reason = describe_public_key(public_key)
    if vector["expect"] != "weak_key":
        assert reason is None
        assert check_public_key(public_key) is public_key
        assert load_public_key(public_key).public_bytes(Encoding.Raw, PublicFormat.Raw) == public_key
        return
    assert reason is not None and vector["reason_contains"] in reason
    checks: tuple[Callable[..., object], ...] = (check_public_key, load_public_key)
    for check in checks:
        with pytest.raises(WeakKeyError) as caught:
            check(public_key, field="systems.0.public_key")
        assert (caught.value.message, caught.value.field) == (reason, "systems.0.public_key")


@pytest.mark.parametrize("vector", vectors(), ids=lambda vector: vector["name"])
def test_signature_check_and_description(vector: dict[str, str]) -> None:
    signature = unhex(vector)[2]
    reason = describe_signature(signature)
    if vector["expect"] in ("ok", "bad_signature"):
        assert reason is None
        assert check_signature_encoding(signature) is signature
    elif vector["expect"] == "weak_signature":
        assert reason is not None and vector["reason_contains"] in reason
        with pytest.raises(WeakSignatureError) as caught:
            check_signature_encoding(signature, field="entry.signature")
        assert (caught.value.message, caught.value.field) == (reason, "entry.signature")


@pytest.mark.parametrize("vector", vectors(), ids=lambda vector: vector["name"])
def test_what_openssl_alone_does(vector: dict[str, str]) -> None:
    public_key, message, signature = unhex(vector)
    if len(public_key) != 32:
        with pytest.raises(ValueError, match="32 bytes"):
            Ed25519PublicKey.from_public_bytes(public_key)
        return
    assert openssl_accepts(public_key, signature, message) == vector["name"].startswith(OPENSSL_ACCEPTS)


# --- the defect, demonstrated ---------------------------------------------------------------------------------------


def test_openssl_accepts_a_keyless_forgery_that_verify_refuses() -> None:
    identity_key = encode(IDENTITY)
    forged = encode(IDENTITY) + bytes(32)
    for message in (b"", b"pay claim 42 to mallory", bytes(range(256))):
        assert openssl_accepts(identity_key, forged, message)  # the defect: no private key exists
        with pytest.raises(WeakKeyError, match=r"^small-order point \(order 1\)$") as caught:
            verify(public_key=identity_key, signature=forged, data=message)
        assert caught.value.field == "public_key"


def test_all_zero_key_forgeries_follow_the_cofactorless_equation() -> None:
    # The all-zero key is (x = sqrt(-1), y = 0) of order 4: OpenSSL accepts R = O, S = 0 exactly when 4 divides h.
    zero_key, forged = bytes(32), encode(IDENTITY) + bytes(32)
    verdicts = []
    for n in range(32):
        message = f"claim {n}".encode()
        verdicts.append(openssl_accepts(zero_key, forged, message))
        assert verdicts[-1] == (challenge(forged[:32], zero_key, message) % 4 == 0)
        with pytest.raises(WeakKeyError, match=r"small-order point \(order 4\)"):
            verify(public_key=zero_key, signature=forged, data=message)
    assert any(verdicts) and not all(verdicts)


# --- the small-order table and the curve arithmetic -------------------------------------------------------------


def test_small_order_encodings_are_exactly_the_8_torsion_points() -> None:
    derived = {encode(point): order for _, point, order in small_order_points()}
    assert derived == SMALL_ORDER_ENCODINGS
    assert len(derived) == 8
    for encoding, order in derived.items():
        point = decode(encoding)
        assert mul(point, 8) == IDENTITY
        assert order_dividing_8(point) == order
        assert describe_public_key(encoding) == f"small-order point (order {order})"
    # The 8-torsion is cyclic: any order-8 point generates the whole table.
    generator = next(decode(encoding) for encoding, order in derived.items() if order == 8)
    assert {encode(mul(generator, k)) for k in range(8)} == set(derived)


@pytest.mark.parametrize("scalar", [1, 2, 3, L - 1, 2**200 + 12345])
def test_prime_order_point_plus_each_torsion_point(scalar: int) -> None:
    prime_order = mul(B, scalar)
    for _, torsion, order in small_order_points():
        expected = None if order == 1 else "not in the prime-order subgroup (mixed order: [L]P is not the identity)"
        assert describe_public_key(encode(add(prime_order, torsion))) == expected


def test_decompression_agrees_with_the_reference() -> None:
    for y in range(2, 40):
        for sign in (0, 1):
            encoding = (y | sign << 255).to_bytes(32, "little")
            point = point_for_y(y, sign)
            reason = describe_public_key(encoding)
            if point is None:
                assert reason == "not a point on the curve (no square root for x)"
            elif mul(point, L) == IDENTITY:
                assert reason is None
            else:
                assert reason is not None and "prime-order subgroup" in reason


def test_error_classes() -> None:
    assert issubclass(WeakKeyError, ValidationFailed)
    assert issubclass(WeakSignatureError, SignatureError)


# --- honest keys, corruption probes and properties ----------------------------------------------------------------


def test_honest_keys_pass() -> None:
    for n in range(100):
        private = Ed25519PrivateKey.generate()
        public_key, message = raw(private), f"entry {n}".encode()
        assert check_public_key(public_key) is public_key
        assert describe_public_key(public_key) is None
        signature = private.sign(message)
        assert describe_signature(signature) is None
        verify(public_key=public_key, signature=signature, data=message)


def test_every_corruption_of_a_known_answer_fails() -> None:
    public_key, message, signature = (bytes.fromhex(RFC8032_TEST2[k]) for k in ("public_key", "message", "signature"))
    verify(public_key=public_key, signature=signature, data=message)
    corrupted = [(flip(signature, bit), message) for bit in range(512)]
    corrupted += [(signature, flip(message, bit)) for bit in range(8)]
    corrupted += [(signature[:n], message) for n in (0, 32, 63)] + [(signature + b"\x00", message)]
    corrupted += [(signature, b""), (signature, message + b"\x00")]
    for bad_signature, bad_message in corrupted:
        with pytest.raises(SignatureError):
            verify(public_key=public_key, signature=bad_signature, data=bad_message)


@cache
def hypothesis_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@settings(max_examples=200, deadline=None)
@given(message=st.binary(max_size=64), bit=st.integers(min_value=0, max_value=511))
def test_flipping_a_signature_bit_fails(message: bytes, bit: int) -> None:
    signature = hypothesis_key().sign(message)
    with pytest.raises(SignatureError):
        verify(public_key=raw(hypothesis_key()), signature=flip(signature, bit), data=message)


@settings(max_examples=200, deadline=None)
@given(message=st.binary(min_size=1, max_size=64), data=st.data())
def test_flipping_a_message_bit_fails(message: bytes, data: st.DataObject) -> None:
    signature = hypothesis_key().sign(message)
    bit = data.draw(st.integers(min_value=0, max_value=len(message) * 8 - 1))
    with pytest.raises(SignatureError):
        verify(public_key=raw(hypothesis_key()), signature=signature, data=flip(message, bit))


if __name__ == "__main__":
    VECTORS_PATH.parent.mkdir(parents=True, exist_ok=True)
    VECTORS_PATH.write_text(render(), "utf-8")
