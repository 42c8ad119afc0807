"""Evidence bundle benchmark: take the bundle of a claim with 50 events the real way, and verify it offline.

0. set-up, untimed: a new ledger in a temporary data dir (SQLite file, anchoring off) with one medical policy
   issued 120 days ago and the hospital's key registered (``bench_claims.set_up``); then, through the
   ``ClaimsService`` in process, the customer reports a claim, the hospital's signed e-invoice is taken into it
   (an entry on the hospital's stream that the claim cites as evidence, signed by a system key, so the bundle
   carries that key's history), and an adjuster adds progress notes until the claim's stream holds ``--events``
   events (each note has a personal part sealed under the insured's key). An administrator grants the auditor
   the claim's medical and personal data, so every payload and personal part is opened;
1. take the bundle: ``ledger.trails.claim_bundle(claim_id, auditor=...)``, the path ``GET
   /v1/audit/claims/{id}/bundle`` runs: the selection (the claim's stream, the entries it cites, its documents,
   the e-policy's versions, the insured's party stream, the grants' openings, the openings lost to an erasure),
   the ledger's record of the read (``audit.trail.read``, a write and its commit), the selection made again to
   compare, the checkpoint cut to cover it, and the build (entries, inclusion proofs, openings, key history,
   documents, section digests); ``--runs`` times after ``WARM_UP`` untimed ones. Target p99 < 200 ms;
2. verify: ``ledger/verify/offline.py``'s strict ``loads`` of the bundle's JSON text and ``verify`` with the
   ledger's vkey, ``--runs`` times: shape, every leaf, proof, signature, opening, the read record, the whole
   streams, the selection, the erased openings, the key heads and the documents section. Target p99 < 200 ms.
   The whole script as a process (interpreter start, imports, reading the file, the report) is timed
   ``PROCESS_RUNS`` times for reference, without a target.

Tables go to stdout (rich on a terminal, else Markdown), progress to stderr, everything to ``--json``::

    .venv/bin/python scripts/bench_bundle.py --json bench-results/bundle.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import benchkit
from bench_claims import HOSPITAL, set_up
from benchkit import Table, log

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.claims.service import Caller
from ledger.kernel import Actor
from ledger.log.statements import sign_event
from ledger.settings import Settings
from ledger.verify import offline

PACKAGES = ("cryptography", "rfc8785", "SQLAlchemy")
WARM_UP = 3
PROCESS_RUNS = 5
TARGET_MS = 200.0
ACCOUNT = {"bank": "ICBC", "number": "6222020200112233445", "name": "王五"}
AUDITOR = "bench-auditor"


def make_claim(data_dir: Path, *, events: int) -> tuple[str, str]:
    """The set-up: a policy, a claim with ``events`` events on its stream (report, the hospital's invoice taken
    in, progress notes); returns the claim id and the ledger's vkey."""
    made = set_up(data_dir, policies=1, kpi_claims=0)
    policy_no, customer = made.policies[0]
    ledger = Ledger.open(Settings(data_dir=data_dir, chain_url="none"))
    ledger.start(anchoring=False, policy_clock=False)
    try:
        claims = ledger.claims
        loss = claims.today() - timedelta(days=5)
        state = claims.report(policy_no, {"claim_type": "medical", "loss_date": loss.isoformat(),
                                          "description": "住院治疗", "account": ACCOUNT},
                              Caller(role="customer", subject=customer))
        claim_id = state.claim_id
        total = Decimal("11500.00")
        invoice = sign_event(
            key=made.hospital, event_id=f"inv-{uuid.uuid4().hex[:12]}", type=ev.HOSPITAL_INVOICE,
            stream="hospital:h001", data_subject=HOSPITAL,
            payload={"claim_id": claim_id, "policy_no": policy_no, "invoice_no": f"INV-{uuid.uuid4().hex[:10]}",
                     "hospital": "H001", "admitted": loss.isoformat(),
                     "discharged": (loss + timedelta(days=4)).isoformat(), "total": str(total),
                     "ineligible": "0.00", "social_insurance_paid": "0.00",
                     "categories": {"drugs": str(total / 2), "beds": str(total / 2)}, "currency": "CNY"},
            personal={"diagnoses": ["J18.9"], "history": []}, personal_subject=customer)
        claims.receive_invoice(claim_id, invoice, system=HOSPITAL)
        adjuster = Caller(role="adjuster", subject="adjuster-1")
        stream = ev.stream_of(claim_id)
        while len(ledger.workflow.history(stream)) < events:
            claims.note(claim_id, kind="progress", text="called the hospital about the discharge summary",
                        next_step_by=None, caller=adjuster)
        ledger.trails.grant(AUDITOR, openings=("medical", "personal"), subjects=(f"claim:{claim_id}",), until=None,
                            reason="the benchmark's audit", actor=Actor("admin", "bench-admin"))
        ledger.log.checkpoint_now()
        return claim_id, ledger.log.vkey
    finally:
        ledger.close()


def stats(samples: Sequence[float]) -> dict[str, Any]:
    found = benchkit.latency_ms(samples)
    return {**found, "p50_ms": statistics.median(samples) * 1e3, "samples_ms": [round(s * 1e3, 2) for s in samples]}


def measure(data_dir: Path, claim_id: str, vkey: str, *, runs: int, work: Path) -> dict[str, Any]:
    ledger = Ledger.open(Settings(data_dir=data_dir, chain_url="none"), create=False)
    ledger.start(anchoring=False, policy_clock=False)
    try:
        build: list[float] = []
        bundle: dict[str, Any] = {}
        for run in range(WARM_UP + runs):
            started = time.perf_counter()
            bundle = ledger.trails.claim_bundle(claim_id, auditor=AUDITOR)
            if run >= WARM_UP:
                build.append(time.perf_counter() - started)
    finally:
        ledger.close()
    text = json.dumps(bundle, ensure_ascii=False)
    verify: list[float] = []
    for run in range(WARM_UP + runs):
        started = time.perf_counter()
        report = offline.verify(offline.loads(text, what="the bundle"), vkey=vkey)
        if run >= WARM_UP:
            verify.append(time.perf_counter() - started)
        if not report.ok:
            raise RuntimeError(f"the bundle did not verify: {report.failure}")
    path = work / "claim.bundle.json"
    path.write_text(text, encoding="utf-8")
    script = Path(offline.__file__)
    process: list[float] = []
    for _ in range(PROCESS_RUNS):
        started = time.perf_counter()
        answer = subprocess.run([sys.executable, str(script), str(path), "--vkey", vkey], capture_output=True,
                                text=True, timeout=120, cwd=work)
        process.append(time.perf_counter() - started)
        if answer.returncode != 0:
            raise RuntimeError(f"the script failed: {answer.stderr}")
    stream = ev.stream_of(claim_id)
    return {"bundle": {"entries": len(bundle["entries"]),
                       "events_on_stream": sum(e["stream"] == stream for e in bundle["entries"]),
                       "streams_held_whole": len(bundle["manifest"]["subject"]["streams"]),
                       "key_events": len(bundle["keys"]["events"]), "bytes": len(text.encode()),
                       "opened_facts": bundle["manifest"]["counts"]["opened_facts"],
                       "personal_parts": bundle["manifest"]["counts"]["opened_personal"],
                       "tree_size": bundle["checkpoint"]["tree_size"]},
            "build": stats(build), "verify": stats(verify), "process": stats(process)}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, key in (("take p99 (trails.claim_bundle)", "build"), ("offline verify p99 (strict parse + verify)",
                                                                    "verify")):
        value = report.get(key, {}).get("p99_ms")
        out.append({"name": name, "value": value, "unit": "ms", "target": f"< {TARGET_MS:.0f} ms",
                    "met": None if value is None else value < TARGET_MS})
    return out


def tables(report: dict[str, Any]) -> list[Table]:
    rows = []
    for label, key in (("1. take the bundle (selection, read record, checkpoint, build; SQLite)", "build"),
                       ("2. verify offline (strict JSON parse + every check)", "verify"),
                       ("   the script as a process (start, imports, read, verify, report)", "process")):
        if key in report:
            s = report[key]
            rows.append([label, f"{s['p50_ms']:.1f}", f"{s['p90_ms']:.1f}", f"{s['p99_ms']:.1f}",
                         f"{s['max_ms']:.1f}", str(s["n"])])
    return [("Evidence bundle of a claim", ["step", "p50 ms", "p90 ms", "p99 ms", "max ms", "n"], rows),
            benchkit.targets_table(report["targets"], decimal_units=("ms",))]


def notes(report: dict[str, Any]) -> list[str]:
    lines = []
    if "bundle" in report:
        b = report["bundle"]
        lines.append(f"Bundle: {b['entries']} entries ({b['events_on_stream']} on the claim's stream; the rest its "
                     f"evidence, documents, e-policy, party and the read record; {b['streams_held_whole']} streams "
                     f"held whole), {b['key_events']} key event(s), {b['opened_facts']} facts and "
                     f"{b['personal_parts']} personal parts opened, {b['bytes']:,} bytes of JSON; checkpoint of "
                     f"{b['tree_size']} entries.")
    return lines + [f"Section {name} FAILED: {error}" for name, error in report.get("errors", {}).items()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write every number, the machine and the settings here")
    parser.add_argument("--format", choices=("rich", "markdown"), default=None,
                        help="table style (default: rich on a terminal, markdown otherwise)")
    parser.add_argument("--events", type=int, default=50, help="events on the claim's stream")
    parser.add_argument("--runs", type=int, default=30, help="timed builds and verifications")
    args = parser.parse_args(argv)
    if args.events < 2 or args.runs < 1:
        parser.error("--events must be at least 2 and --runs positive")
    style = args.format or ("rich" if sys.stdout.isatty() else "markdown")
    work = Path(tempfile.mkdtemp(prefix="lifeledger-bench-bundle-"))
    started, load_before = time.perf_counter(), os.getloadavg()
    report: dict[str, Any] = {"commit": benchkit.commit(), "machine": benchkit.machine(PACKAGES),
                              "settings": {"events": args.events, "runs": args.runs, "warm_up": WARM_UP,
                                           "storage": "SQLite file in a temporary data dir", "chain_url": "none"}}
    try:
        log(f"0. set-up in {work}: a policy and a claim with {args.events} events")
        claim_id, vkey = make_claim(work / "data", events=args.events)
        log(f"1-2. {args.runs} builds and {args.runs} verifications of claim {claim_id}'s bundle")
        report.update(measure(work / "data", claim_id, vkey, runs=args.runs, work=work))
    except Exception as exc:  # report what was measured; the error is a failed target
        log(f"the benchmark failed: {type(exc).__name__}: {exc}")
        report.setdefault("errors", {})["run"] = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["targets"] = targets(report)
    report["seconds"] = time.perf_counter() - started
    return benchkit.finish(report, tables=tables, notes=notes, load_before=load_before, json_path=args.json,
                           style=style)


if __name__ == "__main__":
    raise SystemExit(main())
