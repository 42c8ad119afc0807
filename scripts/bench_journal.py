"""Journal benchmark: durable appends, proofs and checkpoints on SQLite, beside eventsourcing and pymerkle.

Measures, on real SQLite files in a temporary directory (WAL, ``synchronous=FULL``):

1. durable append throughput: signed events one ``append`` at a time, signed events through ``append_many``
   in batches of 1000, and the "plain" floor (prebuilt leaves written through ``Store.commit_batch`` with
   ``Frontier.extend``: storage and Merkle work only); events are built and signed before the clock starts,
   since clients sign;
2. inclusion and consistency proof time (and, separately, verification time) at each tree size;
3. checkpoint latency (``checkpoint_now()`` after 1000 new entries) at each tree size;
4. the same workloads, where they apply, on eventsourcing's SQLite recorder and application and on
   pymerkle's ``SqliteTree``.

Large trees are filled through the store (``Store.commit_batch``) with canonical entry records of the real
shape and size; the resulting root is checked against an independent in-memory tree and against pymerkle, and
every sampled proof is verified. Prints a table to stdout, progress to stderr, and optionally writes JSON.

    .venv/bin/python scripts/bench_journal.py --json bench-results/journal.json
    .venv/bin/python scripts/bench_journal.py --quick
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchkit
from benchkit import log, machine, percentile
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from pymerkle import SqliteTree
from pymerkle import verify_consistency as pm_verify_consistency
from pymerkle import verify_inclusion as pm_verify_inclusion

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.log import merkle
from ledger.log.encoding import canonical_json
from ledger.log.statements import EntryRecord, SignedEvent, sign_event
from ledger.projections.scopes import KeyScope
from ledger.projections.system_keys import Projection, StreamState
from ledger.settings import Settings
from ledger.store import Batch, EntryRow, Store

OWNER = "policy-admin"
SCOPE = KeyScope.from_json({"types": ["policy.*", "premium.*"], "streams": ["policy"]})
KEY_ID = "bench-1"
STREAMS = 1000  # policies the throughput workload spreads its events over (one event per policy per batch)
FILL_STREAMS = 100_000  # policies behind the bulk-filled entries of the large trees
BATCH = 1000
FILL_CHUNK = 10_000
NEVER = 86_400.0  # checkpoint interval: no background checkpoints while measuring



# --- workload ----------------------------------------------------------------------------------------------------


PACKAGES = ("SQLAlchemy", "cryptography", "rfc8785", "eventsourcing", "pymerkle")  # versions recorded with the results

def premium_payload(i: int) -> dict[str, Any]:
    """A premium-payment event of the kind an insurer's policy administration system posts."""
    policy = i % STREAMS
    return {
        "policy_number": f"LL-{policy:08d}",
        "product": "term-life-20",
        "insured": f"person-{policy}",
        "premium": {"amount": "41.20", "currency": "CNY"},
        "period": {"from": "2026-01-01", "to": "2026-01-31"},
        "payment": {"method": "sepa-direct-debit", "mandate": f"MD-{policy:010d}", "reference": f"PAY-{i:012d}"},
    }


def signed_events(key: SigningKey, count: int, prefix: str) -> list[SignedEvent]:
    return [
        sign_event(key=key, event_id=f"{prefix}-{i}", type="policy.premium_paid", stream=f"policy:{i % STREAMS}",
                   payload=premium_payload(i), data_subject=f"person-{i % STREAMS}")
        for i in range(count)
    ]


def open_ledger(root: Path, key: SigningKey) -> Ledger:
    """A started ledger on a fresh SQLite file with ``key`` registered for ``OWNER``."""
    ledger = Ledger.open(Settings(data_dir=root, chain_url="none", checkpoint_interval=NEVER))
    ledger.start()
    ledger.keys.register(key_id=key.key_id, owner=OWNER, public_key=key.public_key, scope=SCOPE)
    return ledger


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


# --- statistics --------------------------------------------------------------------------------------------------



def latency(samples: Sequence[float]) -> dict[str, float | int]:
    """Median, p99 and mean of durations in seconds, reported in milliseconds."""
    return {"n": len(samples), "median_ms": statistics.median(samples) * 1e3,
            "p99_ms": percentile(samples, 99) * 1e3, "mean_ms": statistics.fmean(samples) * 1e3}


def rates(runs: Sequence[float]) -> dict[str, Any]:
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": list(runs)}


def sampled(count: int, budget: float, step: Callable[[int], None]) -> int:
    """Call ``step(i)`` for i = 0.. until ``count`` calls or ``budget`` seconds; return how many ran."""
    deadline = time.perf_counter() + budget
    done = 0
    while done < count and (done < 20 or time.perf_counter() < deadline):
        step(done)
        done += 1
    return done


# --- throughput: lifeledger ----------------------------------------------------------------------------------------


def ledger_batched(root: Path, key: SigningKey, events: list[SignedEvent]) -> tuple[float, Ledger]:
    ledger = open_ledger(root, key)
    elapsed = 0.0
    for batch in chunks(events, BATCH):
        start = time.perf_counter()
        results = ledger.intake.append_many(list(batch), owner=OWNER)
        elapsed += time.perf_counter() - start
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            raise RuntimeError(f"append_many refused events: {failed[:3]}")
    return len(events) / elapsed, ledger


def ledger_single(root: Path, key: SigningKey, events: list[SignedEvent]) -> float:
    ledger = open_ledger(root, key)
    try:
        start = time.perf_counter()
        for item in events:
            ledger.intake.append(item, owner=OWNER)
        return len(events) / (time.perf_counter() - start)
    finally:
        ledger.close()


@dataclass(frozen=True)
class PlainBatch:
    """One prebuilt group commit of the plain path: rows exactly as the signed path wrote them."""

    rows: list[tuple[str, str, int, str, str, str, bytes]]  # event_id, stream, seq, type, key_id, at, leaf
    payloads: list[tuple[str, bytes]]
    subject_keys: list[tuple[str, bytes, str]]
    streams: dict[str, StreamState]


def plain_workload(ledger: Ledger, first: int) -> list[PlainBatch]:
    """The rows a signed run wrote from entry ``first`` on, regrouped into batches of ``BATCH``."""
    entries = list(ledger.store.iter_entries(first))
    sealed = {idx: (subject, data) for idx, subject, data in ledger.store.iter_payloads()}
    with ledger.store.engine.connect() as conn:
        keys = [(row[0], bytes(row[1]), row[2]) for row in
                conn.exec_driver_sql("SELECT subject, wrapped, created_at FROM subject_keys").all()]
    batches = []
    for number, group in enumerate(chunks(entries, BATCH)):
        streams = {e.stream: StreamState(e.stream, e.seq, e.idx - first) for e in group}
        batches.append(PlainBatch(
            rows=[(e.event_id, e.stream, e.seq, e.type, e.key_id, e.recorded_at, e.leaf) for e in group],
            payloads=[sealed[e.idx] for e in group],
            subject_keys=keys if number == 0 else [], streams=streams))
    return batches


def ledger_plain(root: Path, batches: list[PlainBatch]) -> float:
    """Write prebuilt leaves through ``Store.commit_batch``: leaf hashes, Merkle nodes and storage only."""
    store = Store.open(f"sqlite:///{root / 'plain.db'}")
    try:
        frontier = merkle.Frontier.empty()
        count = 0
        start = time.perf_counter()
        for plain in batches:
            rows = [EntryRow(idx=frontier.size + n, event_id=r[0], stream=r[1], seq=r[2], type=r[3], key_id=r[4],
                             recorded_at=r[5], leaf=r[6], leaf_hash=merkle.leaf_hash(r[6]))
                    for n, r in enumerate(plain.rows)]
            extended, nodes = frontier.extend([row.leaf_hash for row in rows])
            projection = Projection(streams=dict(plain.streams), dirty_streams=set(plain.streams))
            store.commit_batch(Batch(
                expected_size=frontier.size, entries=rows, nodes=nodes,
                payloads=[(frontier.size + n, s, b) for n, (s, b) in enumerate(plain.payloads)],
                new_subject_keys=plain.subject_keys, projection=projection))
            frontier = extended
            count += len(rows)
        return count / (time.perf_counter() - start)
    finally:
        store.close()


# --- throughput: peers ---------------------------------------------------------------------------------------------


class Policy(Aggregate):
    """eventsourcing domain model of the same workload: one aggregate per policy, one event per premium."""

    def __init__(self, number: str) -> None:
        self.number = number

    @event("PremiumPaid")
    def pay(self, payload: dict[str, Any]) -> None:
        self.last_payment = payload


class PolicyApplication(Application[uuid.UUID]):
    pass


def es_application(path: Path) -> PolicyApplication:
    return PolicyApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


def es_app_run(path: Path, count: int, *, batch: int) -> float:
    """Save ``count`` premium events through an eventsourcing application; only ``save`` is timed."""
    app = es_application(path)
    try:
        policies = [Policy(f"LL-{n:08d}") for n in range(STREAMS)]
        app.save(*policies)  # the creation events, before the clock starts
        elapsed = 0.0
        for offset in range(0, count, batch):
            touched = []
            for i in range(offset, min(offset + batch, count)):
                policy = policies[i % STREAMS]
                policy.pay(payload=premium_payload(i))
                touched.append(policy)
            start = time.perf_counter()
            app.save(*touched)
            elapsed += time.perf_counter() - start
        return count / elapsed
    finally:
        app.close()


def es_stored_events(count: int) -> list[StoredEvent]:
    ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"policy:{n}") for n in range(STREAMS)]
    return [StoredEvent(originator_id=ids[i % STREAMS], originator_version=i // STREAMS + 1,
                        topic="lifeledger.bench:PremiumPaid", state=json.dumps(premium_payload(i)).encode())
            for i in range(count)]


def es_recorder_run(path: Path, stored: list[StoredEvent], *, batch: int) -> float:
    datastore = SQLiteDatastore(db_name=str(path))
    try:
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        start = time.perf_counter()
        for group in chunks(stored, batch):
            recorder.insert_events(group)
        return len(stored) / (time.perf_counter() - start)
    finally:
        datastore.close()


def pymerkle_tree(path: Path) -> SqliteTree:
    """pymerkle's SQLite tree, switched to the durability the ledger's store uses (WAL, synchronous=FULL)."""
    tree = SqliteTree(str(path))
    tree.con.execute("PRAGMA journal_mode=WAL")
    tree.con.execute("PRAGMA synchronous=FULL")
    return tree


def pymerkle_run(path: Path, leaves: list[bytes], *, batch: int) -> float:
    tree = pymerkle_tree(path)
    try:
        start = time.perf_counter()
        if batch == 1:
            for leaf in leaves:
                tree.append_entry(leaf)
        else:
            for group in chunks(leaves, batch):
                tree.append_entries(group)
        return len(leaves) / (time.perf_counter() - start)
    finally:
        tree.close()


def bare_sqlite_commits(path: Path, leaves: list[bytes]) -> float:
    """Disk floor: one-row transactions on a bare sqlite3 connection (WAL, synchronous=FULL)."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("CREATE TABLE leaf (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        start = time.perf_counter()
        for leaf in leaves:
            con.execute("BEGIN")
            con.execute("INSERT INTO leaf (data) VALUES (?)", (leaf,))
            con.execute("COMMIT")
        return len(leaves) / (time.perf_counter() - start)
    finally:
        con.close()


def round_runs(base: Path, key: SigningKey, single: list[SignedEvent], stored: list[StoredEvent],
               plain: list[PlainBatch], leaves: list[bytes]) -> dict[str, Callable[[], float]]:
    """The runs of one throughput round after the signed batched one, each on its own fresh file."""
    def fresh(name: str) -> Path:
        path = base / name
        path.mkdir()
        return path

    count, few = len(stored), len(single)
    return {
        "ledger_plain_batched": lambda: ledger_plain(fresh("plain"), plain),
        "es_application_batched": lambda: es_app_run(fresh("esa") / "es.db", count, batch=BATCH),
        "es_recorder_batched": lambda: es_recorder_run(fresh("esr") / "es.db", stored, batch=BATCH),
        "pymerkle_batched": lambda: pymerkle_run(fresh("pm") / "pm.db", leaves, batch=BATCH),
        "ledger_signed_single": lambda: ledger_single(fresh("single"), key, single),
        "es_application_single": lambda: es_app_run(fresh("esa1") / "es.db", few, batch=1),
        "es_recorder_single": lambda: es_recorder_run(fresh("esr1") / "es.db", stored[:few], batch=1),
        "pymerkle_single": lambda: pymerkle_run(fresh("pm1") / "pm.db", leaves[:few], batch=1),
        "sqlite_bare_single": lambda: bare_sqlite_commits(fresh("bare") / "bare.db", leaves[:few]),
    }


def throughput(work: Path, key: SigningKey, args: argparse.Namespace) -> dict[str, Any]:
    """Every append workload, ``args.repeat`` rounds, systems interleaved within each round."""
    log(f"signing {args.events} events (not timed)")
    events = signed_events(key, args.events, "tp")
    single = events[: args.single_events]
    stored = es_stored_events(args.events)
    runs: dict[str, list[float]] = {}
    plain: list[PlainBatch] = []
    leaves: list[bytes] = []
    sizes: dict[str, float] = {}
    for round_no in range(args.repeat):
        base = work / f"round-{round_no}"
        (base / "signed").mkdir(parents=True)
        log(f"throughput round {round_no + 1}/{args.repeat}")
        rate, ledger = ledger_batched(base / "signed", key, events)
        runs.setdefault("ledger_signed_batched", []).append(rate)
        if not plain:
            plain = plain_workload(ledger, first=1)  # entry 0 is the key registration
            leaves = [row[6] for batch in plain for row in batch.rows]
            sizes = {"payload_bytes": statistics.fmean(len(canonical_json(premium_payload(i))) for i in range(100)),
                     "leaf_bytes": statistics.fmean(len(leaf) for leaf in leaves),
                     "sealed_payload_bytes": statistics.fmean(len(p[1]) for p in plain[0].payloads)}
        ledger.close()
        for name, run in round_runs(base, key, single, stored, plain, leaves).items():
            runs.setdefault(name, []).append(run())
        log("  " + ", ".join(f"{name} {values[-1]:,.0f}/s" for name, values in runs.items()))
    return {"events": args.events, "single_events": len(single), "batch": BATCH, "streams": STREAMS,
            "sizes": sizes, "events_per_second": {name: rates(values) for name, values in runs.items()}}


# --- large trees: fill, reference, proofs, checkpoints -------------------------------------------------------------


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


FILL_LEAF = (
    '{{"key_id":"{key}","recorded_at":"{at}","seq":{seq},"signature":"{sig}","statement":{{"event_id":"{eid}",'
    '"occurred_at":"{at}","payload_hash":"sha256:{ph}","stream":"{stream}","type":"policy.premium_paid"}},"v":1}}'
)


class Filler:
    """Extends the ledger's log through ``Store.commit_batch`` with entries of the real shape and size.

    Each leaf is the canonical JSON of an entry record (checked with ``EntryRecord.from_leaf``); its signature
    and payload hash are random bytes, since nothing here reads them. Each entry also gets a sealed-payload row
    of the real size and advances its stream's projection row, as a journal write would.
    """

    def __init__(self, store: Store, sealed_size: int) -> None:
        self.store = store
        self.sealed_size = sealed_size
        self.subjects: set[str] = set()
        self.written = 0
        self.seconds = 0.0

    def fill(self, target: int, on_leaves: Callable[[list[bytes]], None]) -> None:
        size = self.store.size()
        frontier = merkle.Frontier.load(size, self.store.read_nodes)
        seqs = {name: state.last_seq for name, state in self.store.full_projection().streams.items()}
        while size < target:
            count = min(FILL_CHUNK, target - size)
            at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
            rows, payloads, new_keys, streams = [], [], [], {}
            for idx in range(size, size + count):
                policy = idx % FILL_STREAMS
                # Its own subjects: their wrapped keys are random bytes the journal must never try to unwrap.
                stream, subject = f"policy:{policy}", f"insured-{policy}"
                seq = seqs[stream] = seqs.get(stream, 0) + 1
                leaf = FILL_LEAF.format(key=KEY_ID, at=at, seq=seq, eid=f"fill-{idx:09d}", stream=stream,
                                        sig=base64.b64encode(os.urandom(64)).decode(), ph=os.urandom(32).hex())
                raw = leaf.encode()
                rows.append(EntryRow(idx=idx, event_id=f"fill-{idx:09d}", stream=stream, seq=seq,
                                     type="policy.premium_paid", key_id=KEY_ID, recorded_at=at, leaf=raw,
                                     leaf_hash=merkle.leaf_hash(raw)))
                payloads.append((idx, subject, os.urandom(self.sealed_size)))
                streams[stream] = StreamState(stream, seq, idx)
                if subject not in self.subjects:
                    self.subjects.add(subject)
                    new_keys.append((subject, os.urandom(60), at))
            EntryRecord.from_leaf(rows[0].leaf)  # the template yields canonical, parseable entry records
            start = time.perf_counter()
            extended, nodes = frontier.extend([row.leaf_hash for row in rows])
            self.store.commit_batch(Batch(expected_size=size, entries=rows, nodes=nodes, payloads=payloads,
                                          new_subject_keys=new_keys,
                                          projection=Projection(streams=streams, dirty_streams=set(streams))))
            self.seconds += time.perf_counter() - start
            self.written += count
            frontier, size = extended, size + count
            on_leaves([row.leaf for row in rows])


def indexed_reader(store: Store) -> merkle.NodeReader:
    """Reads the same nodes as ``Store.read_nodes`` with primary-key lookups (a join on a VALUES list)."""
    def read(ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        wanted = list(dict.fromkeys(ids))
        values = ",".join("(?,?)" for _ in wanted)
        sql = (f"SELECT t.level, t.idx, t.hash FROM (VALUES {values}) AS v "
               "JOIN tree_nodes AS t ON t.level = v.column1 AND t.idx = v.column2")
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(sql, tuple(part for node in wanted for part in node)).all()
        return {(row[0], row[1]): bytes(row[2]) for row in rows}
    return read


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def ledger_proofs(ledger: Ledger, ref: ReferenceTree, size: int, root: bytes, rng: random.Random,
                  args: argparse.Namespace) -> dict[str, Any]:
    prove: list[float] = []
    verify: list[float] = []
    indexed: list[float] = []
    indexes = [rng.randrange(size) for _ in range(args.proof_samples)]
    reader = indexed_reader(ledger.store)

    def inclusion(i: int) -> None:
        index = indexes[i]
        seconds, proof = timed(lambda: ledger.log.inclusion_proof(index=index, tree_size=size))
        prove.append(seconds)
        leaf = ref.leaf_hash(index)
        seconds, _ = timed(lambda: merkle.verify_inclusion(index=index, size=size, leaf_hash=leaf,
                                                           proof=proof.hashes, root=root))
        verify.append(seconds)
        seconds, again = timed(lambda: merkle.inclusion_proof(index, size, reader))
        indexed.append(seconds)
        if again != proof.hashes:
            raise RuntimeError(f"node reads disagree for the proof of {index}")

    sampled(args.proof_samples, args.proof_budget, inclusion)
    c_prove: list[float] = []
    c_verify: list[float] = []
    firsts = [rng.randrange(1, size) for _ in range(args.proof_samples)]

    def consistency(i: int) -> None:
        first = firsts[i]
        seconds, proof = timed(lambda: ledger.log.consistency_proof(first=first, second=size))
        c_prove.append(seconds)
        first_root = ref.root(first)
        seconds, _ = timed(lambda: merkle.verify_consistency(first=first, second=size, first_root=first_root,
                                                             second_root=root, proof=proof.hashes))
        c_verify.append(seconds)

    sampled(args.proof_samples, args.proof_budget, consistency)
    return {"inclusion_prove": latency(prove), "inclusion_verify": latency(verify),
            "inclusion_prove_indexed_read": latency(indexed),
            "consistency_prove": latency(c_prove), "consistency_verify": latency(c_verify)}


def pymerkle_proofs(tree: SqliteTree, size: int, root: bytes, rng: random.Random,
                    args: argparse.Namespace) -> dict[str, Any]:
    tree.cache_clear()
    cold, _ = timed(lambda: tree.prove_inclusion(1 + rng.randrange(size), size))
    prove: list[float] = []
    verify: list[float] = []
    indexes = [1 + rng.randrange(size) for _ in range(args.proof_samples)]

    def inclusion(i: int) -> None:
        index = indexes[i]
        seconds, proof = timed(lambda: tree.prove_inclusion(index, size))
        prove.append(seconds)
        base = tree.get_leaf(index)
        seconds, _ = timed(lambda: pm_verify_inclusion(base, root, proof))
        verify.append(seconds)

    sampled(args.proof_samples, args.proof_budget, inclusion)
    c_prove: list[float] = []
    c_verify: list[float] = []
    firsts = [rng.randrange(1, size) for _ in range(args.proof_samples)]

    def consistency(i: int) -> None:
        first = firsts[i]
        seconds, proof = timed(lambda: tree.prove_consistency(first, size))
        c_prove.append(seconds)
        first_root = tree.get_root(first)
        seconds, _ = timed(lambda: pm_verify_consistency(first_root, root, proof))
        c_verify.append(seconds)

    sampled(args.proof_samples, args.proof_budget, consistency)
    return {"first_inclusion_cold_cache_ms": cold * 1e3, "inclusion_prove": latency(prove),
            "inclusion_verify": latency(verify), "consistency_prove": latency(c_prove),
            "consistency_verify": latency(c_verify)}


def scaling(work: Path, key: SigningKey, sealed_size: int,
            args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Grow one ledger through each size; at each, proofs, checkpoints, and pymerkle on the same leaves.

    Returns one row per size and the bulk-fill rates of the ledger's store and of pymerkle.
    """
    rng = random.Random(args.seed)
    rounds = args.checkpoint_rounds
    log(f"signing {(rounds + 1) * BATCH * len(args.sizes)} checkpoint-phase events (not timed)")
    pending = iter(chunks(signed_events(key, (rounds + 1) * BATCH * len(args.sizes), "ck"), BATCH))
    root_dir = work / "scaling"
    ledger = open_ledger(root_dir, key)
    ref = ReferenceTree()
    tree = pymerkle_tree(work / "pymerkle-scaling.db")
    pm_seconds, pm_leaves = 0.0, 0

    def mirror(leaves: list[bytes]) -> None:
        nonlocal pm_seconds, pm_leaves
        for leaf in leaves:
            ref.append_leaf(leaf)
        if ref.size <= args.pymerkle_max:
            seconds, _ = timed(lambda: tree.append_entries(leaves))
            pm_seconds, pm_leaves = pm_seconds + seconds, pm_leaves + len(leaves)

    def mirror_journal() -> None:
        mirror([row.leaf for row in ledger.store.iter_entries(ref.size, ledger.log.size())])

    mirror_journal()
    filler = Filler(ledger.store, sealed_size)
    results = []
    try:
        for size in args.sizes:
            log(f"filling to {size:,} entries through the store")
            filler.fill(size, mirror)
            cut, checkpoint = timed(ledger.checkpoint_now)
            if checkpoint is None or checkpoint.tree_size != size:
                raise RuntimeError(f"expected a checkpoint of size {size}, got {checkpoint}")
            root = checkpoint.root
            if root != ref.root(size):
                raise RuntimeError(f"stored tree at {size} disagrees with the reference tree")
            nodes = ledger.store.count_rows("tree_nodes")
            if nodes != 2 * size - size.bit_count():
                raise RuntimeError(f"{nodes} stored nodes at size {size}, expected {2 * size - size.bit_count()}")
            row: dict[str, Any] = {"size": size, "tree_nodes": nodes, "first_checkpoint_ms": cut * 1e3,
                                   "db_bytes": sum(p.stat().st_size for p in root_dir.glob("ledger.db*"))}
            log(f"  proofs at {size:,} (up to {args.proof_samples} samples or {args.proof_budget:.0f} s each)")
            row["ledger"] = ledger_proofs(ledger, ref, size, root, rng, args)
            if size <= args.pymerkle_max:
                if tree.get_root(size) != root:
                    raise RuntimeError(f"pymerkle's root at {size} differs from the ledger's")
                log(f"  pymerkle proofs at {size:,}")
                row["pymerkle"] = pymerkle_proofs(tree, size, root, rng, args)
            else:
                row["pymerkle"] = None
            log(f"  checkpoints at {size:,}: {rounds} rounds of append_many({BATCH}) + checkpoint_now()")
            # absorbs the writer's reload after the fill
            warm = ledger.intake.append_many(list(next(pending)), owner=OWNER)
            if any(isinstance(r, Exception) for r in warm):
                raise RuntimeError(f"append_many refused events after the fill: {warm[:3]}")
            appends, cuts = [], []
            for _ in range(rounds):
                seconds, results_ = timed(lambda: ledger.intake.append_many(list(next(pending)), owner=OWNER))
                if any(isinstance(r, Exception) for r in results_):
                    raise RuntimeError("append_many refused events in the checkpoint phase")
                appends.append(BATCH / seconds)
                seconds, checkpoint = timed(ledger.checkpoint_now)
                if checkpoint is None or checkpoint.tree_size != ledger.log.size():
                    raise RuntimeError("checkpoint_now did not cover the new entries")
                cuts.append(seconds)
            row["checkpoint"] = latency(cuts)
            row["append_many_events_per_second"] = rates(appends)
            mirror_journal()
            if checkpoint.root != ref.root(ledger.log.size()):
                raise RuntimeError("checkpoint root after journal appends disagrees with the reference tree")
            results.append(row)
            summary = row["ledger"]["inclusion_prove"]
            log(f"  inclusion median {summary['median_ms']:.3f} ms, checkpoint median "
                f"{row['checkpoint']['median_ms']:.2f} ms")
    finally:
        tree.close()
        ledger.close()
    log(f"fill: {filler.written:,} entries in {filler.seconds:.1f} s through the store; "
        f"pymerkle took {pm_seconds:.1f} s for {pm_leaves:,} leaves (the same ones, journal appends included)")
    fill = {"ledger_store_entries": filler.written, "ledger_store_seconds": filler.seconds,
            "ledger_store_entries_per_second": filler.written / filler.seconds if filler.seconds else None,
            "pymerkle_leaves": pm_leaves, "pymerkle_seconds": pm_seconds,
            "pymerkle_leaves_per_second": pm_leaves / pm_seconds if pm_seconds else None}
    return results, fill


# --- report ----------------------------------------------------------------------------------------------------------



def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    eps = report["throughput"]["events_per_second"]

    def median(name: str) -> float:
        return float(eps[name]["median"])

    checks = [
        {"target": ">= 5,000 signed events/s appended in batches", "value": f"{median('ledger_signed_batched'):,.0f}/s",
         "met": median("ledger_signed_batched") >= 5000},
    ]
    big = [row for row in report["scaling"] if row["size"] >= 1_000_000]
    if big:
        incl = big[0]["ledger"]["inclusion_prove"]
        checks.append({"target": "inclusion proof under 1 ms at 10^6 entries (median)",
                       "value": f"{incl['median_ms']:.3f} ms (p99 {incl['p99_ms']:.3f} ms)",
                       "met": incl["median_ms"] < 1.0})
    for ours, theirs, what in (
        ("ledger_signed_batched", "es_application_batched", "batched append vs eventsourcing application"),
        ("ledger_plain_batched", "es_recorder_batched", "batched storage floor vs eventsourcing recorder"),
        ("ledger_signed_single", "es_application_single", "single durable append vs eventsourcing application"),
        ("ledger_plain_batched", "pymerkle_batched", "batched storage + Merkle floor vs pymerkle"),
    ):
        checks.append({"target": f"ahead: {what}", "value": f"{median(ours):,.0f}/s vs {median(theirs):,.0f}/s",
                       "met": median(ours) > median(theirs)})
    for kind in ("inclusion", "consistency"):
        for row in report["scaling"]:
            if row["pymerkle"]:
                ours_ms = row["ledger"][f"{kind}_prove"]["median_ms"]
                theirs_ms = row["pymerkle"][f"{kind}_prove"]["median_ms"]
                checks.append({"target": f"ahead: {kind} proof at {row['size']:,} vs pymerkle (median)",
                               "value": f"{ours_ms:.3f} ms vs {theirs_ms:.3f} ms", "met": ours_ms < theirs_ms})
    return checks


def tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    tp = report["throughput"]
    eps = tp["events_per_second"]
    labels = {
        "ledger_signed_batched": "lifeledger, signed + verified, append_many(1000)",
        "ledger_plain_batched": "lifeledger, plain (Store.commit_batch + Frontier), 1000/commit",
        "es_application_batched": "eventsourcing Application.save, 1000 events/commit",
        "es_recorder_batched": "eventsourcing SQLite recorder insert_events, 1000/commit",
        "pymerkle_batched": "pymerkle SqliteTree.append_entries, 1000/commit",
        "ledger_signed_single": "lifeledger, signed + verified, append (1/commit)",
        "es_application_single": "eventsourcing Application.save (1/commit)",
        "es_recorder_single": "eventsourcing SQLite recorder insert_events (1/commit)",
        "pymerkle_single": "pymerkle SqliteTree.append_entry (1/commit)",
        "sqlite_bare_single": "bare sqlite3 one-row commit (disk floor)",
    }
    first = [[label, f"{eps[name]['median']:,.0f}", f"{eps[name]['min']:,.0f}-{eps[name]['max']:,.0f}"]
             for name, label in labels.items()]
    out = [(f"Durable appends, events/s (median of {len(eps['ledger_signed_batched']['runs'])} rounds; "
            f"{tp['events']:,} events batched, {tp['single_events']:,} single)",
            ["workload", "events/s", "range"], first)]

    def ms(value: dict[str, Any] | None, key: str = "median_ms") -> str:
        return "-" if value is None else f"{value[key]:.3f}"

    rows = []
    for row in report["scaling"]:
        led, pm = row["ledger"], row["pymerkle"]
        rows.append([f"{row['size']:,}", ms(led["inclusion_prove"]), ms(led["inclusion_prove"], "p99_ms"),
                     ms(led["inclusion_verify"]), ms(led["inclusion_prove_indexed_read"]), "-",
                     ms(led["consistency_prove"]), ms(led["consistency_prove"], "p99_ms"),
                     ms(led["consistency_verify"]), ms(row["checkpoint"]),
                     f"{row['append_many_events_per_second']['median']:,.0f}"])
        if pm:
            rows.append([f"{row['size']:,} pymerkle", ms(pm["inclusion_prove"]), ms(pm["inclusion_prove"], "p99_ms"),
                         ms(pm["inclusion_verify"]), "-", f"{pm['first_inclusion_cold_cache_ms']:.1f}",
                         ms(pm["consistency_prove"]), ms(pm["consistency_prove"], "p99_ms"),
                         ms(pm["consistency_verify"]), "-", "-"])
    out.append(("Proofs and checkpoints by tree size, ms (medians unless p99)",
                ["entries", "incl. prove", "incl. p99", "incl. verify", "incl. PK-read*", "1st cold*", "cons. prove",
                 "cons. p99", "cons. verify", "checkpoint", "append_many/s"], rows))
    out.append(("Targets", ["target", "measured", "met"],
                [[c["target"], c["value"], "yes" if c["met"] else "NO"] for c in report["targets"]]))
    return out


def print_tables(report: dict[str, Any], style: str) -> None:
    benchkit.print_tables(tables(report), style=style)
    print("\n* incl. PK-read: the ledger's proof code with the nodes read by primary-key lookups instead of "
          "Store.read_nodes (diagnostic, not the shipped path). 1st cold: pymerkle's first inclusion proof with "
          "its subtree cache empty.")
    fill = report["fill"]
    print(f"\nbulk fill: {fill['ledger_store_entries']:,} entries through Store.commit_batch at "
          f"{fill['ledger_store_entries_per_second']:,.0f}/s; pymerkle {fill['pymerkle_leaves']:,} leaves at "
          f"{fill['pymerkle_leaves_per_second']:,.0f}/s")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write the full results here")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="tree sizes for proofs and checkpoints")
    parser.add_argument("--events", type=int, default=20_000, help="events per batched throughput run")
    parser.add_argument("--single-events", type=int, default=2_000, help="events per one-at-a-time run")
    parser.add_argument("--repeat", type=int, default=3, help="throughput rounds (median reported)")
    parser.add_argument("--proof-samples", type=int, default=1000, help="proofs per measurement")
    parser.add_argument("--proof-budget", type=float, default=30.0, help="seconds per proof measurement, at most")
    parser.add_argument("--checkpoint-rounds", type=int, default=5)
    parser.add_argument("--pymerkle-max", type=int, default=1_000_000, help="largest tree built with pymerkle")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--format", choices=("rich", "markdown"), default=None,
                        help="table style (default: rich on a terminal, markdown otherwise)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary databases")
    parser.add_argument("--quick", action="store_true", help="small smoke run (about a minute)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.events, args.single_events, args.repeat = "2000,10000", 3000, 300, 1
        args.proof_samples, args.proof_budget, args.checkpoint_rounds = 200, 5.0, 3
    args.sizes = sorted({int(part) for part in str(args.sizes).split(",") if part.strip()})
    if not args.sizes or args.sizes[0] < 2:
        parser.error("--sizes needs tree sizes of at least 2")
    if args.events < BATCH or args.events % BATCH:
        parser.error(f"--events must be a positive multiple of {BATCH}")
    args.single_events = min(args.single_events, args.events)
    args.format = args.format or ("rich" if sys.stdout.isatty() else "markdown")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lifeledger-bench-"))
    started = time.perf_counter()
    load_before = os.getloadavg()
    log(f"working in {work}")
    try:
        key = SigningKey.generate(KEY_ID)
        report: dict[str, Any] = {"machine": machine(PACKAGES), "parameters": {
            k: v for k, v in vars(args).items() if k not in ("json", "format", "keep")}}
        report["parameters"]["storage"] = "SQLite file, WAL, synchronous=FULL (all systems)"
        report["throughput"] = throughput(work, key, args)
        sealed_size = round(report["throughput"]["sizes"]["sealed_payload_bytes"])
        report["scaling"], report["fill"] = scaling(work, key, sealed_size, args)
        report["targets"] = targets(report)
        report["machine"]["load_average_before"] = load_before
        report["machine"]["load_average_after"] = os.getloadavg()
        report["seconds"] = time.perf_counter() - started
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_tables(report, args.format)
    print(f"\ntotal {report['seconds']:.0f} s; load average before {load_before[0]:.2f}, "
          f"after {report['machine']['load_average_after'][0]:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
