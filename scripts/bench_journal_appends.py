"""In-process appends: one signed event, 16 concurrent writers, groups of 5, batches of 1,000; peers beside them.

Every run gets a fresh SQLite file (WAL, ``synchronous=FULL``) and a freshly opened ledger; events are signed
before the clock starts, since clients sign. Each round runs every workload in turn, so background load hits all
of them alike; rates are the median of the rounds, latencies are pooled over them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_journal_workload import BATCH, OWNER, STREAMS, chunks, open_ledger, premium_payload, rates, signed_events
from benchkit import latency_ms, log
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from ledger.crypto.keys import SigningKey
from ledger.log.statements import SignedEvent
from ledger.services.intake import Draft

WARM_UP = 50  # untimed appends before each latency run: connections opened, caches filled
# Five steps of one decision, as a workflow command records them (types no domain package declares, so the
# payload is taken as it is, like a new resource's events).
CASE_STEPS = ("case.reported", "case.assessed", "case.approved", "case.payment_scheduled", "case.closed")
GROUP = len(CASE_STEPS)


@dataclass(frozen=True)
class Inputs:
    """Everything the append workloads need, signed once before the first round."""

    key: SigningKey
    warm: list[SignedEvent]
    single: list[SignedEvent]
    writers: list[list[SignedEvent]]
    batched: list[SignedEvent]
    groups: int

    @classmethod
    def sign(cls, key: SigningKey, *, single: int, writers: int, per_writer: int, batched: int,
             groups: int) -> Inputs:
        log(f"signing {WARM_UP + single + writers * per_writer + batched:,} events (not timed)")
        return cls(key=key, warm=signed_events(key, WARM_UP, "warm"), single=signed_events(key, single, "one"),
                   writers=[signed_events(key, per_writer, f"w{n}") for n in range(writers)],
                   batched=signed_events(key, batched, "many"), groups=groups)


@dataclass
class Run:
    """One measured run: a rate (events per second), for latency workloads one duration per call, and for the
    threaded ones the process's CPU time (user + system, every thread) per call."""

    rate: float
    samples: list[float]
    cpu: float | None = None


# --- lifeledger ------------------------------------------------------------------------------------------------


def ledger_single(root: Path, inputs: Inputs) -> Run:
    """``intake.append`` of one pre-signed event at a time, one caller: each call waits for its commit."""
    ledger = open_ledger(root, inputs.key)
    try:
        for item in inputs.warm:
            ledger.intake.append(item, owner=OWNER)
        samples = []
        for item in inputs.single:
            start = time.perf_counter()
            ledger.intake.append(item, owner=OWNER)
            samples.append(time.perf_counter() - start)
        return Run(len(samples) / sum(samples), samples)
    finally:
        ledger.close()


def threaded(writers: list[Callable[[], list[float]]]) -> Run:
    """Run each writer on its own thread, all released at once; the rate is calls over wall time."""
    barrier = threading.Barrier(len(writers) + 1)
    results: list[list[float]] = [[] for _ in writers]
    errors: list[BaseException] = []

    def work(number: int) -> None:
        barrier.wait()
        try:
            results[number] = writers[number]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,), name=f"bench-writer-{n}") for n in range(len(writers))]
    for thread in threads:
        thread.start()
    barrier.wait()
    start, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    elapsed, busy = time.perf_counter() - start, time.process_time() - cpu
    if errors:
        raise errors[0]
    samples = [s for part in results for s in part]
    return Run(len(samples) / elapsed, samples, cpu=busy / len(samples))


def ledger_concurrent(root: Path, inputs: Inputs) -> Run:
    """Several threads, each appending its own pre-signed events one ``intake.append`` at a time."""
    ledger = open_ledger(root, inputs.key)

    def writer(events: list[SignedEvent]) -> Callable[[], list[float]]:
        def run() -> list[float]:
            samples = []
            for item in events:
                start = time.perf_counter()
                ledger.intake.append(item, owner=OWNER)
                samples.append(time.perf_counter() - start)
            return samples
        return run

    try:
        for item in inputs.warm:
            ledger.intake.append(item, owner=OWNER)
        return threaded([writer(events) for events in inputs.writers])
    finally:
        ledger.close()


def case_drafts(n: int, tag: str) -> tuple[str, list[Draft]]:
    """A case settled in one decision: five events on a new stream ``case:<tag>-<n>``."""
    stream = f"case:{tag}-{n}"
    payload = {"claim": f"CL-{tag}-{n}", "policy_number": f"LL-{n % STREAMS:08d}", "reason_code": "death-benefit",
               "benefit": {"amount": "250000.00", "currency": "CNY"}, "rules": "claims-2026.3"}
    return stream, [Draft(type=step, stream=stream, payload={**payload, "step": number},
                          data_subject=f"person-{n % STREAMS}") for number, step in enumerate(CASE_STEPS)]


def ledger_groups(root: Path, inputs: Inputs) -> Run:
    """``intake.emit_all`` of 5 drafts at ``expected={stream: 0}`` on fresh streams (the ledger signs them)."""
    ledger = open_ledger(root, inputs.key)
    try:
        for n in range(WARM_UP // GROUP):
            stream, drafts = case_drafts(n, "warm")
            ledger.intake.emit_all(drafts, expected={stream: 0})
        work = [case_drafts(n, "g") for n in range(inputs.groups)]
        samples = []
        for stream, drafts in work:
            start = time.perf_counter()
            receipts = ledger.intake.emit_all(drafts, expected={stream: 0})
            samples.append(time.perf_counter() - start)
            if [r.seq for r in receipts] != list(range(1, GROUP + 1)):
                raise RuntimeError(f"group on {stream} landed at seqs {[r.seq for r in receipts]}")
        return Run(len(samples) * GROUP / sum(samples), samples)
    finally:
        ledger.close()


def ledger_batched(root: Path, inputs: Inputs) -> Run:
    """``intake.append_many`` of pre-signed events in batches of ``BATCH``; only the calls are timed."""
    ledger = open_ledger(root, inputs.key)
    try:
        elapsed = 0.0
        for batch in chunks(inputs.batched, BATCH):
            start = time.perf_counter()
            results = ledger.intake.append_many(list(batch), owner=OWNER)
            elapsed += time.perf_counter() - start
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:
                raise RuntimeError(f"append_many refused events: {failed[:3]}")
        return Run(len(inputs.batched) / elapsed, [])
    finally:
        ledger.close()


# --- peers -------------------------------------------------------------------------------------------------------


class Policy(Aggregate):
    """eventsourcing domain model of the same workload: one aggregate per policy, one event per premium."""

    def __init__(self, number: str) -> None:
        self.number = number

    @event("PremiumPaid")
    def pay(self, payload: dict[str, Any]) -> None:
        self.last_payment = payload


class PolicyApplication(Application[uuid.UUID]):
    pass


def es_application(path: Path, policies: int) -> tuple[PolicyApplication, list[Policy]]:
    """An eventsourcing application on SQLite with ``policies`` aggregates created and saved (not timed)."""
    app = PolicyApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})
    created = [Policy(f"LL-{n:08d}") for n in range(policies)]
    app.save(*created)
    return app, created


def es_saver(app: PolicyApplication, policies: list[Policy], count: int, offset: int) -> Callable[[], list[float]]:
    """Save ``count`` premium events one ``save`` each; the event is made before the clock starts."""
    def run() -> list[float]:
        samples = []
        for i in range(offset, offset + count):
            policy = policies[i % len(policies)]
            policy.pay(payload=premium_payload(i))
            start = time.perf_counter()
            app.save(policy)
            samples.append(time.perf_counter() - start)
        return samples
    return run


def es_single(path: Path, inputs: Inputs) -> Run:
    app, policies = es_application(path, STREAMS)
    try:
        es_saver(app, policies, WARM_UP, 0)()
        samples = es_saver(app, policies, len(inputs.single), WARM_UP)()
        return Run(len(samples) / sum(samples), samples)
    finally:
        app.close()


def es_concurrent(path: Path, inputs: Inputs) -> Run:
    """The same threads as the ledger's, each saving its own policies' events on one shared application."""
    writers, per = len(inputs.writers), len(inputs.writers[0])
    app, policies = es_application(path, STREAMS)
    try:
        es_saver(app, policies, WARM_UP, 0)()
        share = len(policies) // writers
        return threaded([es_saver(app, policies[n * share:(n + 1) * share], per, WARM_UP) for n in range(writers)])
    finally:
        app.close()


def es_batched(path: Path, inputs: Inputs) -> Run:
    """``Application.save`` of ``BATCH`` events (one per touched aggregate) per call; only ``save`` is timed."""
    app, policies = es_application(path, STREAMS)
    try:
        count, elapsed = len(inputs.batched), 0.0
        for offset in range(0, count, BATCH):
            touched = []
            for i in range(offset, min(offset + BATCH, count)):
                policy = policies[i % STREAMS]
                policy.pay(payload=premium_payload(i))
                touched.append(policy)
            start = time.perf_counter()
            app.save(*touched)
            elapsed += time.perf_counter() - start
        return Run(count / elapsed, [])
    finally:
        app.close()


def es_recorder_batched(path: Path, inputs: Inputs) -> Run:
    """The SQLite recorder's ``insert_events`` with prebuilt stored events, ``BATCH`` per transaction."""
    ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"policy:{n}") for n in range(STREAMS)]
    stored = [StoredEvent(originator_id=ids[i % STREAMS], originator_version=i // STREAMS + 1,
                          topic="lifeledger.bench:PremiumPaid", state=json.dumps(premium_payload(i)).encode())
              for i in range(len(inputs.batched))]
    datastore = SQLiteDatastore(db_name=str(path))
    try:
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        start = time.perf_counter()
        for group in chunks(stored, BATCH):
            recorder.insert_events(list(group))
        return Run(len(stored) / (time.perf_counter() - start), [])
    finally:
        datastore.close()


def sqlite_bare(path: Path, inputs: Inputs) -> Run:
    """The disk's floor: one 400-byte row per transaction on a bare sqlite3 connection (WAL, synchronous=FULL)."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("CREATE TABLE leaf (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        row = os.urandom(400)
        samples = []
        for _ in range(len(inputs.single)):
            start = time.perf_counter()
            con.execute("BEGIN")
            con.execute("INSERT INTO leaf (data) VALUES (?)", (row,))
            con.execute("COMMIT")
            samples.append(time.perf_counter() - start)
        return Run(len(samples) / sum(samples), samples)
    finally:
        con.close()


def sqlite_default_synchronous(path: Path) -> int:
    """``PRAGMA synchronous`` of a new connection in WAL mode: what eventsourcing's connections run with."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        return int(con.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        con.close()


# --- rounds ------------------------------------------------------------------------------------------------------

LEDGER_RUNS: dict[str, Callable[[Path, Inputs], Run]] = {
    "ledger_single": ledger_single, "ledger_concurrent": ledger_concurrent, "ledger_group": ledger_groups,
    "ledger_batched": ledger_batched,
}
PEER_RUNS: dict[str, Callable[[Path, Inputs], Run]] = {
    "es_single": es_single, "sqlite_bare_single": sqlite_bare, "es_concurrent": es_concurrent,
    "es_batched": es_batched, "es_recorder_batched": es_recorder_batched,
}


def rounds(work: Path, inputs: Inputs, repeat: int, *, peers: bool = True) -> dict[str, dict[str, Any]]:
    """Every workload ``repeat`` times, interleaved; per workload its rates over rounds and pooled latencies.

    A peer that fails (say, a recorder that refuses concurrent savers) is recorded with its error, not raised.
    """
    runs = {**LEDGER_RUNS, **(PEER_RUNS if peers else {})}
    found: dict[str, dict[str, Any]] = {name: {"rates": [], "samples": [], "cpu": []} for name in runs}
    for number in range(repeat):
        log(f"appends round {number + 1}/{repeat}" + ("" if peers else " (lifeledger only)"))
        for name, run in runs.items():
            root = work / f"round-{number}" / name
            root.mkdir(parents=True)
            try:
                result = run(root, inputs) if name.startswith("ledger") else run(root / "db.sqlite", inputs)
            except Exception as exc:
                if name.startswith("ledger"):
                    raise
                found[name]["error"] = f"{type(exc).__name__}: {exc}"
                log(f"  {name} failed: {found[name]['error']}")
                continue
            found[name]["rates"].append(result.rate)
            found[name]["samples"].extend(result.samples)
            if result.cpu is not None:
                found[name]["cpu"].append(result.cpu)
        log("  " + ", ".join(f"{name} {data['rates'][-1]:,.0f}/s" for name, data in found.items() if data["rates"]))
    return {name: summarize(data) for name, data in found.items()}


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"error": data["error"]} if "error" in data else {}
    if data["rates"]:
        out["events_per_second"] = rates(data["rates"])
    if data["samples"]:
        out["latency"] = latency_ms(data["samples"])
    if data.get("cpu"):
        # CPU per event is what each event cost the process; cores, how much of the machine it used (a round's
        # rate times its CPU per event: about 1.0 for a run bound by one interpreter). Both move with the host.
        out["cpu_us_per_event"] = statistics.median(data["cpu"]) * 1e6
        out["cores"] = statistics.median(r * c for r, c in zip(data["rates"], data["cpu"], strict=True))
    return out
