"""Tests for ledger.log.merkle and ledger.log.proofs: RFC 9162 vectors, a naive model, corruption probes, properties."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import StorageError, VerificationError
from ledger.log.encoding import unb64
from ledger.log.merkle import (
    EMPTY_ROOT,
    Frontier,
    NodeId,
    NodeReader,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    tree_root,
)
from ledger.log.proofs import (
    ProofError,
    RootMismatch,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from tests.factories import VECTORS

# --- vectors --------------------------------------------------------------------------------------


@cache
def rfc9162() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "rfc9162.json").read_text("utf-8"))
    return data


def vector_leaves() -> list[bytes]:
    return [bytes.fromhex(text) for text in rfc9162()["leaves_hex"]]


# --- an independent model, written straight from RFC 9162 §2.1 ------------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def naive_k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: Sequence[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = naive_k(n)
    return _h(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:]))


def naive_path(m: int, leaves: Sequence[bytes]) -> list[tuple[bytes, str]]:
    """PATH(m, D[n]) with, for each hash, the side its subtree is on ("L" or "R")."""
    n = len(leaves)
    if n == 1:
        return []
    k = naive_k(n)
    if m < k:
        return [*naive_path(m, leaves[:k]), (naive_mth(leaves[k:]), "R")]
    return [*naive_path(m - k, leaves[k:]), (naive_mth(leaves[:k]), "L")]


def naive_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[tuple[bytes, str]]:
    """SUBPROOF(m, D[n], b), each hash tagged "L"/"R" (sibling side) or "T" (the old tree's last subtree)."""
    n = len(leaves)
    if m == n:
        return [] if b else [(naive_mth(leaves), "T")]
    k = naive_k(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], b), (naive_mth(leaves[k:]), "R")]
    return [*naive_subproof(m - k, leaves[k:], False), (naive_mth(leaves[:k]), "L")]


def naive_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    return [digest for digest, _ in naive_subproof(m, leaves, True)]


# --- a node store filled through Frontier.extend, the append path the journal uses ----------------

MAX_SIZE = 3000
LEAVES = [i.to_bytes(4, "big") + b"x" * (i % 7) for i in range(4096)]


class MemoryStore:
    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        self.frontier = Frontier.empty()
        self.append(leaves)

    def append(self, leaves: Sequence[bytes]) -> None:
        self.frontier, completed = self.frontier.extend([leaf_hash(leaf) for leaf in leaves])
        for node, digest in completed:
            assert node not in self.nodes, f"node {node} completed twice"
            self.nodes[node] = digest

    def read(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {node: self.nodes[node] for node in ids if node in self.nodes}


class CountingReader:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.calls: list[list[NodeId]] = []

    def __call__(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        self.calls.append(list(ids))
        return self.store.read(ids)


@cache
def big_store() -> MemoryStore:
    return MemoryStore(LEAVES)


@cache
def vector_store() -> MemoryStore:
    return MemoryStore(vector_leaves())


def assert_one_small_read(reader: CountingReader, size: int, *, expect_read: bool = True) -> None:
    """One read of at most 2*log2(size) distinct ids, all inside the tree of ``size`` leaves."""
    if not expect_read:
        assert reader.calls == []
        return
    assert len(reader.calls) == 1
    ids = reader.calls[0]
    assert len(ids) == len(set(ids))
    assert len(ids) <= max(1, 2 * (size - 1).bit_length())
    for level, index in ids:
        assert (index + 1) << level <= size, f"node {(level, index)} lies beyond size {size}"


def flip(data: bytes, bit: int) -> bytes:
    raw = bytearray(data)
    raw[(bit // 8) % len(raw)] ^= 1 << (bit % 8)
    return bytes(raw)


# --- hashing and vectors --------------------------------------------------------------------------


def test_vector_file_has_expected_coverage() -> None:
    data = rfc9162()
    assert len(data["leaves_hex"]) == 8
    assert sorted(int(size) for size in data["roots"]) == list(range(9))
    assert {(v["index"], v["tree_size"]) for v in data["inclusion"]} == {
        (i, n) for n in range(1, 9) for i in range(n)
    }
    assert {(v["first"], v["second"]) for v in data["consistency"]} == {
        (m, n) for n in range(1, 9) for m in range(1, n + 1)
    }


def test_empty_root() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert unb64(rfc9162()["roots"]["0"]) == EMPTY_ROOT
    reader = CountingReader(vector_store())
    assert tree_root(0, reader) == EMPTY_ROOT
    assert reader.calls == []
    assert Frontier.empty().root() == EMPTY_ROOT


def test_leaf_and_node_hash_domain_separation() -> None:
    assert leaf_hash(b"") == unb64(rfc9162()["roots"]["1"])
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right) != node_hash(right, left)
    assert leaf_hash(left + right) != node_hash(left, right)


@pytest.mark.parametrize("size", range(9))
def test_vector_roots(size: int) -> None:
    expected = unb64(rfc9162()["roots"][str(size)])
    leaves = vector_leaves()[:size]
    assert naive_mth(leaves) == expected
    assert MemoryStore(leaves).frontier.root() == expected
    reader = CountingReader(vector_store())
    assert tree_root(size, reader) == expected
    assert_one_small_read(reader, size, expect_read=size > 0)


@pytest.mark.parametrize(
    "vector", rfc9162()["inclusion"], ids=lambda v: f"index{v['index']}-size{v['tree_size']}"
)
def test_vector_inclusion(vector: dict[str, Any]) -> None:
    index, size = vector["index"], vector["tree_size"]
    expected = [unb64(text) for text in vector["hashes"]]
    reader = CountingReader(vector_store())
    assert inclusion_proof(index, size, reader) == expected
    assert_one_small_read(reader, size, expect_read=size > 1)
    root = unb64(rfc9162()["roots"][str(size)])
    leaf = leaf_hash(vector_leaves()[index])
    assert root_from_inclusion_proof(index=index, size=size, leaf_hash=leaf, proof=expected) == root
    verify_inclusion(index=index, size=size, leaf_hash=leaf, proof=expected, root=root)


@pytest.mark.parametrize(
    "vector", rfc9162()["consistency"], ids=lambda v: f"first{v['first']}-second{v['second']}"
)
def test_vector_consistency(vector: dict[str, Any]) -> None:
    first, second = vector["first"], vector["second"]
    expected = [unb64(text) for text in vector["hashes"]]
    reader = CountingReader(vector_store())
    assert consistency_proof(first, second, reader) == expected
    assert_one_small_read(reader, second, expect_read=first < second)
    roots = rfc9162()["roots"]
    verify_consistency(
        first=first,
        second=second,
        first_root=unb64(roots[str(first)]),
        second_root=unb64(roots[str(second)]),
        proof=expected,
    )


# --- corruption probes ----------------------------------------------------------------------------

ZERO = bytes(32)
Probe = tuple[str, dict[str, Any]]


@cache
def inclusion_shape(index: int, size: int) -> tuple[str, ...] | None:
    """Sides of PATH(index, size); verification cannot tell apart (index, size) pairs of the same shape."""
    if not 0 <= index < size:
        return None
    return tuple(side for _, side in naive_path(index, LEAVES[:size]))


@cache
def consistency_shape(first: int, second: int) -> tuple[str, ...] | None:
    if not 0 < first <= second:
        return None
    return tuple(tag for _, tag in naive_subproof(first, LEAVES[:second], True))


def proof_list_probes(proof: list[bytes], seed: int) -> Iterator[Probe]:
    """Corruptions of the hash list alone; every one must be refused."""
    for position in range(len(proof)):
        bad = list(proof)
        bad[position] = flip(bad[position], 13 * position + seed)
        yield f"flip bit in proof[{position}]", {"proof": bad}
    if proof:
        yield "empty proof", {"proof": []}
        yield "last hash dropped", {"proof": proof[:-1]}
        yield "first hash dropped", {"proof": proof[1:]}
        yield "last hash repeated", {"proof": [*proof, proof[-1]]}
        yield "short hash", {"proof": [proof[0][:31], *proof[1:]]}
        yield "long hash", {"proof": [proof[0] + b"\x00", *proof[1:]]}
        yield "proof as one bytes string", {"proof": b"".join(proof)}
    if len(proof) > 1:
        yield "hashes reversed", {"proof": proof[::-1]}
    yield "zero hash appended", {"proof": [*proof, ZERO]}
    yield "zero hash prepended", {"proof": [ZERO, *proof]}
    yield "non-bytes hash", {"proof": [*proof[:-1], "A" * 32] if proof else ["A" * 32]}


def check_inclusion_probes(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    good: dict[str, Any] = {"index": index, "size": size, "leaf_hash": leaf, "proof": proof, "root": root}
    verify_inclusion(**good)
    probes: list[Probe] = list(proof_list_probes(proof, index))
    probes += [
        ("flip bit in leaf hash", {"leaf_hash": flip(leaf, index + 3)}),
        ("other leaf", {"leaf_hash": leaf_hash(b"not in the tree")}),
        ("leaf data instead of hash", {"leaf_hash": LEAVES[index]}),
        ("flip bit in root", {"root": flip(root, size + 5)}),
        ("root of another size", {"root": naive_mth(LEAVES[: size + 1])}),
        ("empty root", {"root": EMPTY_ROOT}),
        ("short root", {"root": root[:31]}),
        ("index as bool", {"index": bool(index)} if index in (0, 1) else {"index": str(index)}),
        ("size as str", {"size": str(size)}),
    ]
    for label, changes in probes:
        with pytest.raises(ProofError):
            verify_inclusion(**(good | changes))
            pytest.fail(f"{label} accepted for index {index} size {size}")
    # A proof binds index and size only through the shape of the path: it must fail exactly when that changes.
    for other_index, other_size in [
        (index - 1, size),
        (index + 1, size),
        (index + size, size),
        (-1, size),
        (index, size - 1),
        (index, size + 1),
        (index, size * 2),
        (index, size // 2),
        (index, 0),
    ]:
        changed = good | {"index": other_index, "size": other_size}
        if inclusion_shape(other_index, other_size) == inclusion_shape(index, size):
            verify_inclusion(**changed)
        else:
            with pytest.raises(ProofError):
                verify_inclusion(**changed)
                pytest.fail(f"index {other_index} size {other_size} accepted for ({index}, {size})")


def check_consistency_probes(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> None:
    good: dict[str, Any] = {
        "first": first,
        "second": second,
        "first_root": first_root,
        "second_root": second_root,
        "proof": proof,
    }
    verify_consistency(**good)
    probes: list[Probe] = list(proof_list_probes(proof, first + second))
    probes += [
        ("flip bit in first root", {"first_root": flip(first_root, first)}),
        ("flip bit in second root", {"second_root": flip(second_root, second)}),
        ("empty first root", {"first_root": EMPTY_ROOT}),
        ("short second root", {"second_root": second_root[:-1]}),
        ("first as str", {"first": str(first)}),
        ("first larger than second", {"first": second + 1}),
        ("from the empty tree", {"first": 0}),
    ]
    if first != second:
        probes.append(("roots swapped", {"first_root": second_root, "second_root": first_root}))
        probes.append(("sizes swapped", {"first": second, "second": first}))
    for label, changes in probes:
        with pytest.raises(ProofError):
            verify_consistency(**(good | changes))
            pytest.fail(f"{label} accepted for {first} -> {second}")
    for other_first, other_second in [
        (first - 1, second),
        (first + 1, second),
        (first, second - 1),
        (first, second + 1),
        (first, second * 2),
        (first * 2, second * 2),
    ]:
        changed = good | {"first": other_first, "second": other_second}
        if consistency_shape(other_first, other_second) == consistency_shape(first, second):
            verify_consistency(**changed)
        else:
            with pytest.raises(ProofError):
                verify_consistency(**changed)
                pytest.fail(f"{other_first} -> {other_second} accepted for {first} -> {second}")


@pytest.mark.parametrize("vector", rfc9162()["inclusion"], ids=lambda v: f"{v['index']}-{v['tree_size']}")
def test_vector_inclusion_corruptions(vector: dict[str, Any]) -> None:
    # The probe helpers use LEAVES; rebuild the vector proof over them and probe that, plus the vector itself.
    index, size = vector["index"], vector["tree_size"]
    proof = inclusion_proof(index, size, big_store().read)
    check_inclusion_probes(index, size, leaf_hash(LEAVES[index]), proof, naive_mth(LEAVES[:size]))
    vector_proof = [unb64(text) for text in vector["hashes"]]
    root = unb64(rfc9162()["roots"][str(size)])
    leaf = leaf_hash(vector_leaves()[index])
    for label, changes in proof_list_probes(vector_proof, size):
        with pytest.raises(ProofError):
            verify_inclusion(index=index, size=size, leaf_hash=leaf, root=root, **changes)
            pytest.fail(label)


# --- exhaustive agreement with the naive model up to 64 leaves ------------------------------------


@pytest.mark.parametrize("size", range(1, 65))
def test_every_inclusion_proof_up_to_64(size: int) -> None:
    store = big_store()
    leaves = LEAVES[:size]
    root = naive_mth(leaves)
    reader = CountingReader(store)
    assert tree_root(size, reader) == root
    for index in range(size):
        reader = CountingReader(store)
        proof = inclusion_proof(index, size, reader)
        assert_one_small_read(reader, size, expect_read=size > 1)
        assert proof == [digest for digest, _ in naive_path(index, leaves)]
        leaf = leaf_hash(leaves[index])
        assert root_from_inclusion_proof(index=index, size=size, leaf_hash=leaf, proof=proof) == root
        check_inclusion_probes(index, size, leaf, proof, root)


@pytest.mark.parametrize("second", range(1, 65))
def test_every_consistency_proof_up_to_64(second: int) -> None:
    store = big_store()
    second_root = naive_mth(LEAVES[:second])
    for first in range(1, second + 1):
        reader = CountingReader(store)
        proof = consistency_proof(first, second, reader)
        assert_one_small_read(reader, second, expect_read=first < second)
        assert proof == naive_proof(first, LEAVES[:second])
        check_consistency_probes(first, second, naive_mth(LEAVES[:first]), second_root, proof)


# --- error messages -------------------------------------------------------------------------------


def _inclusion_kwargs(index: int = 2, size: int = 5) -> dict[str, Any]:
    return {
        "index": index,
        "size": size,
        "leaf_hash": leaf_hash(LEAVES[index]),
        "proof": inclusion_proof(index, size, big_store().read),
        "root": naive_mth(LEAVES[:size]),
    }


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"index": 5}, ProofError, "index 5 is out of range for a tree of size 5"),
        ({"index": -1}, ProofError, "index must not be negative"),
        ({"size": 0}, ProofError, "out of range for a tree of size 0"),
        ({"size": 5.0}, ProofError, "size must be an integer"),
        (
            {"proof": []},
            ProofError,
            "inclusion proof is empty, but leaf 2 of a tree of size 5 needs 3 hashes",
        ),
        (
            {"proof": [ZERO] * 4},
            ProofError,
            "inclusion proof has 4 hashes, but leaf 2 of a tree of size 5 needs 3",
        ),
        ({"proof": [ZERO, ZERO[:31], ZERO]}, ProofError, r"proof\[1\] must be 32 bytes, got 31"),
        ({"proof": "abc"}, ProofError, "proof must be a sequence of hashes"),
        ({"leaf_hash": b"leaf"}, ProofError, "leaf_hash must be 32 bytes, got 4"),
        ({"root": bytes(33)}, ProofError, "root must be 32 bytes, got 33"),
        ({"root": ZERO}, RootMismatch, "inclusion proof leads to root .*, not AAAA"),
    ],
)
def test_inclusion_errors(changes: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        verify_inclusion(**(_inclusion_kwargs() | changes))
    assert isinstance(caught.value, VerificationError)
    if error is ProofError:
        assert not isinstance(caught.value, RootMismatch)


def test_inclusion_size_one_takes_the_empty_proof_only() -> None:
    leaf = leaf_hash(LEAVES[0])
    verify_inclusion(index=0, size=1, leaf_hash=leaf, proof=[], root=leaf)
    with pytest.raises(ProofError, match="has 1 hashes, but leaf 0 of a tree of size 1 needs 0"):
        verify_inclusion(index=0, size=1, leaf_hash=leaf, proof=[leaf], root=leaf)
    with pytest.raises(RootMismatch):
        verify_inclusion(index=0, size=1, leaf_hash=leaf, proof=[], root=EMPTY_ROOT)


def _consistency_kwargs(first: int = 3, second: int = 7) -> dict[str, Any]:
    return {
        "first": first,
        "second": second,
        "first_root": naive_mth(LEAVES[:first]),
        "second_root": naive_mth(LEAVES[:second]),
        "proof": consistency_proof(first, second, big_store().read),
    }


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"first": 8}, ProofError, "first size 8 is larger than second size 7"),
        ({"first": -3}, ProofError, "first must not be negative"),
        ({"second": None}, ProofError, "second must be an integer"),
        ({"first": 0}, ProofError, "a consistency proof from the empty tree must be empty"),
        ({"first": 0, "proof": []}, RootMismatch, "first_root is not the root of the empty tree"),
        ({"first": 7}, ProofError, "a consistency proof between equal sizes must be empty"),
        ({"first": 7, "proof": []}, RootMismatch, "two trees of size 7 have different roots"),
        ({"proof": []}, ProofError, "consistency proof is empty, but sizes 3 to 7 needs 4 hashes"),
        ({"proof": [ZERO] * 5}, ProofError, "consistency proof has 5 hashes, but sizes 3 to 7 needs 4"),
        ({"proof": [ZERO, b"", ZERO, ZERO]}, ProofError, r"proof\[1\] must be 32 bytes, got 0"),
        ({"first_root": b"x" * 31}, ProofError, "first_root must be 32 bytes, got 31"),
        ({"second_root": "root"}, ProofError, "second_root must be bytes, got str"),
        ({"first_root": ZERO}, RootMismatch, "leads to first root .*, not AAAA"),
        ({"second_root": ZERO}, RootMismatch, "leads to second root .*, not AAAA"),
    ],
)
def test_consistency_errors(changes: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        verify_consistency(**(_consistency_kwargs() | changes))
    if error is ProofError:
        assert not isinstance(caught.value, RootMismatch)


def test_consistency_from_the_empty_tree() -> None:
    verify_consistency(first=0, second=0, first_root=EMPTY_ROOT, second_root=EMPTY_ROOT, proof=[])
    verify_consistency(first=0, second=9, first_root=EMPTY_ROOT, second_root=naive_mth(LEAVES[:9]), proof=[])


def test_consistency_with_power_of_two_first_checks_the_first_root() -> None:
    # For first = 2**k the proof leaves out the old root: it is only bound through the second root.
    kwargs = _consistency_kwargs(first=4, second=7)
    verify_consistency(**kwargs)
    with pytest.raises(RootMismatch, match="second root"):
        verify_consistency(**(kwargs | {"first_root": naive_mth(LEAVES[1:5])}))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: inclusion_proof(-1, 4, big_store().read), ValueError, "index must be at least 0, got -1"),
        (lambda: inclusion_proof(4, 4, big_store().read), ValueError, "index 4 is out of range"),
        (lambda: inclusion_proof(0, 0, big_store().read), ValueError, "size must be at least 1"),
        (lambda: inclusion_proof("0", 4, big_store().read), TypeError, "index must be an int"),  # type: ignore[arg-type]
        (lambda: consistency_proof(0, 4, big_store().read), ValueError, "first must be at least 1"),
        (lambda: consistency_proof(5, 4, big_store().read), ValueError, r"first \(5\) must not be larger"),
        (lambda: consistency_proof(1, 0, big_store().read), ValueError, "second must be at least 1"),
        (lambda: tree_root(-1, big_store().read), ValueError, "size must be at least 0"),
        (lambda: range_nodes(-1, 3), ValueError, "start must be at least 0"),
        (lambda: range_nodes(3, 2), ValueError, r"end \(2\) must not be smaller than start \(3\)"),
        (lambda: Frontier.load(-2, big_store().read), ValueError, "size must be at least 0"),
    ],
)
def test_builder_preconditions(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_missing_or_bad_stored_nodes_raise_storage_error() -> None:
    def empty(ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {}

    def short(ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {node: b"\x00" * 31 for node in ids}

    for reader in (empty, short):
        with pytest.raises(StorageError, match="no 32-byte hash for node"):
            tree_root(5, reader)
        with pytest.raises(StorageError):
            inclusion_proof(1, 5, reader)
        with pytest.raises(StorageError):
            consistency_proof(3, 5, reader)
        with pytest.raises(StorageError):
            Frontier.load(5, reader)


def test_store_smaller_than_requested_size_is_reported() -> None:
    store = MemoryStore(LEAVES[:10])
    with pytest.raises(StorageError):
        tree_root(11, store.read)


# --- frontier -------------------------------------------------------------------------------------


def test_frontier_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="a frontier of size 3 has 2 hashes, got 1"):
        Frontier(size=3, hashes=(ZERO,))
    with pytest.raises(ValueError, match=r"hashes\[0\] must be 32 bytes"):
        Frontier(size=1, hashes=(b"x",))
    with pytest.raises(ValueError, match="size must be at least 0"):
        Frontier(size=-1, hashes=())


def test_frontier_extend_rejects_bad_leaf_hashes_before_changing_anything() -> None:
    with pytest.raises(ValueError, match=r"leaf_hashes\[1\] must be a 32-byte leaf hash"):
        Frontier.empty().extend([ZERO, b"raw leaf", ZERO])
    assert Frontier.empty().extend([]) == (Frontier.empty(), [])


def test_frontier_completes_every_perfect_node_once() -> None:
    size = 77
    store = MemoryStore(LEAVES[:size])
    expected = {(level, index) for level in range(8) for index in range(size >> level)}
    assert set(store.nodes) == expected
    for (level, index), digest in store.nodes.items():
        assert digest == naive_mth(LEAVES[index << level : (index + 1) << level])
    assert store.frontier.node_ids() == range_nodes(0, size) == [(6, 0), (3, 8), (2, 18), (0, 76)]


def test_frontier_extend_lists_children_before_parents() -> None:
    _, completed = Frontier.empty().extend([leaf_hash(leaf) for leaf in LEAVES[:8]])
    seen: set[NodeId] = set()
    for level, index in (node for node, _ in completed):
        if level:
            assert {(level - 1, 2 * index), (level - 1, 2 * index + 1)} <= seen
        seen.add((level, index))
    assert len(completed) == 15


def test_frontier_load_reads_once() -> None:
    reader = CountingReader(big_store())
    frontier = Frontier.load(1000, reader)
    assert_one_small_read(reader, 1000)
    assert frontier == MemoryStore(LEAVES[:1000]).frontier
    silent = CountingReader(big_store())
    assert Frontier.load(0, silent) == Frontier.empty()
    assert silent.calls == []


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, MAX_SIZE), chunk_sizes=st.lists(st.integers(1, 400), min_size=1, max_size=20))
def test_frontier_in_chunks_matches_one_extend_and_naive_root(size: int, chunk_sizes: list[int]) -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES[:size]]
    whole, whole_nodes = Frontier.empty().extend(hashes)
    frontier, nodes = Frontier.empty(), []
    position, turn = 0, 0
    while position < size:
        step = chunk_sizes[turn % len(chunk_sizes)]
        frontier, completed = frontier.extend(hashes[position : position + step])
        nodes += completed
        position = frontier.size
        turn += 1
        assert frontier.root() == tree_root(position, big_store().read)
    assert frontier == whole
    assert nodes == whole_nodes
    assert frontier.root() == whole.root() == naive_mth(LEAVES[:size])
    assert Frontier.load(size, big_store().read) == whole


@settings(max_examples=60, deadline=None)
@given(data=st.data(), size=st.integers(1, MAX_SIZE))
def test_random_inclusion_proofs(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    reader = CountingReader(big_store())
    proof = inclusion_proof(index, size, reader)
    assert_one_small_read(reader, size, expect_read=size > 1)
    assert proof == [digest for digest, _ in naive_path(index, LEAVES[:size])]
    root = tree_root(size, big_store().read)
    verify_inclusion(index=index, size=size, leaf_hash=leaf_hash(LEAVES[index]), proof=proof, root=root)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), second=st.integers(1, MAX_SIZE))
def test_random_consistency_proofs(data: st.DataObject, second: int) -> None:
    first = data.draw(st.integers(1, second), label="first")
    reader = CountingReader(big_store())
    proof = consistency_proof(first, second, reader)
    assert_one_small_read(reader, second, expect_read=first < second)
    assert proof == naive_proof(first, LEAVES[:second])
    read: NodeReader = big_store().read
    verify_consistency(
        first=first,
        second=second,
        first_root=tree_root(first, read),
        second_root=tree_root(second, read),
        proof=proof,
    )


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 1 << 40), length=st.integers(0, 1 << 20))
def test_range_nodes_is_the_minimal_aligned_cover(start: int, length: int) -> None:
    end = start + length
    nodes = range_nodes(start, end)
    position = start
    for level, index in nodes:
        assert index << level == position
        position += 1 << level
        parent_lo = (index >> 1) << (level + 1)
        assert not (start <= parent_lo and parent_lo + (2 << level) <= end), "a larger stored node fits"
    assert position == end
    assert len(nodes) <= 2 * length.bit_length()
