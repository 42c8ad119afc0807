"""Journal benchmark: appends, HTTP intake, proofs and checkpoints on SQLite, beside eventsourcing and pymerkle.

Everything runs in one invocation on one machine, each peer beside lifeledger in the same run, on real SQLite
files (WAL, ``synchronous=FULL``) in a temporary directory. Events are signed before any clock starts, since
clients sign. What is measured, and the issue's target for each:

1. one signed event appended and committed (``ledger.intake.append``, one caller, one at a time): p50 and p99
   latency, target p50 < 1 ms; beside eventsourcing's ``Application.save`` of one event on its SQLite recorder
   and a bare sqlite3 one-row commit (the floor);
2. 16 threads, each appending its own pre-signed events one ``intake.append`` at a time: events/s, target
   >= 6,600/s and ahead of eventsourcing's single save from (1); eventsourcing with 16 threads saving
   concurrently on one application is measured too;
3. a group of 5 events all or none at an expected position (``intake.emit_all([Draft] * 5, expected={stream: 0})``
   on fresh streams; the ledger signs the 5 events inside the call): p50 and p99, target p50 < 1.5 ms;
4. pre-signed events through ``intake.append_many`` in batches of 1,000: events/s, median of ``--repeat`` rounds,
   target >= 5,000/s; beside eventsourcing's ``Application.save`` and recorder ``insert_events`` of 1,000;
5. HTTP: a real ``lifeledger serve`` process and 50 concurrent clients posting distinct pre-signed events to
   ``POST /v1/events`` for ``--http-seconds`` (wrk with a Lua script when wrk is on PATH, else asyncio + httpx):
   requests/s (target >= 1,000), p50/p90/p99 (target p99 < 50 ms), non-2xx, and nothing lost (the entries the
   log grew by equal the 201 answers exactly: every client waits for its last answer);
6. inclusion and consistency proofs through ``ledger.log.inclusion_proof`` / ``consistency_proof`` at each of
   ``--sizes`` (median and p99, target median < 0.5 ms at 10^6), verification timed apart, checkpoint latency
   (``ledger.log.checkpoint_now()`` after 1,000 new entries), and pymerkle's ``SqliteTree`` proofs on the same
   leaves.

The in-process runs (1-4, 6) use the GC thresholds of a serving process (``api.app.tune_gc()``), and (1-4) are
repeated once for lifeledger at CPython's default thresholds; the server in (5) applies ``tune_gc()`` itself.
Tables go to stdout (rich on a terminal, else Markdown), progress to stderr, everything to ``--json``::

    .venv/bin/python scripts/bench_journal.py --json bench-results/journal.json
    .venv/bin/python scripts/bench_journal.py --quick              # smoke run, well under a minute
    .venv/bin/python scripts/bench_journal.py --sections http --http-seconds 5
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bench_journal_appends as appends
import bench_journal_http as http
import bench_journal_proofs as proofs
import bench_journal_report as reporting
import bench_journal_wrk as wrk
import benchkit
from bench_journal_workload import KEY_ID, PACKAGES, gc_thresholds
from benchkit import log

from api.app import GC_THRESHOLDS, tune_gc
from ledger.crypto.keys import SigningKey
from ledger.settings import default_workers

SECTIONS = ("appends", "http", "proofs")
QUICK = {"repeat": 1, "single_events": 300, "writer_events": 100, "groups": 100, "events": 3000, "http_seconds": 3,
         "sizes": "3000,20000", "proof_samples": 200, "proof_budget": 3.0, "checkpoint_rounds": 3}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write every number, the machine and the settings here")
    parser.add_argument("--format", choices=("rich", "markdown"), default=None,
                        help="table style (default: rich on a terminal, markdown otherwise)")
    parser.add_argument("--quick", action="store_true", help="small smoke run (well under a minute)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="which of appends,http,proofs to run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the in-process append workloads")
    parser.add_argument("--single-events", type=int, default=2000, help="appends timed one at a time (1.)")
    parser.add_argument("--writers", type=int, default=16, help="concurrent writer threads (2.)")
    parser.add_argument("--writer-events", type=int, default=500, help="events per writer thread (2.)")
    parser.add_argument("--groups", type=int, default=500, help="groups of 5 per round (3.)")
    parser.add_argument("--events", type=int, default=20_000, help="events per batched run, a multiple of 1000 (4.)")
    parser.add_argument("--no-gc-defaults", dest="gc_defaults", action="store_false",
                        help="skip the lifeledger round at CPython's default GC thresholds")
    parser.add_argument("--http-seconds", type=int, default=10, help="seconds of HTTP load (5.)")
    parser.add_argument("--http-clients", type=int, default=50, help="concurrent HTTP clients (5.)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="the HTTP server's worker processes (5.; default: serve's, one per CPU, at most 4)")
    parser.add_argument("--http-generator", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator: wrk if on PATH (auto), or asyncio + httpx in this process")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="tree sizes for proofs and checkpoints (6.)")
    parser.add_argument("--proof-samples", type=int, default=1000, help="proofs per measurement")
    parser.add_argument("--proof-budget", type=float, default=30.0, help="seconds per proof measurement, at most")
    parser.add_argument("--checkpoint-rounds", type=int, default=5, help="checkpoints timed per size")
    parser.add_argument("--pymerkle-max", type=int, default=1_000_000, help="largest tree built with pymerkle")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--keep", action="store_true", help="keep the temporary databases")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    args.sections = [part.strip() for part in str(args.sections).split(",") if part.strip()]
    if not args.sections or set(args.sections) - set(SECTIONS):
        parser.error(f"--sections takes some of {', '.join(SECTIONS)}")
    args.sizes = sorted({int(part) for part in str(args.sizes).split(",") if part.strip()})
    if not args.sizes or args.sizes[0] < 2:
        parser.error("--sizes needs tree sizes of at least 2")
    if args.events < 1000 or args.events % 1000:
        parser.error("--events must be a positive multiple of 1000")
    if args.writers < 1 or args.writer_events < 1 or args.single_events < 1 or args.groups < 1:
        parser.error("--writers, --writer-events, --single-events and --groups must be positive")
    args.format = args.format or ("rich" if sys.stdout.isatty() else "markdown")
    return args


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    hidden = ("json", "format", "keep")
    out = {name: value for name, value in vars(args).items() if name not in hidden}
    out["storage"] = "SQLite files, WAL, synchronous=FULL (lifeledger, bare sqlite3, pymerkle switched to it; " \
                     "eventsourcing runs WAL at SQLite's default synchronous)"
    out["in_process_checkpoint_interval"] = "one day (no background checkpoints while measuring)"
    return out


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    interpreter_default = gc.get_threshold()
    tune_gc()  # what a serving process runs (api.app's lifespan); the in-process measurements use it too
    report: dict[str, Any] = {
        "commit": benchkit.commit(), "machine": benchkit.machine(PACKAGES), "settings": settings_of(args),
        "gc": {"interpreter_default": list(interpreter_default), "in_effect": list(gc.get_threshold()),
               "tuned": list(GC_THRESHOLDS), "note": "in-process runs use api.app.tune_gc() as a serving process "
                                                     "does; the HTTP server applies it in its lifespan"},
    }
    report["machine"]["wrk"] = wrk.version() if wrk.available() else None
    report["machine"]["sqlite_default_synchronous"] = appends.sqlite_default_synchronous(work / "pragma.db")
    key = SigningKey.generate(KEY_ID)

    def measure_appends() -> None:
        inputs = appends.Inputs.sign(key, single=args.single_events, writers=args.writers,
                                     per_writer=args.writer_events, batched=args.events, groups=args.groups)
        report["appends"] = {"gc_thresholds": list(gc.get_threshold()), "rounds": args.repeat,
                             "results": appends.rounds(work / "appends", inputs, args.repeat)}
        if args.gc_defaults:
            with gc_thresholds(interpreter_default):
                results = appends.rounds(work / "appends-gc-default", inputs, 1, peers=False)
            report["appends_gc_defaults"] = {"gc_thresholds": list(interpreter_default), "rounds": 1,
                                             "results": results}

    def measure_http() -> None:
        log(f"HTTP: lifeledger serve, {args.http_clients} clients, {args.http_seconds} s")
        report["http"] = http.benchmark(work / "http", key, seconds=args.http_seconds,
                                        connections=args.http_clients, generator=args.http_generator,
                                        workers=args.workers)

    def measure_proofs() -> None:
        report["proofs"] = proofs.scaling(work / "proofs", key, sizes=args.sizes, samples=args.proof_samples,
                                          budget=args.proof_budget, rounds=args.checkpoint_rounds,
                                          pymerkle_max=args.pymerkle_max, seed=args.seed)

    sections: dict[str, Callable[[], None]] = {
        "appends": measure_appends, "http": measure_http, "proofs": measure_proofs}
    for name in args.sections:
        try:
            sections[name]()
        except Exception as exc:  # keep what the other sections measured; the failure is reported with them
            log(f"section {name} failed:\n{traceback.format_exc()}")
            report.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
            report.pop(name, None)
    report["targets"] = reporting.targets(report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lifeledger-bench-"))
    started = time.perf_counter()
    load_before = os.getloadavg()
    log(f"working in {work}; sections {', '.join(args.sections)}")
    try:
        report = run(args, work)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = time.perf_counter() - started
    return benchkit.finish(report, tables=reporting.tables, notes=reporting.notes, load_before=load_before,
                           json_path=args.json, style=args.format)


if __name__ == "__main__":
    raise SystemExit(main())
