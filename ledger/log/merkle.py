"""RFC 9162 §2.1 Merkle tree: hashes, roots and proofs from stored subtree hashes, and the appending frontier.

The journal stores the hash of every perfect aligned subtree once it is complete. The node id
``(level, index)`` names the subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds
the leaf hashes. Roots and proofs here are folded from O(log n) such nodes, fetched with a single call of a
:data:`NodeReader`; the whole tree is never rebuilt. Checking a proof is :mod:`ledger.log.proofs`' job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from ledger.errors import StorageError
from ledger.log.encoding import sha256

HASH_SIZE = 32
EMPTY_ROOT: bytes = sha256(b"")

NodeId: TypeAlias = tuple[int, int]
NodeReader: TypeAlias = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || leaf)``."""
    return sha256(b"\x00" + leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return sha256(b"\x01" + left + right)


# --- building: roots and proofs from stored nodes -------------------------------------------------


def _require_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``): where RFC 9162 splits ``D[n]``."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[NodeId]:
    """Split leaves ``[start, end)`` into maximal perfect aligned subtrees, left to right.

    Each step takes the largest subtree that is aligned at the current position and fits before ``end``.
    For every range that RFC 9162's recursion for ``MTH(D[0:n])`` produces (``[0, n)`` itself, and any
    ``[a, b)`` where ``a`` is a multiple of the smallest power of two >= ``b - a``) this is exactly the RFC's
    split at the largest power of two smaller than the range, so folding the hashes right to left gives
    ``MTH(D[a:b])``. For other ranges the result is still the unique minimal set of stored nodes covering
    them.

    Requires ``0 <= start <= end``; raises ``ValueError`` naming the bad argument, ``TypeError`` for non-ints.
    """
    _require_int("start", start, 0)
    _require_int("end", end, 0)
    if end < start:
        raise ValueError(f"end ({end}) must not be smaller than start ({start})")
    nodes: list[NodeId] = []
    pos = start
    while pos < end:
        level = (end - pos).bit_length() - 1
        if pos:
            level = min(level, (pos & -pos).bit_length() - 1)
        nodes.append((level, pos >> level))
        pos += 1 << level
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of adjacent subtrees of strictly decreasing size (as ``range_nodes`` lists them), folded."""
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def _fetch(read: NodeReader, ids: Sequence[NodeId]) -> list[bytes]:
    """Read ``ids`` with one call (none if ``ids`` is empty) and return their hashes in the same order."""
    if not ids:
        return []
    found = read(list(ids))
    hashes: list[bytes] = []
    for node in ids:
        value = found.get(node)
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise StorageError(f"node store returned no {HASH_SIZE}-byte hash for node {node}")
        hashes.append(value)
    return hashes


def _hashes_of_ranges(ranges: Sequence[tuple[int, int]], read: NodeReader) -> list[bytes]:
    """``MTH`` of each RFC subtree range, all stored nodes fetched in one read."""
    groups = [range_nodes(lo, hi) for lo, hi in ranges]
    hashes = _fetch(read, [node for group in groups for node in group])
    out: list[bytes] = []
    pos = 0
    for group in groups:
        out.append(_fold(hashes[pos : pos + len(group)]))
        pos += len(group)
    return out


def tree_root(size: int, read: NodeReader) -> bytes:
    """``MTH(D[0:size])`` from the stored nodes of ``range_nodes(0, size)``, read in one call.

    Requires ``size >= 0`` and every node of ``range_nodes(0, size)`` to be stored. Returns ``EMPTY_ROOT`` for
    size 0 without reading. Raises ``ValueError``/``TypeError`` for a bad ``size`` and ``StorageError`` when
    ``read`` does not return a 32-byte hash for a requested node.
    """
    _require_int("size", size, 0)
    if size == 0:
        return EMPTY_ROOT
    return _fold(_fetch(read, range_nodes(0, size)))


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges of the subtrees whose hashes form RFC 9162 ``PATH(index, D[0:size])``, bottom-up."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof ``PATH(index, D[0:size])``, ordered from the leaf up to the root.

    Requires ``size >= 1``, ``0 <= index < size`` and the tree's nodes up to ``size`` to be stored. Calls
    ``read`` once with O(log size) node ids (not at all for size 1, whose proof is empty). Raises
    ``ValueError``/``TypeError`` naming a bad argument and ``StorageError`` if a requested node is missing.
    """
    _require_int("size", size, 1)
    _require_int("index", index, 0)
    if index >= size:
        raise ValueError(f"index {index} is out of range for a tree of size {size}")
    return _hashes_of_ranges(_inclusion_ranges(index, size), read)


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """Leaf ranges of the subtrees whose hashes form RFC 9162 ``PROOF(first, D[0:second])``, in order."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, second
    whole_old_tree = True  # the RFC's SUBPROOF flag b: still on the path of the old tree's own root
    while first != hi:
        mid = lo + _split(hi - lo)
        if first <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            whole_old_tree = False
    if not whole_old_tree:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def consistency_proof(first: int, second: int, read: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof ``PROOF(first, D[0:second])`` between two sizes of the tree.

    Requires ``0 < first <= second`` and the tree's nodes up to ``second`` to be stored. Returns ``[]`` when
    ``first == second`` without reading; otherwise calls ``read`` once with O(log second) node ids. Raises
    ``ValueError``/``TypeError`` naming a bad argument and ``StorageError`` if a requested node is missing.
    """
    _require_int("first", first, 1)
    _require_int("second", second, 1)
    if first > second:
        raise ValueError(f"first ({first}) must not be larger than second ({second})")
    return _hashes_of_ranges(_consistency_ranges(first, second), read)


# --- appending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frontier:
    """The right edge of the tree: the hashes of ``range_nodes(0, size)``, left to right.

    That is all appending needs: new leaves merge into it like a binary counter, and its fold is the root.
    """

    size: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _require_int("size", self.size, 0)
        expected = self.size.bit_count()
        if len(self.hashes) != expected:
            raise ValueError(f"a frontier of size {self.size} has {expected} hashes, got {len(self.hashes)}")
        for position, value in enumerate(self.hashes):
            if not isinstance(value, bytes) or len(value) != HASH_SIZE:
                raise ValueError(f"hashes[{position}] must be {HASH_SIZE} bytes")

    @classmethod
    def empty(cls) -> Frontier:
        """The frontier of the empty tree."""
        return cls(size=0, hashes=())

    @classmethod
    def load(cls, size: int, read: NodeReader) -> Frontier:
        """The frontier of the stored tree at ``size``: one read of ``range_nodes(0, size)`` (none for 0).

        Raises ``ValueError``/``TypeError`` for a bad ``size`` and ``StorageError`` if a node is missing.
        """
        _require_int("size", size, 0)
        return cls(size=size, hashes=tuple(_fetch(read, range_nodes(0, size))))

    def node_ids(self) -> list[NodeId]:
        """The ids of ``hashes``, left to right."""
        return range_nodes(0, self.size)

    def root(self) -> bytes:
        """``MTH`` of the tree at this size (``EMPTY_ROOT`` when empty)."""
        if not self.hashes:
            return EMPTY_ROOT
        return _fold(self.hashes)

    def extend(self, leaf_hashes: Sequence[bytes]) -> tuple[Frontier, list[tuple[NodeId, bytes]]]:
        """Append leaf hashes; return the new frontier and every perfect node the new leaves complete.

        The completed nodes include each new leaf ``(0, i)`` and every interior node finished by the append,
        each listed after its children, so the caller can store them all. Each leaf costs amortized one
        ``node_hash``. Requires each element to be a 32-byte leaf hash (``leaf_hash(leaf)``, not the leaf
        itself); raises ``ValueError`` otherwise, before anything is computed.
        """
        for position, value in enumerate(leaf_hashes):
            if not isinstance(value, bytes) or len(value) != HASH_SIZE:
                raise ValueError(f"leaf_hashes[{position}] must be a {HASH_SIZE}-byte leaf hash")
        stack: list[tuple[NodeId, bytes]] = list(zip(self.node_ids(), self.hashes, strict=True))
        completed: list[tuple[NodeId, bytes]] = []
        size = self.size
        for value in leaf_hashes:
            node: NodeId = (0, size)
            digest = value
            size += 1
            completed.append((node, digest))
            # Levels on the stack strictly decrease, so an equal level on top is this node's left sibling.
            while stack and stack[-1][0][0] == node[0]:
                (level, index), left = stack.pop()
                digest = node_hash(left, digest)
                node = (level + 1, index >> 1)
                completed.append((node, digest))
            stack.append((node, digest))
        return Frontier(size=size, hashes=tuple(entry[1] for entry in stack)), completed
