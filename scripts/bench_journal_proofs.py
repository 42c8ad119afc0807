"""Proofs and checkpoints at 10^4..10^6 entries through the shipped path, beside pymerkle on the same leaves.

One ledger grows through each size. Large trees are filled through the store's writer session
(``WriterSession.commit_batch``) with canonical entry records of the real shape and size, each with a sealed
payload of the real size and its stream's position advanced, as a journal write would. At every size the
checkpoint root must equal the root of an independent in-memory RFC 9162 tree and pymerkle's root over the same
leaves, ``tree_nodes`` must hold exactly 2N - popcount(N) rows, and every sampled proof must verify.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_journal_workload import BATCH, KEY_ID, OWNER, chunks, open_ledger, rates, sampled, signed_events, timed
from benchkit import latency_ms, log
from pymerkle import SqliteTree
from pymerkle import verify_consistency as pm_verify_consistency
from pymerkle import verify_inclusion as pm_verify_inclusion

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.log import merkle, proofs
from ledger.log.statements import EntryRecord
from ledger.projections import streams
from ledger.store import Batch, EntryRow, Store
from ledger.store.specs import Changes

FILL_STREAMS = 100_000  # policies behind the bulk-filled entries
FILL_CHUNK = 10_000  # entries per fill transaction
FILL_LEAF = (
    '{{"key_id":"{key}","recorded_at":"{at}","seq":{seq},"signature":"{sig}","statement":{{"event_id":"{eid}",'
    '"occurred_at":"{at}","payload_hash":"sha256:{ph}","stream":"{stream}","type":"policy.premium_paid","v":2}},'
    '"v":1}}'
)


class ReferenceTree:
    """An independent RFC 9162 tree in memory: every perfect subtree hash, level by level."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append_leaf(self, leaf: bytes) -> None:
        digest = hashlib.sha256(b"\x00" + leaf).digest()
        self.levels[0].append(digest)
        level, index = 0, len(self.levels[0]) - 1
        while index & 1:
            if level + 1 == len(self.levels):
                self.levels.append([])
            parent = self.levels[level]
            digest = hashlib.sha256(b"\x01" + parent[index - 1] + parent[index]).digest()
            self.levels[level + 1].append(digest)
            level, index = level + 1, index >> 1

    def leaf_hash(self, index: int) -> bytes:
        return self.levels[0][index]

    def root(self, size: int) -> bytes:
        """Root of the first ``size`` leaves: fold the maximal aligned subtrees right to left."""
        parts = []
        position = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                parts.append(self.levels[level][position >> level])
                position += 1 << level
        acc = parts[-1]
        for left in reversed(parts[:-1]):
            acc = hashlib.sha256(b"\x01" + left + acc).digest()
        return acc


class Filler:
    """Extends the ledger's log through ``WriterSession.commit_batch`` with entries of the real shape and size.

    Each leaf is the canonical JSON of an entry record (checked with ``EntryRecord.from_leaf``); its signature
    and payload hash are random bytes, since no proof reads them. Its subjects are its own, with random wrapped
    keys the journal never unwraps.
    """

    def __init__(self, store: Store, sealed_size: int) -> None:
        self.store = store
        self.sealed_size = sealed_size
        self.subjects: set[str] = set()
        self.written = 0
        self.seconds = 0.0

    def fill(self, target: int, on_leaves: Callable[[list[bytes]], None]) -> None:
        size = self.store.size()
        if size > target:
            raise RuntimeError(f"the log has {size:,} entries already, more than the next size {target:,}")
        frontier = merkle.Frontier.load(size, self.store.read_nodes)
        seqs = {str(row["stream"]): int(row["last_seq"]) for row in self.store.rows.scan(streams.TABLE)}
        session = self.store.writer_session()
        try:
            while size < target:
                count = min(FILL_CHUNK, target - size)
                at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
                rows, payloads, new_keys = [], [], []
                positions: dict[tuple[Any, ...], dict[str, Any] | None] = {}
                for idx in range(size, size + count):
                    policy = idx % FILL_STREAMS
                    stream, subject = f"policy:{policy}", f"insured-{policy}"
                    seq = seqs[stream] = seqs.get(stream, 0) + 1
                    raw = FILL_LEAF.format(key=KEY_ID, at=at, seq=seq, eid=f"fill-{idx:09d}", stream=stream,
                                           sig=base64.b64encode(os.urandom(64)).decode(),
                                           ph=os.urandom(32).hex()).encode()
                    rows.append(EntryRow(idx=idx, event_id=f"fill-{idx:09d}", stream=stream, seq=seq,
                                         type="policy.premium_paid", key_id=KEY_ID, recorded_at=at, leaf=raw,
                                         leaf_hash=merkle.leaf_hash(raw)))
                    payloads.append((idx, subject, os.urandom(self.sealed_size)))
                    positions[(stream,)] = {"stream": stream, "last_seq": seq, "last_idx": idx}
                    if subject not in self.subjects:
                        self.subjects.add(subject)
                        new_keys.append((subject, os.urandom(60), at))
                EntryRecord.from_leaf(rows[0].leaf)  # the template yields canonical, parseable entry records
                start = time.perf_counter()
                extended, nodes = frontier.extend([row.leaf_hash for row in rows])
                session.commit_batch(Batch(expected_size=size, entries=rows, nodes=nodes, payloads=payloads,
                                           new_subject_keys=new_keys,
                                           changes=Changes(rows={streams.TABLE: positions})))
                self.seconds += time.perf_counter() - start
                self.written += count
                frontier, size = extended, size + count
                on_leaves([row.leaf for row in rows])
        finally:
            session.close()


def ledger_proofs(ledger: Ledger, ref: ReferenceTree, size: int, root: bytes, rng: random.Random,
                  samples: int, budget: float) -> dict[str, Any]:
    """``ledger.log.inclusion_proof`` / ``consistency_proof`` at random positions, each proof verified (timed apart)."""
    prove: list[float] = []
    verify: list[float] = []
    indexes = [rng.randrange(size) for _ in range(samples)]

    def inclusion(i: int) -> None:
        index = indexes[i]
        seconds, proof = timed(lambda: ledger.log.inclusion_proof(index=index, tree_size=size))
        prove.append(seconds)
        leaf = ref.leaf_hash(index)
        seconds, _ = timed(lambda: proofs.verify_inclusion(index=index, size=size, leaf_hash=leaf,
                                                           proof=proof.hashes, root=root))
        verify.append(seconds)

    sampled(samples, budget, inclusion)
    c_prove: list[float] = []
    c_verify: list[float] = []
    firsts = [rng.randrange(1, size) for _ in range(samples)]

    def consistency(i: int) -> None:
        first = firsts[i]
        seconds, proof = timed(lambda: ledger.log.consistency_proof(first=first, second=size))
        c_prove.append(seconds)
        first_root = ref.root(first)
        seconds, _ = timed(lambda: proofs.verify_consistency(first=first, second=size, first_root=first_root,
                                                             second_root=root, proof=proof.hashes))
        c_verify.append(seconds)

    sampled(samples, budget, consistency)
    return {"inclusion_prove": latency_ms(prove), "inclusion_verify": latency_ms(verify),
            "consistency_prove": latency_ms(c_prove), "consistency_verify": latency_ms(c_verify)}


def pymerkle_tree(path: Path) -> SqliteTree:
    """pymerkle's SQLite tree, switched to the durability the ledger's store uses (WAL, synchronous=FULL)."""
    tree = SqliteTree(str(path))
    tree.con.execute("PRAGMA journal_mode=WAL")
    tree.con.execute("PRAGMA synchronous=FULL")
    return tree


def pymerkle_proofs(tree: SqliteTree, size: int, root: bytes, rng: random.Random, samples: int,
                    budget: float) -> dict[str, Any]:
    """pymerkle's proofs (1-based indexes) at random positions, from a cold subtree cache, each verified."""
    tree.cache_clear()
    cold, _ = timed(lambda: tree.prove_inclusion(1 + rng.randrange(size), size))
    prove: list[float] = []
    verify: list[float] = []
    indexes = [1 + rng.randrange(size) for _ in range(samples)]

    def inclusion(i: int) -> None:
        index = indexes[i]
        seconds, proof = timed(lambda: tree.prove_inclusion(index, size))
        prove.append(seconds)
        base = tree.get_leaf(index)
        seconds, _ = timed(lambda: pm_verify_inclusion(base, root, proof))
        verify.append(seconds)

    sampled(samples, budget, inclusion)
    c_prove: list[float] = []
    c_verify: list[float] = []
    firsts = [rng.randrange(1, size) for _ in range(samples)]

    def consistency(i: int) -> None:
        first = firsts[i]
        seconds, proof = timed(lambda: tree.prove_consistency(first, size))
        c_prove.append(seconds)
        first_root = tree.get_root(first)
        seconds, _ = timed(lambda: pm_verify_consistency(first_root, root, proof))
        c_verify.append(seconds)

    sampled(samples, budget, consistency)
    return {"first_inclusion_cold_cache_ms": cold * 1e3, "inclusion_prove": latency_ms(prove),
            "inclusion_verify": latency_ms(verify), "consistency_prove": latency_ms(c_prove),
            "consistency_verify": latency_ms(c_verify)}


def scaling(work: Path, key: SigningKey, *, sizes: list[int], samples: int, budget: float, rounds: int,
            pymerkle_max: int, seed: int) -> dict[str, Any]:
    """Grow one ledger through each size; at each, proofs, checkpoints, and pymerkle on the same leaves."""
    rng = random.Random(seed)
    log(f"signing {(rounds + 1) * BATCH * len(sizes) + BATCH:,} checkpoint-phase events (not timed)")
    pending = iter(chunks(signed_events(key, ((rounds + 1) * len(sizes) + 1) * BATCH, "ck"), BATCH))
    root_dir = work / "scaling"
    ledger = open_ledger(root_dir, key)
    ref = ReferenceTree()
    tree = pymerkle_tree(work / "pymerkle-scaling.db")
    mirrored = {"seconds": 0.0, "leaves": 0}

    def append_batch() -> float:
        seconds, results = timed(lambda: ledger.intake.append_many(list(next(pending)), owner=OWNER))
        if any(isinstance(r, Exception) for r in results):
            raise RuntimeError(f"append_many refused events: {[r for r in results if isinstance(r, Exception)][:3]}")
        return seconds

    def mirror(leaves: list[bytes]) -> None:
        for leaf in leaves:
            ref.append_leaf(leaf)
        if ref.size <= pymerkle_max:
            seconds, _ = timed(lambda: tree.append_entries(leaves))
            mirrored["seconds"] += seconds
            mirrored["leaves"] += len(leaves)

    def mirror_journal() -> None:
        mirror([row.leaf for row in ledger.store.iter_entries(ref.size, ledger.log.size())])

    append_batch()  # real entries first: their sealed payloads give the fill its payload size
    sealed_size = round(statistics.fmean(len(ledger.store.payload(i)[1]) for i in range(1, 101)))
    mirror_journal()
    filler = Filler(ledger.store, sealed_size)
    results = []
    try:
        for size in sizes:
            log(f"filling to {size:,} entries through the store's writer session")
            filler.fill(size, mirror)
            cut, checkpoint = timed(ledger.log.checkpoint_now)
            if checkpoint is None or checkpoint.tree_size != size:
                raise RuntimeError(f"expected a checkpoint of size {size}, got {checkpoint}")
            if checkpoint.root != ref.root(size):
                raise RuntimeError(f"stored tree at {size} disagrees with the reference tree")
            nodes = ledger.store.count_rows("tree_nodes")
            if nodes != 2 * size - size.bit_count():
                raise RuntimeError(f"{nodes} stored nodes at size {size}, expected {2 * size - size.bit_count()}")
            row: dict[str, Any] = {"size": size, "tree_nodes": nodes, "first_checkpoint_ms": cut * 1e3,
                                   "db_bytes": sum(p.stat().st_size for p in root_dir.glob("ledger.db*"))}
            log(f"  proofs at {size:,} (up to {samples} samples or {budget:.0f} s each)")
            row["ledger"] = ledger_proofs(ledger, ref, size, checkpoint.root, rng, samples, budget)
            row["pymerkle"] = None
            if size <= pymerkle_max:
                if tree.get_root(size) != checkpoint.root:
                    raise RuntimeError(f"pymerkle's root at {size} differs from the ledger's")
                log(f"  pymerkle proofs at {size:,}")
                row["pymerkle"] = pymerkle_proofs(tree, size, checkpoint.root, rng, samples, budget)
            log(f"  checkpoints at {size:,}: {rounds} rounds of append_many({BATCH}) + checkpoint_now()")
            append_batch()  # absorbs the writer's reload after the fill (its log head moved under it)
            appends, cuts = [], []
            for _ in range(rounds):
                appends.append(BATCH / append_batch())
                seconds, checkpoint = timed(ledger.log.checkpoint_now)
                if checkpoint is None or checkpoint.tree_size != ledger.log.size():
                    raise RuntimeError("checkpoint_now did not cover the new entries")
                cuts.append(seconds)
            row["checkpoint"] = latency_ms(cuts)
            row["append_many_events_per_second"] = rates(appends)
            mirror_journal()
            if checkpoint.root != ref.root(ledger.log.size()):
                raise RuntimeError("checkpoint root after journal appends disagrees with the reference tree")
            results.append(row)
            log(f"  inclusion median {row['ledger']['inclusion_prove']['median_ms']:.3f} ms, checkpoint median "
                f"{row['checkpoint']['median_ms']:.2f} ms")
    finally:
        tree.close()
        ledger.close()
    fill = {"entries": filler.written, "seconds": filler.seconds, "sealed_payload_bytes": sealed_size,
            "entries_per_second": filler.written / filler.seconds if filler.seconds else None,
            "pymerkle_leaves": mirrored["leaves"], "pymerkle_seconds": mirrored["seconds"],
            "pymerkle_leaves_per_second": mirrored["leaves"] / mirrored["seconds"] if mirrored["seconds"] else None}
    return {"sizes": results, "fill": fill}
