"""Verification page benchmark: headless Chromium checks e-policy PDFs on GET /verify, up to 5 MB, hash and proof.

A ledger on a fresh data dir (SQLite file, the embedded chain unless ``--chain-url`` says otherwise) is served by
uvicorn in this process on a free loopback port. Set-up, untimed: ``--log-entries`` signed premium events from a
system key fill the journal (so proofs have the length of a working log's), one e-policy is issued through the
HTTP API (apply with a clean declaration, pay the first premium) and downloaded; a ``--size-mb`` PDF is made from
it (see below) and its digest registered through the documents service as an e-policy; a second padded PDF is
registered and then superseded. Once the chain has anchored every one of them, one more policy is issued and a
checkpoint cut, so the page also checks a consistency proof from the anchored checkpoint to a larger one.

The large PDF is the real e-policy with an incremental update appended (PDF 1.7 §7.5.6): one new, unreferenced
stream object of random bytes, its own cross-reference section, and a trailer that points back (``/Prev``) to
the original's. It is a valid PDF of the requested size (poppler's ``pdfinfo`` reads it; the notes say so); its
digest cannot be an issued version's (an e-policy's digest is that of the PDF the ledger renders), so it is
registered through ``DocumentService.register`` and has no policy facts.

What is measured, per case and ``--rounds`` rounds (each in a fresh browser context, so nothing is cached):
loading /verify until its scripts are ready, then the check the person waits for, timed by the page itself from
the file input's change event to the verdict on screen: reading the file, its SHA-256 (WebCrypto), the two
requests (the published key and the proof answer) and the checks (signed checkpoint, inclusion and consistency
proofs, openings, signatures). Target: the whole check of the 5 MB PDF under 1 s (max of the rounds). Tables go to
stdout (rich on a terminal, else Markdown), progress to stderr, everything to ``--json``::

    .venv/bin/python scripts/bench_verify_page.py --json bench-results/verify-page.json
    .venv/bin/python scripts/bench_verify_page.py --quick          # 3 rounds, 1,000 log entries
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchkit
import httpx
import uvicorn
from bench_journal_workload import OWNER, chunks, scope, signed_events
from bench_policies import application_body
from benchkit import Table, log

from api.app import create_app
from api.auth import Role, issue_token
from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.services.documents import Registration
from ledger.settings import Settings

CHROMIUM = "/usr/bin/chromium"
# --disable-dev-shm-usage: containers give /dev/shm 64 MB, which Chromium outgrows and then crashes its tabs.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-gpu", "--disable-dev-shm-usage"]
PACKAGES = ("fastapi", "uvicorn", "httpx", "SQLAlchemy", "cryptography", "reportlab", "playwright")
TARGET_MS = 1000.0
DEFAULTS = {"rounds": 10, "log_entries": 10_000}
QUICK = {"rounds": 3, "log_entries": 1_000}
DONE = "#result:not([data-verdict=none]):not([data-verdict=working])"
PHASES = ("read", "hash", "fetch", "check", "total")
EPOLICY_KIND = 1


# --- the PDFs -------------------------------------------------------------------------------------------------------


def padded_pdf(pdf: bytes, size: int, *, seed: int) -> bytes:
    """``pdf`` grown to ``size`` bytes by an incremental update: one unreferenced stream of random bytes, an xref
    section for it, and a trailer carrying the original's /Root, /Info and /ID with /Prev at its xref."""
    trailer = re.findall(rb"trailer\s*<<(.*?)>>\s*startxref\s*(\d+)\s*%%EOF\s*$", pdf, re.S)
    if not trailer:
        raise ValueError("the PDF does not end with a trailer, startxref and %%EOF")
    entries, previous = trailer[-1]
    found = re.search(rb"/Size\s+(\d+)", entries)
    if found is None:
        raise ValueError("the PDF's trailer has no /Size")
    number = int(found.group(1))
    kept = b" ".join(m.group(0) for m in re.finditer(rb"/(?:Root|Info)\s+\d+\s+\d+\s+R|/ID\s*\[[^\]]*\]", entries))
    start = pdf if pdf.endswith(b"\n") else pdf + b"\n"

    def build(length: int) -> bytes:
        data = random.Random(seed).randbytes(length)
        body = b"%d 0 obj\n<< /Length %d >>\nstream\n" % (number, length) + data + b"\nendstream\nendobj\n"
        xref_at = len(start) + len(body)
        xref = b"xref\n%d 1\n%010d 00000 n \n" % (number, len(start))
        tail = b"trailer\n<< /Size %d %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (number + 1, kept,
                                                                                 int(previous), xref_at)
        return start + body + xref + tail

    overhead = len(build(0))
    if size <= overhead:
        raise ValueError(f"{size} bytes is not more than the e-policy itself ({overhead})")
    padded = build(size - overhead)
    padded = build(size - overhead - (len(padded) - size))  # the /Length and offsets may have grown by digits
    assert len(padded) == size, (len(padded), size)
    return padded


def pdfinfo(path: Path) -> str:
    """What poppler's ``pdfinfo`` says of the file (its page count), or why it could not say."""
    if shutil.which("pdfinfo") is None:
        return "pdfinfo not installed"
    done = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=False)
    pages = re.search(r"^Pages:\s+(\d+)", done.stdout, re.M)
    if done.returncode != 0 or pages is None:
        return f"pdfinfo refused it: {done.stderr.strip()[:200]}"
    warnings = [line for line in done.stderr.splitlines() if line.strip()]
    return f"pdfinfo: {pages.group(1)} page(s), {len(warnings)} warning(s)"


# --- the server -------------------------------------------------------------------------------------------------------


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def serve(ledger: Ledger) -> Served:
    port = free_port()
    config = uvicorn.Config(create_app(ledger=ledger), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-bench", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return Served(url=f"http://127.0.0.1:{port}", server=server, thread=thread)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token(ledger: Ledger, role: Role, subject: str) -> dict[str, str]:
    signed = issue_token(ledger.secrets.token, subject=subject, role=role, issuer=ledger.settings.jwt_issuer,
                         ttl=3600)
    return {"Authorization": f"Bearer {signed}"}


def issue_policy(client: httpx.Client, ledger: Ledger, n: int) -> tuple[str, bytes]:
    """Apply and pay through the API; the policy number and its e-policy v1 PDF."""
    customer = f"PV{n:019X}"
    me = token(ledger, Role.CUSTOMER, customer)
    applied = client.post("/v1/applications", headers=me, json=application_body(n, customer=n))
    applied.raise_for_status()
    app = applied.json()
    paid = client.post("/v1/payments", headers=token(ledger, Role.SYSTEM, "payments"), json={
        "application_id": app["application_id"], "amount": app["premium"]["modal_premium"]["amount"],
        "payment_ref": f"PAY-V-{n}", "paid_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    paid.raise_for_status()
    policy_no = str(paid.json()["policy"]["policy_no"])
    pdf = client.get(f"/v1/policies/{policy_no}/documents/1", headers=me)
    pdf.raise_for_status()
    return policy_no, pdf.content


def wait_anchored(client: httpx.Client, digests: Sequence[str], *, timeout: float) -> float:
    """Seconds until every digest's proof carries an anchor covering its entries."""
    started = time.monotonic()
    while True:
        answers = [client.get(f"/v1/documents/{digest}/proof").json() for digest in digests]
        if all(a["proof"]["anchor"]["status"] == "anchored" and all(
                entry is None or entry["index"] < a["proof"]["anchor"]["tree_size"]
                for entry in (a["proof"]["registration"], a["proof"]["status_change"])) for a in answers):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the chain did not anchor the documents within {timeout:.0f} s")
        time.sleep(0.25)


def set_up(args: argparse.Namespace, work: Path) -> tuple[Ledger, Served, dict[str, Any]]:
    settings = Settings(data_dir=work / "data", chain_url=args.chain_url, checkpoint_interval=0.5,
                        anchor_interval=0.2, render_workers=0, origin="bench.lifeledger/log")
    ledger = Ledger.open(settings)
    served = serve(ledger)
    facts: dict[str, Any] = {"url": served.url}
    key = SigningKey.from_seed("bench-verify-1", hashlib.sha256(b"bench-verify").digest())
    ledger.keys.register(key_id=key.key_id, owner=OWNER, public_key=key.public_key, scope=scope())
    started = time.perf_counter()
    for batch in chunks(signed_events(key, args.log_entries, "verify"), 1000):
        ledger.intake.append_many(list(batch), owner=OWNER)
    facts["fill_seconds"] = time.perf_counter() - started
    log(f"journal filled with {args.log_entries:,} events in {facts['fill_seconds']:.1f} s")
    files: dict[str, bytes] = {}
    with httpx.Client(base_url=served.url, timeout=60) as client:
        _, files["epolicy"] = issue_policy(client, ledger, 1)
        size = int(args.size_mb * 1024 * 1024)
        files["large"] = padded_pdf(files["epolicy"], size, seed=1)
        files["large-superseded"] = padded_pdf(files["epolicy"], size, seed=2)
        digests = {name: hashlib.sha256(data).digest() for name, data in files.items()}
        subject = hashlib.sha256(b"bench verification page" + os.urandom(16)).digest()
        ledger.documents.register([Registration(digest=digests["large"], subject=subject, kind=EPOLICY_KIND),
                                   Registration(digest=digests["large-superseded"],
                                                subject=hashlib.sha256(subject).digest(), kind=EPOLICY_KIND)])
        ledger.documents.supersede(old_digest=digests["large-superseded"],
                                   new_digest=hashlib.sha256(b"its successor" + subject).digest(), version=2)
        names = {name: "sha256:" + digest.hex() for name, digest in digests.items()}
        if args.chain_url != "none":
            facts["anchor_wait_seconds"] = wait_anchored(client, list(names.values()), timeout=300)
            log(f"anchored after {facts['anchor_wait_seconds']:.1f} s")
        issue_policy(client, ledger, 2)
        ledger.log.checkpoint_now()
        facts["log_size"] = ledger.log.size()
    for name, data in files.items():
        path = work / f"{name}.pdf"
        path.write_bytes(data)
        facts.setdefault("files", {})[name] = {"bytes": len(data), "digest": names[name], "path": str(path),
                                               "pdfinfo": pdfinfo(path)}
    return ledger, served, facts


# --- the browser ------------------------------------------------------------------------------------------------------


CASES = (("epolicy", "genuine", "real e-policy, genuine"),
         ("large", "genuine", "padded PDF, genuine"),
         ("large-superseded", "superseded", "padded PDF, superseded"))


def measure(args: argparse.Namespace, url: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Every case's rounds and their percentiles; the Chromium version goes into ``facts``."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        facts["chromium"] = browser.version
        try:
            for name, expected, label in CASES:
                rounds, failures = [], 0
                for n in range(args.rounds + 1):  # round 0 warms the server and the disk cache, unrecorded
                    context = browser.new_context(locale="en-US")
                    try:
                        page = context.new_page()
                        loading = time.perf_counter()
                        page.goto(f"{url}/verify")
                        page.wait_for_selector("body[data-ready=true]")
                        loaded = time.perf_counter() - loading
                        chosen = time.perf_counter()
                        page.set_input_files("#file", facts["files"][name]["path"])
                        page.wait_for_selector(DONE, timeout=60_000)
                        wall = time.perf_counter() - chosen
                        shown = page.evaluate("() => ({ ...document.querySelector('#result').dataset })")
                    finally:
                        context.close()
                    if shown.get("verdict") != expected:
                        failures += 1
                        log(f"{name}: round {n} showed {shown.get('verdict')!r}, not {expected!r}")
                        continue
                    if n > 0:
                        rounds.append({"load_ms": loaded * 1e3, "wall_ms": wall * 1e3,
                                       **{f"{p}_ms": float(shown[f"ms{p.title()}"]) for p in PHASES}})
                out[name] = {"label": label, "expected": expected, "failures": failures, "rounds": rounds,
                             "bytes": facts["files"][name]["bytes"],
                             **{key: benchkit.latency_ms([r[key] / 1e3 for r in rounds])
                                for key in (*(f"{p}_ms" for p in PHASES), "load_ms", "wall_ms")}}
                total = out[name]["total_ms"]
                log(f"{label}: check median {total.get('median_ms', 0):.0f} ms, max {total.get('max_ms', 0):.0f} ms")
        finally:
            browser.close()
    return out


# --- the report -------------------------------------------------------------------------------------------------------


def _check(name: str, value: float | None, unit: str, target: str, met: bool | None) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "met": met}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = [_check(f"section {name} ran", None, "", "no error", False) for name in report.get("errors", {})]
    pages = report.get("pages", {})
    for name in ("large", "large-superseded"):
        if name in pages:
            total = pages[name]["total_ms"]
            mb = pages[name]["bytes"] / 1024 / 1024
            out += [_check(f"{pages[name]['label']} ({mb:.1f} MB): check p50", total.get("median_ms"), "ms", "-",
                           None),
                    _check(f"{pages[name]['label']} ({mb:.1f} MB): check max", total.get("max_ms"), "ms",
                           f"< {TARGET_MS:g} ms", total.get("max_ms") is not None and total["max_ms"] < TARGET_MS)]
    failures = sum(case["failures"] for case in pages.values())
    out.append(_check("rounds with another verdict than expected", failures, "", "0", failures == 0))
    return out


def tables(report: dict[str, Any]) -> list[Table]:
    pages = report.get("pages", {})
    rows = []
    for name, _, _ in CASES:
        if name not in pages:
            continue
        case = pages[name]
        med = {key: case[key].get("median_ms") for key in (*(f"{p}_ms" for p in PHASES), "load_ms", "wall_ms")}
        rows.append([case["label"], f"{case['bytes'] / 1024:,.0f}", *(f"{med[f'{p}_ms']:.1f}" for p in PHASES),
                     f"{case['total_ms'].get('max_ms', 0):.1f}", f"{med['wall_ms']:.1f}", f"{med['load_ms']:.1f}",
                     str(case["total_ms"].get("n", 0))])
    header = ["file", "KiB", "read ms", "SHA-256 ms", "requests ms", "checks ms", "check p50 ms", "check max ms",
              "seen by the driver ms", "page load ms", "rounds"]
    setup = report.get("setup", {})
    return [(f"Verification page in headless Chromium {setup.get('chromium', '')} (medians; journal of "
             f"{setup.get('log_size', 0):,} entries)", header, rows),
            benchkit.targets_table(report["targets"], decimal_units=("ms",))]


def notes(report: dict[str, Any]) -> list[str]:
    setup = report.get("setup", {})
    lines = [f"Server: uvicorn in the benchmark process, SQLite file, LIFELEDGER_CHAIN_URL = "
             f"{report['settings']['chain_url']}."]
    for name, info in setup.get("files", {}).items():
        lines.append(f"{name}: {info['bytes']:,} bytes, {info['pdfinfo']}.")
    if "anchor_wait_seconds" in setup:
        lines.append(f"Set-up: the chain anchored every entry {setup['anchor_wait_seconds']:.1f} s after they were "
                     f"recorded; the journal was filled in {setup['fill_seconds']:.1f} s.")
    lines.append("'check' is timed by the page (performance.now) from the file input's change event to the verdict "
                 "in the DOM; 'seen by the driver' adds playwright's round trips to Chromium.")
    return lines + [f"Section {name} FAILED: {error}" for name, error in report.get("errors", {}).items()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write every number, the machine and the settings here")
    parser.add_argument("--format", choices=("rich", "markdown"), default=None,
                        help="table style (default: rich on a terminal, markdown otherwise)")
    parser.add_argument("--quick", action="store_true", help="3 rounds on a journal of 1,000 entries")
    parser.add_argument("--rounds", type=int, help="measured rounds per file (default 10; quick 3)")
    parser.add_argument("--log-entries", type=int, help="events filling the journal first (default 10,000; quick "
                                                        "1,000)")
    parser.add_argument("--size-mb", type=float, default=5.0, help="size of the padded PDFs in MiB")
    parser.add_argument("--chain-url", default="embedded", help="LIFELEDGER_CHAIN_URL (none: no anchoring)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the PDFs")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.rounds < 1 or args.log_entries < 0 or args.size_mb <= 0:
        parser.error("--rounds must be positive, --log-entries not negative, --size-mb positive")
    args.format = args.format or ("rich" if sys.stdout.isatty() else "markdown")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lifeledger-bench-verify-"))
    started, load_before = time.perf_counter(), os.getloadavg()
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "format", "keep")}
    report: dict[str, Any] = {"commit": benchkit.commit(), "machine": benchkit.machine(PACKAGES),
                              "settings": settings}
    log(f"working in {work}")
    ledger: Ledger | None = None
    served: Served | None = None
    try:
        ledger, served, report["setup"] = set_up(args, work)
        report["pages"] = measure(args, served.url, report["setup"])
    except Exception as exc:  # report what was measured; the error is a failed target
        log(f"the benchmark failed: {type(exc).__name__}: {exc}")
        report.setdefault("errors", {})["verify-page"] = f"{type(exc).__name__}: {exc}"
    finally:
        if served is not None:
            served.server.should_exit = True
            served.thread.join(timeout=30)
        if ledger is not None:
            ledger.close()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report["targets"] = targets(report)
    report["seconds"] = time.perf_counter() - started
    return benchkit.finish(report, tables=tables, notes=notes, load_before=load_before, json_path=args.json,
                           style=args.format)


if __name__ == "__main__":
    raise SystemExit(main())
