"""The audit's tree checks: every stored node and checkpoint against the tree the leaves build, and trusted roots."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ledger.errors import LedgerError
from ledger.log import merkle, proofs
from ledger.log.checkpoint import Checkpoint
from ledger.log.note import NoteVerifier
from ledger.store import CheckpointRow, Store

HASH = 32
Progress = Callable[[str, int, int], None]


class TreeChecker:
    """Rebuilds the tree from the leaf hashes, level by level, keeping the roots at the sizes to be checked."""

    def __init__(self, store: Store, *, wanted: set[int]) -> None:
        self.store = store
        self.wanted = wanted
        self.frontier = merkle.Frontier.empty()
        self.levels: list[bytearray] = []  # recomputed perfect-subtree hashes, level by level, in index order
        self.roots: dict[int, bytes] = {}
        self.problems: list[tuple[str, str]] = []

    def add(self, leaf_hash: bytes) -> None:
        self.frontier, nodes = self.frontier.extend([leaf_hash])
        for (level, _), digest in nodes:
            while len(self.levels) <= level:
                self.levels.append(bytearray())
            self.levels[level] += digest
        if self.frontier.size in self.wanted:
            self.roots[self.frontier.size] = self.frontier.root()

    def check_nodes(self) -> None:
        seen = 0
        for (level, idx), digest in self.store.iter_nodes():
            seen += 1
            computed = self.levels[level][idx * HASH:(idx + 1) * HASH] if level < len(self.levels) else b""
            if not computed:
                self.problems.append((f"tree_nodes[{level},{idx}]", "node is not part of the tree the leaves build"))
            elif computed != digest:
                self.problems.append((f"tree_nodes[{level},{idx}]", "stored hash differs from the recomputed one"))
        expected = sum(len(level) // HASH for level in self.levels)
        if seen < expected:
            self.problems.append(("tree_nodes", f"{expected - seen} node(s) missing"))

    def check_checkpoints(self, rows: list[CheckpointRow], *, size: int, verifier: NoteVerifier, origin: str,
                          progress: Progress) -> int:
        """Check every checkpoint and the consistency of each with the one before; returns the uncovered count."""
        if size and not rows:
            self.problems.append(("checkpoints", f"none: no signed checkpoint covers any of the {size} entries"))
        previous = None
        for number, row in enumerate(rows, start=1):
            progress("checkpoints", number, len(rows))
            where = f"checkpoints[size={row.tree_size}]"
            try:
                checkpoint = Checkpoint.from_body(verifier.verify(row.note).decode("utf-8"))
            except LedgerError as exc:
                self.problems.append((where, f"signed note does not verify: {exc.message}"))
                continue
            if (checkpoint.origin, checkpoint.size, checkpoint.root) != (origin, row.tree_size, row.root):
                self.problems.append((where, "note body differs from the stored origin, size or root"))
            if row.tree_size > size:
                self.problems.append((where, f"covers {row.tree_size} entries but the log has {size}"))
                continue
            if self.roots.get(row.tree_size) != checkpoint.root:
                self.problems.append((where, "signed root differs from the root recomputed from the leaves"))
            if previous is not None:
                try:
                    proof = merkle.consistency_proof(previous.size, checkpoint.size, self.store.read_nodes)
                    proofs.verify_consistency(first=previous.size, second=checkpoint.size, first_root=previous.root,
                                              second_root=checkpoint.root, proof=proof)
                except LedgerError as exc:
                    self.problems.append((where, f"not consistent with checkpoint of size {previous.size}: "
                                                 f"{exc.message}"))
            previous = checkpoint
        return size - (rows[-1].tree_size if rows else 0)

    def check_trusted(self, trusted: Mapping[int, tuple[str, bytes]], *, size: int) -> None:
        for tree_size, (source, root) in sorted(trusted.items()):
            where = f"trusted[size={tree_size}]"
            if tree_size > size:
                self.problems.append((where, f"{source} covers {tree_size} entries but the log has {size}"))
            elif self.roots.get(tree_size) != root:
                self.problems.append((where, f"{source}: root differs from the root recomputed from the leaves"))
