"""Verifying RFC 9162 §2.1.3.2 inclusion and §2.1.4.2 consistency proofs: what an outside verifier needs.

Pure and store-free: a proof, its sizes and the roots it is checked against go in; ``root_from_inclusion_proof``
computes a root, and ``verify_inclusion`` / ``verify_consistency`` return ``None`` or raise ``ProofError`` for
malformed input and ``RootMismatch`` (a ``ProofError``) when a well-formed proof leads to another root. The
hashing is :mod:`ledger.log.merkle`'s; building proofs from stored nodes is too.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import VerificationError
from ledger.log.encoding import b64
from ledger.log.merkle import EMPTY_ROOT, HASH_SIZE, node_hash


class ProofError(VerificationError):
    """A Merkle proof, or what it is checked against, is malformed or does not verify."""


class RootMismatch(ProofError):
    """A well-formed proof leads to a root other than the one it was checked against."""


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{name} must be an integer, got {type(value).__name__}", field=name)
    if value < 0:
        raise ProofError(f"{name} must not be negative, got {value}", field=name)
    return value


def _check_hash(name: str, value: object) -> bytes:
    if not isinstance(value, bytes):
        raise ProofError(f"{name} must be bytes, got {type(value).__name__}", field=name)
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes, got {len(value)}", field=name)
    return value


def _check_proof(proof: object) -> list[bytes]:
    if isinstance(proof, (bytes, str)) or not isinstance(proof, Sequence):
        raise ProofError(f"proof must be a sequence of hashes, got {type(proof).__name__}", field="proof")
    return [_check_hash(f"proof[{position}]", value) for position, value in enumerate(proof)]


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """Proof hashes of leaf ``index`` below and above the point where its path meets the last leaf's path.

    Below that point the leaf sits in a perfect subtree with one sibling per level; above it, it follows the
    right border, where only the levels at which the path turns right have a (left) sibling.
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _length_error(kind: str, got: int, expected: int, what: str) -> ProofError:
    if got == 0:
        return ProofError(f"{kind} proof is empty, but {what} needs {expected} hashes", field="proof")
    return ProofError(f"{kind} proof has {got} hashes, but {what} needs {expected}", field="proof")


def root_from_inclusion_proof(*, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that an RFC 9162 §2.1.3.2 inclusion proof leads to for ``leaf_hash`` at ``index``.

    Requires ``0 <= index < size``, a 32-byte ``leaf_hash`` and exactly as many 32-byte proof hashes as the
    leaf's path to the root has (none only for a tree of size 1). Raises ``ProofError`` for each violation; it
    does not compare the root with anything (``verify_inclusion`` does).
    """
    index = _check_size("index", index)
    size = _check_size("size", size)
    if index >= size:
        raise ProofError(f"index {index} is out of range for a tree of size {size}", field="index")
    current = _check_hash("leaf_hash", leaf_hash)
    hashes = _check_proof(proof)
    expected = sum(_inclusion_shape(index, size))
    if len(hashes) != expected:
        raise _length_error("inclusion", len(hashes), expected, f"leaf {index} of a tree of size {size}")
    fn, sn = index, size - 1
    for sibling in hashes:
        if sn == 0:
            raise ProofError("inclusion proof goes past the root", field="proof")
        if fn & 1 or fn == sn:
            current = node_hash(sibling, current)
            if not fn & 1:
                # On the right border a lone last node is promoted unchanged: skip the levels it rises.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            current = node_hash(current, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof stops below the root", field="proof")
    return current


def verify_inclusion(*, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``proof`` shows ``leaf_hash`` at ``index`` in the tree of ``size`` leaves with ``root``.

    Returns ``None`` on success. Raises ``ProofError`` for malformed input (see ``root_from_inclusion_proof``;
    also a ``root`` that is not 32 bytes) and ``RootMismatch`` when the proof leads to another root.
    """
    expected_root = _check_hash("root", root)
    computed = root_from_inclusion_proof(index=index, size=size, leaf_hash=leaf_hash, proof=proof)
    if computed != expected_root:
        raise RootMismatch(
            f"inclusion proof leads to root {b64(computed)}, not {b64(expected_root)}", field="root"
        )


def _consistency_length(first: int, second: int) -> int:
    """Number of hashes in ``PROOF(first, D[0:second])`` for ``0 < first < second``.

    The proof is the path from the old tree's last perfect subtree (``2**shift`` leaves, holding leaf
    ``first - 1``) up to the new root, preceded by that subtree's own hash unless it is the whole old tree.
    """
    shift = (first & -first).bit_length() - 1
    inner, border = _inclusion_shape(first - 1, second)
    seed = 0 if first == 1 << shift else 1
    return inner - shift + border + seed


def _roots_from_consistency_proof(
    first: int, second: int, first_root: bytes, hashes: list[bytes]
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 2-6 for ``0 < first < second`` and a proof of the right length."""
    path = [first_root, *hashes] if first & (first - 1) == 0 else hashes
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    old = new = path[0]
    for sibling in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof goes past the root", field="proof")
        if fn & 1 or fn == sn:
            old = node_hash(sibling, old)
            new = node_hash(sibling, new)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            new = node_hash(new, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof stops below the root", field="proof")
    return old, new


def verify_consistency(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check an RFC 9162 §2.1.4.2 proof that the tree of ``second`` leaves extends the tree of ``first``.

    Requires ``0 <= first <= second``, 32-byte roots and 32-byte proof hashes, exactly as many as
    ``PROOF(first, D[0:second])`` has. The proof must be empty when ``first == second`` (then the roots must
    be equal) and when ``first == 0`` (then ``first_root`` must be ``EMPTY_ROOT``: the empty tree is a prefix
    of every tree); everywhere else an empty proof is refused. Returns ``None`` on success; raises
    ``ProofError`` for malformed input and ``RootMismatch`` when the proof does not lead to both roots.
    """
    first = _check_size("first", first)
    second = _check_size("second", second)
    if first > second:
        raise ProofError(f"first size {first} is larger than second size {second}", field="first")
    old_root = _check_hash("first_root", first_root)
    new_root = _check_hash("second_root", second_root)
    hashes = _check_proof(proof)
    if first == 0:
        if hashes:
            raise ProofError("a consistency proof from the empty tree must be empty", field="proof")
        if old_root != EMPTY_ROOT:
            raise RootMismatch("first_root is not the root of the empty tree", field="first_root")
        return
    if first == second:
        if hashes:
            raise ProofError("a consistency proof between equal sizes must be empty", field="proof")
        if old_root != new_root:
            raise RootMismatch(f"two trees of size {first} have different roots", field="second_root")
        return
    expected = _consistency_length(first, second)
    if len(hashes) != expected:
        raise _length_error("consistency", len(hashes), expected, f"sizes {first} to {second}")
    old, new = _roots_from_consistency_proof(first, second, old_root, hashes)
    if old != old_root:
        raise RootMismatch(
            f"consistency proof leads to first root {b64(old)}, not {b64(old_root)}", field="first_root"
        )
    if new != new_root:
        raise RootMismatch(
            f"consistency proof leads to second root {b64(new)}, not {b64(new_root)}", field="second_root"
        )
