"""Anchoring benchmark: gas per anchored event and checkpoint-to-confirmed-anchor latency of the real worker.

Measures, in one run, on the embedded chain (eth-tester over py-evm, state in SQLite) and on a ``hardhat node``
started on a free loopback port from ``node_modules`` (stopped by its PID at the end):

1. gas per anchored event. lifeledger posts one ``(tree_size, root)`` per signed checkpoint through
   ``LedgerAnchor.anchor``, so a checkpoint that covers N new events costs one transaction:
   gas/event = receipt ``gasUsed`` / N. The checkpoints are real ones (signed events appended through
   ``Ledger.append_many``, ``checkpoint_now()``) anchored by the real worker (``Anchorer.run_once()``).
   The baseline is naive anchoring, one transaction per event: the same ``LedgerAnchor.anchor`` called once per
   event with that event's RFC 6962 leaf hash as ``root`` and a running counter as ``tree_size``, on a contract
   of its own, sent through ``Chain.send(..., gas=...)`` (explicit gas, nonces counted locally) and every
   receipt read back. Both sides are measured after one warm-up anchor, so neither pays for first-time storage;
   the first anchor of a fresh contract is reported on its own.
2. anchoring latency: from ``checkpoint_now()`` returning a new signed checkpoint to the worker having recorded
   its anchor as confirmed (``anchor_confirmations`` = 1), over ``--checkpoints`` checkpoints of
   ``--events-per-checkpoint`` events each, in two modes: ``run_once()`` rounds called back to back (the worker's
   own cost: one round sends, the next sees the receipt) and the background worker thread with
   ``anchor_interval`` = ``--interval`` (what a deployment sees, polled every 5 ms in the database).
3. throughput: anchors per second the worker sustains back to back, and raw transactions per second of
   ``Chain.send`` with explicit gas during the naive run.

Prints markdown tables to stdout, progress to stderr, and optionally writes JSON with machine information and
parameters. Run from the project root (it imports ``tests.chain_nodes``)::

    .venv/bin/python scripts/bench_anchoring.py --json bench-results/anchoring.json
    .venv/bin/python scripts/bench_anchoring.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python scripts/bench_anchoring.py` puts scripts/ first, not the project root
    sys.path.insert(0, str(ROOT))

import benchkit  # noqa: E402
from benchkit import log, machine, percentile  # noqa: E402

from ledger.anchoring import Chain, LedgerAnchorContract, connect  # noqa: E402
from ledger.anchoring.following import WATCH_DEPTH  # noqa: E402
from ledger.app import Ledger  # noqa: E402
from ledger.crypto.keys import SigningKey  # noqa: E402
from ledger.log.statements import SignedEvent, sign_event  # noqa: E402
from ledger.projections.scopes import KeyScope  # noqa: E402
from ledger.settings import Settings  # noqa: E402
from ledger.store.anchors import CHECKPOINT, CONFIRMED, FAILED, AnchorJob  # noqa: E402
from tests.chain_nodes import NodeProcess  # noqa: E402

OWNER = "policy-admin"
SCOPE = KeyScope.from_json({"types": ["policy.*", "premium.*"], "streams": ["policy"]})
KEY_ID = "bench-1"
ORIGIN = "bench.lifeledger/log"
HARDHAT_CHAIN_ID = 31337
NEVER = 86_400.0  # checkpoint interval: checkpoints are cut by hand only
APPEND_CHUNK = 1000
NAIVE_GAS = 150_000  # explicit gas limit of each naive transaction (LedgerAnchor.anchor uses about 75,000)
TARGET_EVENTS, TARGET_GAS = 10_000, 100  # target: under 100 gas per event at 10,000 events per checkpoint
ROUND_TIMEOUT = 120.0
WATCH_RECENT = 20  # the worker re-checks confirmed anchors among this many recent checkpoint jobs



# --- workload ----------------------------------------------------------------------------------------------------


PACKAGES = ("web3", "eth-tester", "py-evm", "SQLAlchemy")  # versions recorded with the results

def premium_events(key: SigningKey, count: int) -> list[SignedEvent]:
    """Signed premium-payment events of the kind a policy administration system posts."""
    events = []
    for i in range(count):
        policy = i % 1000
        payload = {"policy_number": f"LL-{policy:08d}", "premium": {"amount": "41.20", "currency": "CNY"},
                   "period": {"from": "2026-01-01", "to": "2026-01-31"}, "reference": f"PAY-{i:012d}"}
        events.append(sign_event(key=key, event_id=f"pay-{i}", type="policy.premium_paid",
                                 stream=f"policy:{policy}", payload=payload, data_subject=f"person-{policy}"))
    return events


class EventFeed:
    """Hands out the pre-signed events in order and appends them to one ledger."""

    def __init__(self, ledger: Ledger, events: Sequence[SignedEvent]) -> None:
        self._ledger = ledger
        self._events = events
        self._next = 0

    def append(self, count: int) -> None:
        if self._next + count > len(self._events):
            raise RuntimeError("the benchmark signed too few events")
        for start in range(self._next, self._next + count, APPEND_CHUNK):
            batch = list(self._events[start:min(start + APPEND_CHUNK, self._next + count)])
            failures = [r for r in self._ledger.intake.append_many(batch, owner=OWNER) if isinstance(r, Exception)]
            if failures:
                raise RuntimeError(f"append failed: {failures[0]}")
        self._next += count


def open_ledger(data_dir: Path, key: SigningKey, *, chain_url: str, interval: float) -> Ledger:
    """A started ledger (no background anchoring) with ``key`` registered: the log holds one entry."""
    values: dict[str, Any] = {"data_dir": data_dir, "chain_url": chain_url, "checkpoint_interval": NEVER,
                              "anchor_interval": interval, "anchor_confirmations": 1, "origin": ORIGIN}
    if chain_url != "embedded":
        values["chain_id"] = HARDHAT_CHAIN_ID
    ledger = Ledger.open(Settings(**values))
    ledger.start(anchoring=False)
    if ledger.anchoring.anchorer is None:
        raise RuntimeError("anchoring is not configured")
    if chain_url != "embedded":
        ledger.anchoring.anchorer.deploy()  # the embedded chain deploys on first use; a node needs it explicitly
    ledger.keys.register(key_id=key.key_id, owner=OWNER, public_key=key.public_key, scope=SCOPE)
    return ledger


# --- statistics --------------------------------------------------------------------------------------------------



def summary_ms(samples: Sequence[float]) -> dict[str, Any]:
    """Median, p95, min and max of durations in seconds, reported in milliseconds."""
    return {"n": len(samples), "median_ms": statistics.median(samples) * 1e3, "p95_ms": percentile(samples, 95) * 1e3,
            "min_ms": min(samples) * 1e3, "max_ms": max(samples) * 1e3}


# --- the worker --------------------------------------------------------------------------------------------------


def checkpoint_job(ledger: Ledger, tree_size: int) -> AnchorJob | None:
    """The anchoring job of the checkpoint of ``tree_size`` entries; raises if the worker gave it up."""
    for job in ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT, limit=5):
        if job.tree_size == tree_size:
            if job.status == FAILED:
                raise RuntimeError(f"anchor of tree size {tree_size} failed: {job.last_error}")
            return job
    return None


def cut(ledger: Ledger) -> int:
    row = ledger.log.checkpoint_now()
    if row is None:
        raise RuntimeError("no checkpoint: the log is empty")
    return row.tree_size


def anchor_by_rounds(ledger: Ledger, tree_size: int, round_times: list[float] | None = None) -> tuple[AnchorJob, int]:
    """Run worker rounds until the checkpoint of ``tree_size`` is confirmed; return its job and the rounds run."""
    anchorer = ledger.anchoring.anchorer
    assert anchorer is not None
    deadline = time.perf_counter() + ROUND_TIMEOUT
    rounds = 0
    while True:
        started = time.perf_counter()
        anchorer.run_once()
        if round_times is not None:
            round_times.append(time.perf_counter() - started)
        rounds += 1
        job = checkpoint_job(ledger, tree_size)
        if job is not None and job.status == CONFIRMED:
            return job, rounds
        if time.perf_counter() > deadline:
            raise RuntimeError(f"checkpoint {tree_size} not anchored after {rounds} rounds")


def wait_confirmed(ledger: Ledger, tree_size: int) -> AnchorJob:
    """Poll the outbox until the background worker has confirmed the anchor of ``tree_size``."""
    deadline = time.perf_counter() + ROUND_TIMEOUT
    while True:
        job = checkpoint_job(ledger, tree_size)
        if job is not None and job.status == CONFIRMED:
            return job
        if time.perf_counter() > deadline:
            raise RuntimeError(f"checkpoint {tree_size} not anchored in {ROUND_TIMEOUT:.0f} s: "
                               f"{ledger.anchoring.anchorer.last_error if ledger.anchoring.anchorer else None}")
        time.sleep(0.005)


def lifeledger_gas_run(ledger: Ledger, feed: EventFeed, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Anchor the first checkpoint (the key registration), then one checkpoint per entry of ``sizes``."""
    steps = []
    first = cut(ledger)
    job, rounds = anchor_by_rounds(ledger, first)
    steps.append({"events": first, "tree_size": first, "first_anchor": True, "tx_hash": job.tx_hash, "rounds": rounds})
    for size in sizes:
        feed.append(size)
        tree_size = cut(ledger)
        job, rounds = anchor_by_rounds(ledger, tree_size)
        steps.append({"events": size, "tree_size": tree_size, "first_anchor": False, "tx_hash": job.tx_hash,
                      "rounds": rounds})
        log(f"  checkpoint of {tree_size:,} entries ({size:,} new) anchored in {rounds} rounds")
    return steps


def rechecked(ledger: Ledger) -> int:
    """Confirmed anchors the worker re-reads every round (re-org watch): fewer than WATCH_DEPTH confirmations."""
    jobs = ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT, limit=WATCH_RECENT)
    return sum(1 for job in jobs if job.status == CONFIRMED and job.confirmations < WATCH_DEPTH)


def latency_by_rounds(ledger: Ledger, feed: EventFeed, count: int, per_checkpoint: int) -> dict[str, Any]:
    samples: list[float] = []
    round_times: list[float] = []
    rounds: list[int] = []
    watched: list[int] = []
    for _ in range(count):
        feed.append(per_checkpoint)
        watched.append(rechecked(ledger))
        tree_size = cut(ledger)
        started = time.perf_counter()
        _, used = anchor_by_rounds(ledger, tree_size, round_times)
        samples.append(time.perf_counter() - started)
        rounds.append(used)
    return {"latency": summary_ms(samples), "rounds_per_anchor": statistics.median(rounds),
            "round": summary_ms(round_times), "anchors_per_second": count / sum(samples),
            "rechecked_anchors_median": statistics.median(watched), "rechecked_anchors": watched,
            "samples_ms": [s * 1e3 for s in samples], "rounds": rounds}


def latency_background(ledger: Ledger, feed: EventFeed, count: int, per_checkpoint: int) -> dict[str, Any]:
    anchorer = ledger.anchoring.anchorer
    assert anchorer is not None
    samples, watched = [], []
    anchorer.start()
    try:
        for _ in range(count):
            feed.append(per_checkpoint)
            watched.append(rechecked(ledger))
            tree_size = cut(ledger)
            started = time.perf_counter()
            wait_confirmed(ledger, tree_size)
            samples.append(time.perf_counter() - started)
    finally:
        anchorer.stop()
    return {"latency": summary_ms(samples), "anchors_per_second": count / sum(samples),
            "rechecked_anchors_median": statistics.median(watched), "rechecked_anchors": watched,
            "samples_ms": [s * 1e3 for s in samples]}


def worker_run(name: str, ledger: Ledger, events: Sequence[SignedEvent], args: argparse.Namespace,
               gas_of: Callable[[list[dict[str, Any]]], None], leaves: int) -> tuple[dict[str, Any], list[bytes]]:
    """Gas steps, then latency by rounds, then latency of the background worker, on one ledger; closes it.

    Also returns the leaf hashes of the log's first ``leaves`` entries (for the naive run).
    """
    feed = EventFeed(ledger, events)
    log(f"{name}: gas of checkpoints covering {', '.join(f'{s:,}' for s in args.sizes)} events")
    steps = lifeledger_gas_run(ledger, feed, args.sizes)
    log(f"{name}: latency over the next {WATCH_DEPTH} checkpoints (re-org watch list filling), run_once() rounds")
    warming = latency_by_rounds(ledger, feed, WATCH_DEPTH, args.events_per_checkpoint)
    log(f"{name}: latency over {args.checkpoints} checkpoints, run_once() rounds")
    rounds = latency_by_rounds(ledger, feed, args.checkpoints, args.events_per_checkpoint)
    log(f"{name}: latency over {args.checkpoints} checkpoints, background worker (interval {args.interval} s)")
    background = latency_background(ledger, feed, args.checkpoints, args.events_per_checkpoint)
    leaf_hashes = [row.leaf_hash for row in ledger.store.iter_entries(0, leaves)]
    ledger.close()
    gas_of(steps)
    for step in steps:
        step["gas_per_event"] = step["gas"] / step["events"]
        step["tx_hash"] = "0x" + step["tx_hash"].hex()
    return {"gas": steps, "latency_rounds_warming": warming, "latency_rounds": rounds,
            "latency_background": background}, leaf_hashes


# --- naive anchoring ---------------------------------------------------------------------------------------------


def rpc_batch(url: str, method: str, params: Sequence[Sequence[Any]], *, chunk: int = 500) -> list[Any]:
    """One JSON-RPC method over many parameter lists, ``chunk`` requests per HTTP batch; results in order."""
    results: list[Any] = []
    for start in range(0, len(params), chunk):
        body = [{"jsonrpc": "2.0", "id": n, "method": method, "params": list(p)}
                for n, p in enumerate(params[start:start + chunk])]
        request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answers = sorted(json.loads(response.read()), key=lambda a: a["id"])
        for answer in answers:
            if "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
            results.append(answer["result"])
    return results


def naive_run(chain: Chain, leaf_hashes: Sequence[bytes], sizes: Sequence[int],
              receipts: Callable[[list[bytes]], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One ``anchor`` transaction per event on a fresh LedgerAnchor: a warm-up event, then each of ``sizes``."""
    address = chain.deploy("LedgerAnchor", chain.sender, chain.sender)
    contract = LedgerAnchorContract(chain, address)
    plan = [("first", 1), *((str(size), size) for size in sizes)]
    if 1 + sum(sizes) > len(leaf_hashes):
        raise RuntimeError("too few events for the naive run")
    counter = 0
    steps = []
    for label, size in plan:
        hashes = []
        started = time.perf_counter()
        for _ in range(size):
            hashes.append(contract.anchor(counter + 1, leaf_hashes[counter], gas=NAIVE_GAS))
            counter += 1
        sent = time.perf_counter() - started
        found = receipts(hashes)
        confirmed = time.perf_counter() - started
        failed = [r for r in found if int(r["status"]) != 1]
        if failed:
            raise RuntimeError(f"{len(failed)} naive transactions reverted")
        gas = [int(r["gasUsed"]) for r in found]
        steps.append({"events": size, "first_anchor": label == "first", "transactions": size, "gas": sum(gas),
                      "gas_per_event": sum(gas) / size, "gas_min": min(gas), "gas_max": max(gas),
                      "send_seconds": sent, "send_tx_per_second": size / sent,
                      "seconds_to_all_receipts": confirmed})
        if size > 1:
            log(f"  naive {size:,}: {size / sent:,.0f} tx/s sent, all receipts after {confirmed:.1f} s")
    latest = contract.latest()
    if latest.tree_size != counter or latest.root != leaf_hashes[counter - 1]:
        raise RuntimeError(f"naive contract holds {latest}, expected size {counter}")
    return steps


def embedded_receipts(chain: Chain) -> Callable[[list[bytes]], list[dict[str, Any]]]:
    def read(hashes: list[bytes]) -> list[dict[str, Any]]:
        found = []
        for tx_hash in hashes:
            receipt = chain.receipt(tx_hash)
            if receipt is None:
                raise RuntimeError(f"no receipt for 0x{tx_hash.hex()}")
            found.append(dict(receipt))
        return found

    return read


def node_receipts(url: str) -> Callable[[list[bytes]], list[dict[str, Any]]]:
    def read(hashes: list[bytes]) -> list[dict[str, Any]]:
        pending = list(hashes)
        found: dict[bytes, dict[str, Any]] = {}
        deadline = time.perf_counter() + ROUND_TIMEOUT
        while pending:
            answers = rpc_batch(url, "eth_getTransactionReceipt", [["0x" + h.hex()] for h in pending])
            for tx_hash, answer in zip(pending, answers, strict=True):
                if answer is not None:
                    found[tx_hash] = {"status": int(answer["status"], 16), "gasUsed": int(answer["gasUsed"], 16)}
            pending = [h for h in pending if h not in found]
            if pending and time.perf_counter() > deadline:
                raise RuntimeError(f"{len(pending)} naive transactions have no receipt")
            if pending:
                time.sleep(0.05)
        return [found[h] for h in hashes]

    return read


# --- phases ------------------------------------------------------------------------------------------------------


def embedded_phase(work: Path, key: SigningKey, events: Sequence[SignedEvent],
                   args: argparse.Namespace) -> dict[str, Any]:
    data_dir = work / "embedded"
    ledger = open_ledger(data_dir, key, chain_url="embedded", interval=args.interval)

    def gas_of(steps: list[dict[str, Any]]) -> None:
        # The worker has closed the chain; the receipts persist in the chain's SQLite file.
        with connect("embedded", data_dir=data_dir) as chain:
            for step in steps:
                receipt = chain.receipt(step["tx_hash"])
                assert receipt is not None and receipt["status"] == 1
                step["gas"] = int(receipt["gasUsed"])

    result, naive_leaves = worker_run("embedded", ledger, events, args, gas_of, 1 + sum(args.embedded_naive_sizes))
    log(f"embedded: naive anchoring of {', '.join(f'{s:,}' for s in args.embedded_naive_sizes)} events")
    with connect("embedded", data_dir=work / "embedded-naive") as chain:
        result["naive"] = naive_run(chain, naive_leaves, args.embedded_naive_sizes, embedded_receipts(chain))
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def hardhat_node(work: Path) -> Iterator[NodeProcess]:
    node = NodeProcess("hardhat", free_port(), work)
    node.start()
    log(f"hardhat node on {node.url}, pid {node.process.pid if node.process else '?'}")
    try:
        yield node
    finally:
        node.stop()


def hardhat_phase(work: Path, key: SigningKey, events: Sequence[SignedEvent],
                  args: argparse.Namespace) -> dict[str, Any]:
    directory = work / "hardhat"
    directory.mkdir()
    with hardhat_node(directory) as node:
        web3 = Web3(HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        data_dir = directory / "ledger"
        ledger = open_ledger(data_dir, key, chain_url=node.url, interval=args.interval)
        receipts = node_receipts(node.url)

        def gas_of(steps: list[dict[str, Any]]) -> None:
            for step, found in zip(steps, receipts([s["tx_hash"] for s in steps]), strict=True):
                step["gas"] = found["gasUsed"]

        result, naive_leaves = worker_run("hardhat", ledger, events, args, gas_of, 1 + sum(args.sizes))
        result["hardhat_client"] = web3.client_version
        # A second development account sends the naive transactions: its own nonces, its own contract.
        naive_chain = Chain(web3, sender=list(web3.eth.accounts)[1], account=None)
        log(f"hardhat: naive anchoring of {', '.join(f'{s:,}' for s in args.sizes)} events, one transaction each")
        result["naive"] = naive_run(naive_chain, naive_leaves, args.sizes, receipts)
        naive_chain.close()
    return result


# --- report ------------------------------------------------------------------------------------------------------



def by_events(steps: Sequence[dict[str, Any]], events: int) -> dict[str, Any]:
    return next(s for s in steps if s["events"] == events and not s["first_anchor"])


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    for chain in ("embedded", "hardhat"):
        steps = report[chain]["gas"]
        target = f"under {TARGET_GAS} gas per event at {TARGET_EVENTS:,} events per checkpoint ({chain})"
        if any(s["events"] == TARGET_EVENTS and not s["first_anchor"] for s in steps):
            value = by_events(steps, TARGET_EVENTS)["gas_per_event"]
            checks.append({"target": target, "value": f"{value:.2f}", "met": value < TARGET_GAS})
        else:
            checks.append({"target": target, "value": "not measured (--sizes)", "met": None})
    return checks


def fmt_ms(stats: dict[str, Any], key: str) -> str:
    return f"{stats[key]:,.0f}" if stats[key] >= 100 else f"{stats[key]:.1f}"


def tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    hh, em = report["hardhat"], report["embedded"]
    rows = []
    for size in report["parameters"]["sizes"]:
        ours_hh, naive = by_events(hh["gas"], size), by_events(hh["naive"], size)
        ours_em = by_events(em["gas"], size)
        rows.append([f"{size:,}", f"{ours_hh['gas']:,}", f"{ours_hh['gas_per_event']:,.2f}",
                     f"{ours_em['gas_per_event']:,.2f}", f"{naive['transactions']:,}", f"{naive['gas']:,}",
                     f"{naive['gas_per_event']:,.0f}", f"{naive['gas_per_event'] / ours_hh['gas_per_event']:,.0f}x"])
    first_hh, first_naive = hh["gas"][0], hh["naive"][0]
    rows.append([f"{first_hh['events']} (first anchor of a fresh contract)", f"{first_hh['gas']:,}",
                 f"{first_hh['gas_per_event']:,.2f}", f"{em['gas'][0]['gas_per_event']:,.2f}", "1",
                 f"{first_naive['gas']:,}", f"{first_naive['gas_per_event']:,.0f}", "-"])
    out = [("Gas per anchored event: one checkpoint anchor vs one transaction per event",
            ["events", "checkpoint tx gas (hardhat)", "gas/event (hardhat)", "gas/event (embedded)",
             "naive txs", "naive total gas (hardhat)", "naive gas/event", "naive / checkpoint"], rows)]

    lat = []
    modes = (("latency_rounds_warming", "run_once() back to back, first anchors after start"),
             ("latency_rounds", "run_once() back to back"),
             ("latency_background", f"background worker, interval {report['parameters']['interval']} s"))
    for name, label in (("embedded", "embedded chain"), ("hardhat", "hardhat node")):
        for mode, how in modes:
            cell = report[name][mode]
            stats = cell["latency"]
            watched = cell["rechecked_anchors"]
            lat.append([label, how, str(stats["n"]), f"{min(watched)}-{max(watched)}", fmt_ms(stats, "median_ms"),
                        fmt_ms(stats, "p95_ms"), fmt_ms(stats, "max_ms"), f"{cell['anchors_per_second']:.1f}"])
    out.append(("Anchoring latency, new signed checkpoint to confirmed anchor (1 confirmation), ms",
                ["chain", "worker", "checkpoints", "anchors re-checked per round*", "median", "p95", "max",
                 "anchors/s"], lat))

    thr = []
    for name, label in (("embedded", "embedded chain"), ("hardhat", "hardhat node")):
        rounds = report[name]["latency_rounds"]
        biggest = max(report[name]["naive"], key=lambda s: s["events"])
        thr.append([label, f"{rounds['rounds_per_anchor']:.0f}", fmt_ms(rounds["round"], "median_ms"),
                    f"{rounds['anchors_per_second']:.1f}",
                    f"{biggest['send_tx_per_second']:,.0f} ({biggest['events']:,} txs)"])
    out.append(("Throughput: worker rounds and raw Chain.send",
                ["chain", "rounds/anchor", "round median ms", "worker anchors/s",
                 "Chain.send(gas=...) tx/s"], thr))
    out.append(("Target", ["target", "measured", "met"],
                [[c["target"], c["value"], {True: "yes", False: "NO", None: "-"}[c["met"]]]
                 for c in report["targets"]]))
    return out


def print_tables(report: dict[str, Any]) -> None:
    benchkit.print_tables(tables(report))
    print(f"\n* confirmed anchors with fewer than {WATCH_DEPTH} confirmations, which the re-org watch reads back "
          "from the contract when the chain head has moved, counted when each checkpoint was cut.")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write the full results here")
    parser.add_argument("--sizes", default="1,100,10000", help="events per checkpoint (and naive transactions)")
    parser.add_argument("--embedded-naive-max", type=int, default=100,
                        help="largest naive run on the embedded chain (it sends about 60 tx/s)")
    parser.add_argument("--checkpoints", type=int, default=20, help="checkpoints per latency measurement")
    parser.add_argument("--events-per-checkpoint", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.1, help="anchor_interval of the background worker, s")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--quick", action="store_true", help="small smoke run (sizes 1,100,1000; 5 checkpoints)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.checkpoints = "1,100,1000", 5
    args.sizes = sorted({int(part) for part in str(args.sizes).split(",") if part.strip()})
    if not args.sizes or args.sizes[0] < 1:
        parser.error("--sizes needs positive event counts")
    if args.checkpoints < 1 or args.events_per_checkpoint < 1 or args.interval <= 0:
        parser.error("--checkpoints, --events-per-checkpoint and --interval must be positive")
    args.embedded_naive_sizes = [s for s in args.sizes if s <= args.embedded_naive_max]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lifeledger-bench-anchoring-"))
    started = time.perf_counter()
    load_before = os.getloadavg()
    log(f"working in {work}")
    try:
        key = SigningKey.generate(KEY_ID)
        needed = sum(args.sizes) + (WATCH_DEPTH + 2 * args.checkpoints) * args.events_per_checkpoint
        log(f"signing {needed:,} events")
        events = premium_events(key, needed)
        report: dict[str, Any] = {"machine": machine(PACKAGES, node=True), "parameters": {
            "sizes": args.sizes, "embedded_naive_sizes": args.embedded_naive_sizes, "checkpoints": args.checkpoints,
            "events_per_checkpoint": args.events_per_checkpoint, "interval": args.interval, "quick": args.quick,
            "anchor_confirmations": 1, "naive_gas_limit": NAIVE_GAS,
            "naive": "LedgerAnchor.anchor(i, leaf_hash(event i)) once per event, i = 1, 2, ... on its own contract; "
                     "Chain.send with explicit gas and locally counted nonces; every receipt read back",
            "latency": "checkpoint_now() returned -> anchor job CONFIRMED in the outbox"}}
        report["embedded"] = embedded_phase(work, key, events, args)
        report["hardhat"] = hardhat_phase(work, key, events, args)
        report["targets"] = targets(report)
        report["machine"]["load_average_before"] = load_before
        report["machine"]["load_average_after"] = os.getloadavg()
        report["seconds"] = time.perf_counter() - started
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_tables(report)
    print(f"\ntotal {report['seconds']:.0f} s; load average before {load_before[0]:.2f}, "
          f"after {report['machine']['load_average_after'][0]:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
