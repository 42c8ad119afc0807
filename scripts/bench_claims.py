"""Claims benchmark: the fast track over HTTP, the assessment in process, and the KPIs over 100,000 claims.

A real ``lifeledger serve`` (``python -m api.cli serve``; ``--workers``, default one per CPU) runs with its defaults (a
SQLite file in the data dir, the embedded chain: ``--chain-url`` changes it, ``none`` turns anchoring off, a
checkpoint a second, the policy clock every 300 s) and the machine's clock on a data dir the benchmark prepared:

0. set-up, untimed: the ledger is opened in this process with its clock ``BEHIND_DAYS`` days behind the
   machine's (``serve`` has no clock setting) and the real app (``api.app.create_app``, in-process) registers a
   hospital's and the payments system's signing keys and issues one-year medical policies (annual limit
   1,000,000, deductible 10,000), one per claim, each insuring its own policyholder; the clock is then moved to
   now and the policy clock run. So each policy's cover began ``BEHIND_DAYS - 1`` days ago: past the 30-day
   waiting period and the 90-day window of the fraud rule EARLY-CLAIM, as the route tests move their clock. A
   policy issued on the day it is claimed on could not be claimed at all (a loss must fall on or after the day
   cover began, the day after issue, and on or before today). Then ``--kpi-claims`` synthetic claims read-model
   rows (see 3.) are written into the ``claims`` table in one transaction (``RowStore.rebuild``), and the server
   starts on that data dir. The shipped products and claim rules are used unchanged;
1. fast track: each customer uploads the four documents of the medical checklist and reports a claim
   (``POST /v1/claims``, loss five days ago; timed, no target); then the hospital's signed e-invoice with its
   discharge summary (``POST /v1/claims/{id}/invoices``, system token, ``medical.invoice.issued`` signed with
   the registered key, 11,500 billed: (11,500 - 10,000) x 0.6 = 900.00, under the 1,000 automatic limit)
   completes the documents, and in the same request the claim is assessed, approved automatically and its
   payment instructed. Timed from the request being sent to its answer, once the server has anchored what the
   set-up and the reports wrote (the set-up ran without anchoring; at most ``ANCHOR_WAIT`` s), after
   ``WARM_UP`` untimed claims: first ``--sequential`` claims one at a time, then ``--claims`` claims from
   ``--clients`` concurrent clients. Target p99 < 500 ms for the automatic approvals. The rules' review sample
   (rate 0.10, ``sha256("<seed>:<claim id>")``) sends a tenth of the automatic approvals to a reviewer instead:
   the benchmark recomputes each claim's draw and requires the answer ``payment_pending`` when the draw is at or
   above the rate and ``under_review`` below it; sampled answers are timed apart. Afterwards the payments
   system's instructions (``GET /v1/claims/payments/pending``) must be exactly one of 900.00 per approved claim;
2. assessment in process, after the server stops, on its data dir: ``--review-claims`` claims billed 15,000
   (3,000 payable: fast track, above the automatic limit, so they wait for a reviewer) are assessed again by
   ``ClaimsService.assess``, with the inputs it builds from the journal recorded on the way; then
   ``ledger.claims.evaluation.evaluate`` (benefit, first review, fraud flags, triage, automatic approval, sample
   draw; pure) runs ``--iterations`` times on those inputs with the invoice set to 11,500 (the automatically
   approved claim of 1.). Target p99 < 50 ms for ``evaluate``; the whole ``assess`` (the claim and policy
   folded from the journal, earlier claims and servicing changes read, evaluate, the decision, the events
   recorded) is timed too;
3. KPIs: the ``claims`` table holds ``--kpi-claims`` synthetic rows (claims of the last year: types, tracks,
   statuses, amounts, flags, pauses and the times of report, completion, decision and payment drawn from a
   seeded generator; their journal indices name no real entry) plus the claims of 1. ``GET /v1/kpis`` over the
   year is timed ``--kpi-rounds`` times against the server right after the load of 1. (target < 1 s), then as
   many times again once the server has anchored the load's entries, and after it stops
   ``ClaimsService.kpis`` (the read-model select of ``KPI_COLUMNS`` as tuples, and the figures), the select and
   ``ledger.claims.kpis.kpis_of_columns`` apart, in process. The KPIs must count every row, and ``kpis`` over
   the whole rows (their RFC 3339 texts parsed and checked; untimed) must give the same figures.

Load comes from asyncio + httpx clients in this process, one connection per client; every client waits for its
last answer. Tables go to stdout (rich on a terminal, else Markdown), progress to stderr, everything to
``--json``::

    .venv/bin/python scripts/bench_claims.py --json bench-results/claims.json
    .venv/bin/python scripts/bench_claims.py --quick          # fewer claims and iterations, under a minute
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import benchkit
import httpx
from bench_journal_http import cpu_seconds
from bench_policies import PYTHON, Tally, closed_loop, resident_id, serving
from benchkit import Table, log, percentile

from api.app import create_app, tune_gc
from api.auth import Role, issue_token
from ledger.app import Ledger
from ledger.claims import events as claim_events
from ledger.claims import projection as claims_projection
from ledger.claims import service as claims_service
from ledger.claims.evaluation import Evaluation, evaluate, sample_draw
from ledger.claims.kpis import KPI_COLUMNS, epoch_micros, kpis, kpis_of_columns, moment_range
from ledger.claims.rules import load_rules
from ledger.crypto.keys import LocalKeys, SigningKey
from ledger.log.encoding import b64
from ledger.log.identifiers import utc_timestamp
from ledger.log.statements import sign_event
from ledger.policies.rules.samples import CLEAN
from ledger.projections.scopes import KeyScope
from ledger.settings import Settings, default_workers

FAST_P99_MS = 500.0
EVALUATE_P99_MS = 50.0
KPI_SECONDS = 1.0
PACKAGES = ("fastapi", "uvicorn", "httpx", "SQLAlchemy", "cryptography")
QUICK = {"claims": 40, "sequential": 12, "review_claims": 4, "iterations": 400, "kpi_claims": 10_000,
         "kpi_rounds": 2}
DEFAULTS = {"claims": 320, "sequential": 100, "review_claims": 8, "iterations": 2000, "kpi_claims": 100_000,
            "kpi_rounds": 5}
KPI_CLAIMS = 100_000  # the KPI target is for this many claims
ANCHOR_WAIT = 180.0  # seconds the timed phases wait for the set-up's entries to be anchored
WARM_UP = 4  # claims whose invoices are posted before the timing starts (imports, caches, connections)
BEHIND_DAYS = 120  # the set-up issues the policies this many days ago
LOSS_DAYS_AGO = 5
SERVER = "python -m api.cli serve, the data dir the set-up made, SQLite file, LIFELEDGER_CHAIN_URL ="
HOSPITAL = "hospital-h001"  # the hospital system's subject and key owner
PAYMENTS = "payments"  # the payments system (the server's default LIFELEDGER_PAYMENT_SYSTEMS)
DOCUMENTS = ("CLAIM-FORM", "INSURED-ID", "ADMISSION-RECORD", "DIAGNOSIS")  # the customer's part of the checklist
AUTOMATIC_TOTAL, AUTOMATIC_NET = "11500.00", "900.00"  # billed; payable after the deductible, at 60 %
REVIEW_TOTAL = "15000.00"  # 3,000 payable: above the automatic approval limit
APPROVED, SAMPLED, REVIEW = "payment_pending", "under_review", "under_review"
ISSUER = str(Settings.model_fields["jwt_issuer"].default)  # the server runs without LIFELEDGER_* overrides
ZONE = ZoneInfo(str(Settings.model_fields["time_zone"].default))


def customer_id(number: int) -> str:
    """A party id in the ledger's form (``P`` and 20 hex digits) for the benchmark's ``number``-th customer."""
    return f"PC{number:019X}"


def today() -> date:
    """The business date now, in the server's time zone."""
    return datetime.now(ZONE).date()


def medical_application(number: int) -> dict[str, Any]:
    """A one-year medical policy of annual limit 1,000,000 with a clean declaration; the policyholder (the
    ``number``-th person, born 1970-1994) is the insured."""
    return {"product_id": "medical",
            "plan": {"sum_insured": "1000000", "term_years": 1, "payment_years": 1, "frequency": "annual"},
            "policyholder": {"name": "王五", "id_number": resident_id(number, area="310104"),
                             "phone": f"139{number % 10**8:08d}"},
            "beneficiaries": [{"person": {"name": "赵六", "id_number": resident_id(number, area="440305")},
                               "share": "100"}],
            "occupation_class": 1, "payment_account": "6222020200112233445",
            "consent": {"terms_read": True, "insured_consents": True}, "answers": dict(CLEAN)}


# --- 0. set-up ----------------------------------------------------------------------------------------------------


class BehindClock:
    """The machine's clock less ``behind`` (the set-up's ledger; ``behind`` is set to zero to catch up)."""

    def __init__(self, behind: timedelta) -> None:
        self.behind = behind

    def now(self) -> datetime:
        return datetime.now(UTC) - self.behind


@dataclass(frozen=True)
class SetUp:
    """What the set-up made: the systems' keys and one policy per claim, with its customer."""

    hospital: SigningKey
    payments: SigningKey
    policies: list[tuple[str, str]]  # (policy number, customer)
    seconds: float
    rows_seconds: float


def set_up(data_dir: Path, *, policies: int, kpi_claims: int) -> SetUp:
    """Issue ``policies`` medical policies ``BEHIND_DAYS`` days ago on a new ledger in ``data_dir`` through the
    in-process app, register the hospital's and payments system's keys, move the clock to now and run the
    policy clock, then write ``kpi_claims`` synthetic claims rows. Raises ``RuntimeError`` for a refused step."""
    with warnings.catch_warnings():  # starlette's notice that its test client will move off httpx
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    started = time.perf_counter()
    clock = BehindClock(timedelta(days=BEHIND_DAYS))
    ledger = Ledger.open(Settings(data_dir=data_dir, database_url=None, chain_url="none"), clock=clock)
    issued: list[tuple[str, str]] = []
    try:
        key = ledger.secrets.token

        def me(subject: str, role: Role) -> dict[str, str]:
            return {"Authorization": f"Bearer {issue_token(key, subject=subject, role=role, issuer=ISSUER, ttl=3600)}"}

        def expect(answer: httpx.Response, status: int, what: str) -> dict[str, Any]:
            if answer.status_code != status:
                raise RuntimeError(f"set-up: {what} answered {answer.status_code}: {answer.text[:500]}")
            body: dict[str, Any] = answer.json()
            return body

        hospital = SigningKey.generate(key_id="bench-hospital-h001-k1")
        payments = SigningKey.generate(key_id="bench-payments-k1")
        with TestClient(create_app(ledger=ledger)) as client:
            admin = me("bench-admin", Role.ADMIN)
            for signer, owner, types, stream in ((hospital, HOSPITAL, "medical.*", "hospital"),
                                                 (payments, PAYMENTS, "payments.*", "payments")):
                expect(client.post("/v1/admin/keys", headers=admin, json={
                    "key_id": signer.key_id, "owner": owner, "public_key": b64(signer.public_key),
                    "scope": KeyScope.from_json({"types": [types], "streams": [stream]}).to_json()}),
                    201, f"registering {signer.key_id}")
            system = me(PAYMENTS, Role.SYSTEM)
            for number in range(policies):
                customer = customer_id(number)
                app = expect(client.post("/v1/applications", headers=me(customer, Role.CUSTOMER),
                                         json=medical_application(number)), 201, "a medical application")
                if app.get("status") != "accepted":
                    raise RuntimeError(f"set-up: the application was not accepted: {app}")
                paid = expect(client.post("/v1/payments", headers=system, json={
                    "application_id": app["application_id"], "amount": app["premium"]["modal_premium"]["amount"],
                    "payment_ref": f"BENCH-{app['application_id']}",
                    "paid_at": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}), 201, "the first premium")
                issued.append((str(paid["policy"]["policy_no"]), customer))
                if (number + 1) % 100 == 0:
                    log(f"set-up: {number + 1} of {policies} policies issued")
            clock.behind = timedelta(0)
            ledger.policies.run_clock(until=ledger.policies.today())
        rows_started = time.perf_counter()
        ledger.store.rows.rebuild(claims_projection.CLAIMS, synthetic_rows(kpi_claims, end=datetime.now(UTC)))
        rows_seconds = time.perf_counter() - rows_started
    finally:
        ledger.close()
    return SetUp(hospital=hospital, payments=payments, policies=issued, seconds=time.perf_counter() - started,
                 rows_seconds=rows_seconds)


# Synthetic claims of a year: (claim type, weight), (status, weight) and what a status implies.
TYPES = (("medical", 60), ("hospital_allowance", 15), ("accident", 10), ("critical_illness", 8), ("death", 4),
         ("disability", 3))
STATUSES = (("closed", 62), ("paid", 5), ("declined", 7), ("payment_pending", 4), ("payment_failed", 1),
            ("under_review", 10), ("awaiting_keying", 3), ("awaiting_documents", 8))
MAJOR = {"critical_illness", "death", "disability"}
DECIDED = {"closed", "paid", "declined", "payment_pending", "payment_failed"}
PAID = {"closed", "paid"}
HOUR, DAY = 3600.0, 86400.0


def synthetic_rows(count: int, *, end: datetime, seed: int = 20261201) -> Iterator[dict[str, Any]]:
    """``count`` claims read-model rows of claims reported in the year before ``end`` (the last 30 days left for
    their decisions and payments), drawn from ``random.Random(seed)``: ids ``bench-<n>``, journal indices that
    name no entry."""
    rng = random.Random(seed)
    types, type_weights = zip(*TYPES, strict=True)
    statuses, status_weights = zip(*STATUSES, strict=True)
    first = end - timedelta(days=365)
    span = (365 - 30) * DAY

    def stamp(moment: datetime | None) -> str | None:
        return None if moment is None else utc_timestamp(moment)

    def micros(moment: datetime | None) -> int | None:  # the projection's *_us beside each *_at
        return None if moment is None else epoch_micros(moment)

    for n in range(count):
        claim_type = rng.choices(types, type_weights)[0]
        status = rng.choices(statuses, status_weights)[0]
        track = "major" if claim_type in MAJOR else ("fast" if rng.random() < 0.7 else "standard")
        low, high = {"fast": (100, 5000), "standard": (5000, 50000), "major": (50000, 500000)}[track]
        assessed = Decimal(rng.randint(low * 100, high * 100)) / 100
        reported = first + timedelta(seconds=rng.uniform(0, span))
        complete = None if status == "awaiting_documents" else reported + timedelta(seconds=rng.uniform(0, 3 * DAY))
        paused = int(rng.uniform(DAY, 5 * DAY)) if complete is not None and rng.random() < 0.04 else 0
        decided = paid = None
        if complete is not None and status in DECIDED:
            wait = {"fast": (300, 8 * HOUR), "standard": (HOUR, 4 * DAY), "major": (DAY, 25 * DAY)}[track]
            decided = complete + timedelta(seconds=paused + rng.uniform(*wait))
            if status in PAID:
                paid = decided + timedelta(seconds=rng.uniform(600, 3 * DAY))
        outcome = None
        if decided is not None:
            outcome = "decline" if status == "declined" else ("partial" if rng.random() < 0.08 else "approve")
        automatic = int(track == "fast" and outcome == "approve" and assessed <= 1000 and rng.random() < 0.9)
        flags = rng.choices((0, 1, 2), (92, 6, 2))[0]
        approved = None if outcome in (None, "decline") else assessed if outcome == "approve" else assessed * 8 / 10
        idx = 1_000_000 + 10 * n
        yield {
            "claim_id": f"bench-{n:07d}", "application_id": f"bench-app-{n:07d}", "policy_no": f"B{n:011d}",
            "insured": f"PD{n:019X}", "reporter": f"PD{n:019X}", "claim_type": claim_type,
            "cause": "accident" if claim_type in ("accident", "disability") else "illness",
            "loss_date": (reported - timedelta(days=rng.randint(1, 30))).date().isoformat(), "status": status,
            "track": None if status in ("awaiting_documents", "awaiting_keying") else track,
            "handler": f"handler-{rng.randint(1, 6)}" if track == "major" else None, "outcome": outcome,
            "automatic": automatic, "sampled": int(track == "fast" and rng.random() < 0.05), "flags": flags,
            "flags_confirmed": int(flags > 0 and rng.random() < 0.3), "reopened": int(rng.random() < 0.01),
            "appealed": int(rng.random() < 0.005),
            "assessed_amount": None if status in ("awaiting_documents", "awaiting_keying") else f"{assessed:.2f}",
            "approved_amount": None if approved is None else f"{approved:.2f}",
            "paid_amount": None if paid is None or approved is None else f"{approved:.2f}",
            "currency": "CNY", "account_digest": f"sha256:{rng.getrandbits(256):064x}",
            "reported_at": stamp(reported), "reported_idx": idx,
            "complete_at": stamp(complete), "complete_idx": None if complete is None else idx + 1,
            "decided_at": stamp(decided), "decided_idx": None if decided is None else idx + 2,
            "paid_at": stamp(paid), "paid_idx": None if paid is None else idx + 3, "paused_at": None,
            "paused_seconds": paused, "updated_at": stamp(paid or decided or complete or reported),
            "updated_idx": idx + 3, "reported_us": micros(reported), "complete_us": micros(complete),
            "decided_us": micros(decided), "paid_us": micros(paid)}


# --- 1. the fast track over HTTP --------------------------------------------------------------------------------


class Hall:
    """The customers, the hospital and the payments system against one server: the claims and what came back."""

    def __init__(self, made: SetUp, *, rate: Decimal, seed: str) -> None:
        self.made = made
        self.rate, self.seed = rate, seed
        self.tokens: dict[str, dict[str, str]] = {}
        self.numbers = itertools.count()  # the next policy to claim on
        self.claims: list[dict[str, Any]] = []  # claims reported, in order
        self.answers: dict[str, str] = {}  # claim id -> the status the invoice's answer showed

    def headers(self, signer: SigningKey, subject: str, role: Role) -> dict[str, str]:
        if subject not in self.tokens:
            token = issue_token(signer, subject=subject, role=role, issuer=ISSUER, ttl=4 * 3600)
            self.tokens[subject] = {"Authorization": f"Bearer {token}"}
        return self.tokens[subject]

    def expected(self, claim_id: str) -> str:
        """The status an automatically approvable claim must show: the review sample's draw decides."""
        return SAMPLED if sample_draw(self.seed, claim_id) < self.rate else APPROVED

    async def report(self, client: httpx.AsyncClient, signer: SigningKey, tally: Tally, *, total: str) -> None:
        """Upload the customer's four documents and report a claim on the next policy; ``total``: the bill."""
        number = next(self.numbers)
        policy_no, customer = self.made.policies[number]
        me = self.headers(signer, customer, Role.CUSTOMER)
        documents = {}
        for code in DOCUMENTS:
            answer = await client.post("/v1/uploads", content=f"%PDF-1.4 {code} for {policy_no}".encode(),
                                       headers={**me, "Content-Type": "application/pdf"})
            if answer.status_code != 201:
                tally.fail("upload", f"{answer.status_code} {answer.text}")
                return
            documents[code] = answer.json()["digest"]
        body = {"policy_no": policy_no, "claim_type": "medical",
                "loss_date": (today() - timedelta(days=LOSS_DAYS_AGO)).isoformat(), "description": "肺炎住院治疗",
                "account": {"bank": "ICBC", "number": f"62220202{number:011d}", "name": "王五"},  # one per insured
                "documents": documents}
        start = time.perf_counter()
        answer = await client.post("/v1/claims", headers=me, json=body)
        elapsed = time.perf_counter() - start
        found = answer.json() if answer.status_code == 201 else {}
        if found.get("status") != "awaiting_documents":
            tally.fail("report", f"{answer.status_code} {answer.text}")
            return
        tally.ok("report", elapsed)
        self.claims.append({**found, "customer": customer, "total": total})

    def invoice(self, claim: dict[str, Any]) -> bytes:
        """The hospital's signed e-invoice for ``claim`` (admitted on the loss date, four days), as sent."""
        admitted = date.fromisoformat(claim["loss_date"])
        total = Decimal(claim["total"])
        signed = sign_event(
            key=self.made.hospital, event_id=f"inv-{claim['claim_id']}", type=claim_events.HOSPITAL_INVOICE,
            stream="hospital:h001", data_subject=HOSPITAL,
            payload={"claim_id": claim["claim_id"], "policy_no": claim["policy_no"],
                     "invoice_no": f"INV-{claim['claim_id']}", "hospital": "H001",
                     "admitted": admitted.isoformat(), "discharged": (admitted + timedelta(days=4)).isoformat(),
                     "total": claim["total"], "ineligible": "0.00", "social_insurance_paid": "0.00",
                     "categories": {"drugs": str(total / 2), "beds": str(total / 2)}, "currency": "CNY"},
            personal={"diagnoses": ["J18.9"], "history": []}, personal_subject=claim["customer"])
        return json.dumps(signed.to_json()).encode()

    async def post_invoice(self, client: httpx.AsyncClient, claim: dict[str, Any], body: bytes, tally: Tally,
                           signer: SigningKey, *, step: str, expect: str | None = None) -> None:
        """Post the prepared invoice; the answer must show ``expect`` (default: what the sample draw says)."""
        headers = {**self.headers(signer, HOSPITAL, Role.SYSTEM), "Content-Type": "application/json"}
        wanted = expect or self.expected(claim["claim_id"])
        start = time.perf_counter()
        try:
            answer = await client.post(f"/v1/claims/{claim['claim_id']}/invoices", content=body, headers=headers)
        except httpx.HTTPError as exc:
            tally.fail(step, f"{type(exc).__name__}: {exc}")
            return
        elapsed = time.perf_counter() - start
        status = answer.json().get("status") if answer.status_code == 200 else None
        if status != wanted:
            tally.fail(step, f"{answer.status_code}, wanted {wanted}: {answer.text}")
            return
        self.answers[claim["claim_id"]] = status
        tally.ok(step if expect or wanted == APPROVED else f"{step} (drawn by the review sample)", elapsed)

    def instructions(self, client: httpx.Client, signer: SigningKey) -> dict[str, Any]:
        """The payment instructions the payments system reads, against the approved answers."""
        answer = client.get("/v1/claims/payments/pending", params={"limit": 1000},
                            headers=self.headers(signer, PAYMENTS, Role.SYSTEM))
        answer.raise_for_status()
        rows = answer.json()
        approved = {claim_id for claim_id, status in self.answers.items() if status == APPROVED}
        listed = [row["claim_id"] for row in rows]
        return {"instructions": len(rows), "approved_answers": len(approved), "capped": len(rows) >= 1000,
                "one_per_approved_claim": sorted(listed) == sorted(approved),
                "amounts": sorted({str(row["amount"]) for row in rows}),
                "all_of_the_net": all(str(row["amount"]) == AUTOMATIC_NET for row in rows)}


def stats(samples: Sequence[float], seconds: float | None = None) -> dict[str, Any]:
    """p50/p95/p99/max/mean in ms (nearest rank) and, with ``seconds``, the rate."""
    if not samples:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(samples), "median_ms": percentile(samples, 50) * 1e3,
                           "p95_ms": percentile(samples, 95) * 1e3, "p99_ms": percentile(samples, 99) * 1e3,
                           "max_ms": max(samples) * 1e3, "mean_ms": statistics.fmean(samples) * 1e3}
    if seconds:
        out["per_second"] = len(samples) / seconds
    return out


def load(args: argparse.Namespace, work: Path, made: SetUp) -> dict[str, Any]:
    """Sections 1 and the HTTP part of 3 against one server; returns their numbers."""
    data_dir = work / "data"
    out: dict[str, Any] = {}
    rules = load_rules()
    hall = Hall(made, rate=rules.triage.sample_rate, seed=rules.triage.sample_seed)
    signer = LocalKeys.load(data_dir).token
    with serving(data_dir, work / "serve.log", chain_url=args.chain_url, workers=args.workers) as (url, pid):
        reporting = Tally()

        async def report_all(number: int, client: httpx.AsyncClient) -> None:
            share = range(number, WARM_UP + args.sequential + args.claims + args.review_claims, args.clients)
            for position in share:
                total = REVIEW_TOTAL if position >= WARM_UP + args.sequential + args.claims else AUTOMATIC_TOTAL
                await hall.report(client, signer, reporting, total=total)

        log(f"reporting {len(made.policies)} claims with their documents ({args.clients} clients)")
        timing = closed_loop(url, clients=args.clients, seconds=None, step=report_all)
        out["report"] = {**timing, **reporting.summary(timing["seconds"]), "generator": PYTHON,
                         "latency": stats(reporting.latencies.get("report", []), timing["seconds"])}
        if reporting.failures:
            raise RuntimeError(f"reporting failed: {reporting.examples}")
        automatic = [c for c in hall.claims if c["total"] == AUTOMATIC_TOTAL]
        review = [c for c in hall.claims if c["total"] == REVIEW_TOTAL]
        warm, sequential = automatic[:WARM_UP], automatic[WARM_UP:WARM_UP + args.sequential]
        concurrent = automatic[WARM_UP + args.sequential:]
        bodies = {c["claim_id"]: hall.invoice(c) for c in hall.claims}  # signed before the clock starts
        out["anchoring_before"] = anchored(url)

        def phase(name: str, claims: list[dict[str, Any]], clients: int, *, expect: str | None = None
                  ) -> dict[str, Any]:
            tally, queue = Tally(), iter(claims)
            cpu = cpu_seconds(pid)

            async def step(_: int, client: httpx.AsyncClient) -> None:
                for claim in queue:
                    await hall.post_invoice(client, claim, bodies[claim["claim_id"]], tally, signer, step=name,
                                            expect=expect)

            log(f"{name}: {len(claims)} claims, {clients} client(s)")
            timing = closed_loop(url, clients=clients, seconds=None, step=step)
            result = {**timing, **tally.summary(timing["seconds"]), "clients": clients, "claims": len(claims),
                      "generator": PYTHON, "server_cpu_cores_busy": (cpu_seconds(pid) - cpu) / timing["seconds"]}
            result["latency"] = {label: stats(values, timing["seconds"]) for label, values in tally.latencies.items()}
            return result

        out["warm_up"] = phase("warm-up invoice", warm, 1)
        out["sequential"] = phase("invoice", sequential, 1)
        out["concurrent"] = phase("invoice", concurrent, args.clients)
        out["review"] = phase("invoice over the automatic limit", review, 1, expect=REVIEW)
        with httpx.Client(base_url=url, timeout=120) as client:
            out["accounting"] = hall.instructions(client, signer)
            auditor = hall.headers(signer, "bench-auditor", Role.AUDITOR)
            expected = args.kpi_claims + len(hall.claims)
            out["kpi_http"] = kpi_over_http(client, auditor, rounds=args.kpi_rounds, expected=expected)
            # the same once the server has anchored the load's entries: the query without the anchoring worker
            # sharing the interpreter (the embedded chain's EVM runs in the server process)
            waited = anchored(url)
            out["kpi_http_quiet"] = {**kpi_over_http(client, auditor, rounds=args.kpi_rounds, expected=expected),
                                     "anchoring": waited}
            out["healthz_after"] = client.get("/healthz").json()
        sampled = sum(1 for c in automatic if hall.expected(c["claim_id"]) == SAMPLED)
        out["sample"] = {"rate": str(hall.rate), "seed": hall.seed, "automatic_claims": len(automatic),
                         "drawn": sampled,
                         "answers_as_drawn": all(hall.answers.get(c["claim_id"]) == hall.expected(c["claim_id"])
                                                 for c in automatic)}
    out["review_claims"] = [c["claim_id"] for c in review]
    return out


def anchored(url: str, *, limit: float = ANCHOR_WAIT) -> dict[str, Any]:
    """Wait (at most ``limit`` seconds) until the server has anchored every entry: the set-up wrote its entries
    with anchoring off, so a new server starts with all of them to anchor, and a load leaves a backlog. Returns the
    lag found and the wait."""
    began = time.perf_counter()
    first = lag = httpx.get(f"{url}/healthz", timeout=30).json().get("anchor_lag")
    if lag:
        log(f"waiting for the server to anchor {lag:,} entries")
    while lag and time.perf_counter() - began < limit:
        time.sleep(0.5)
        lag = httpx.get(f"{url}/healthz", timeout=30).json().get("anchor_lag")
    return {"lag_found": first, "lag_left": lag, "seconds_waited": time.perf_counter() - began}


def kpi_period() -> tuple[date, date]:
    """The KPI period asked for: the synthetic year and today."""
    end = today()
    return end - timedelta(days=366), end


def kpi_over_http(client: httpx.Client, headers: dict[str, str], *, rounds: int, expected: int) -> dict[str, Any]:
    """``GET /v1/kpis`` over the period ``rounds`` times, one at a time; the claims it counted."""
    start, end = kpi_period()
    params = {"from": start.isoformat(), "to": end.isoformat()}
    times, counted, size = [], None, 0
    log(f"3. GET /v1/kpis {params['from']} .. {params['to']}, {rounds} rounds")
    for _ in range(rounds):
        began = time.perf_counter()
        answer = client.get("/v1/kpis", params=params, headers=headers)
        times.append(time.perf_counter() - began)
        answer.raise_for_status()
        counted, size = answer.json()["claims"]["count"], len(answer.content)
    return {**stats(times), "claims_counted": counted, "claims_expected": expected, "response_bytes": size,
            "period": params, "rounds_ms": [round(seconds * 1000, 1) for seconds in times]}


# --- 2. and 3. in process, on the closed data dir -------------------------------------------------------------------


@contextlib.contextmanager
def recording_evaluate(into: list[dict[str, Any]]) -> Iterator[None]:
    """Record the inputs ``ClaimsService.assess`` gives ``evaluate`` while the block runs."""

    def recording(**inputs: Any) -> Evaluation:
        into.append(inputs)
        return evaluate(**inputs)

    setattr(claims_service, "evaluate", recording)  # noqa: B010 - the service module's own name for it
    try:
        yield
    finally:
        setattr(claims_service, "evaluate", evaluate)  # noqa: B010


def billed(inputs: dict[str, Any], total: str) -> dict[str, Any]:
    """The same inputs with every invoice of the claim billing ``total``."""
    amount = Decimal(total)
    claim = inputs["claim"]
    invoices = tuple(replace(i, total=amount, categories={"drugs": amount / 2, "beds": amount / 2})
                     for i in claim.invoices)
    return {**inputs, "claim": replace(claim, invoices=invoices)}


def in_process(data_dir: Path, review_claims: Sequence[str], *, iterations: int, kpi_rounds: int,
               kpi_expected: int) -> dict[str, Any]:
    """Sections 2 and 3 in this process, on the data dir the server left, with the server's garbage collector
    thresholds."""
    settings = Settings(data_dir=data_dir, database_url=None, chain_url="none")  # not this shell's LIFELEDGER_*
    tune_gc()  # what the serving process runs
    ledger = Ledger.open(settings, create=False)
    ledger.start(anchoring=False, policy_clock=False)
    out: dict[str, Any] = {}
    try:
        claims = ledger.claims
        recorded: list[dict[str, Any]] = []
        log(f"2. assess: {len(review_claims)} claims under review, each assessed again")
        with recording_evaluate(recorded):
            for claim_id in review_claims:  # the first round records the inputs and warms the caches
                state = claims.assess(claim_id)
                if state.status != REVIEW:
                    raise RuntimeError(f"{claim_id} is {state.status} after a new assessment")
        rounds = max(1, iterations // 10 // len(review_claims))
        times = []
        for _, claim_id in itertools.product(range(rounds), review_claims):
            began = time.perf_counter()
            claims.assess(claim_id)
            times.append(time.perf_counter() - began)
        out["assess"] = {**stats(times), "claims": len(review_claims), "rounds": rounds}

        inputs = [billed(found, AUTOMATIC_TOTAL) for found in recorded]
        first = evaluate(**inputs[0])
        if not (first.automatic["eligible"] and str(first.assessment.net) == AUTOMATIC_NET
                and first.track == "fast" and not first.flags and first.review.payable):
            raise RuntimeError(f"the evaluation is not a small clean fast-track claim: {first.automatic}, "
                               f"net {first.assessment.net}, flags {[f.rule for f in first.flags]}")
        log(f"2. evaluate: {iterations} iterations over {len(inputs)} claims' inputs")
        times = []
        for number in range(iterations):
            given = inputs[number % len(inputs)]
            began = time.perf_counter()
            evaluate(**given)
            times.append(time.perf_counter() - began)
        out["evaluate"] = {**stats(times), "claims": len(inputs), "net": str(first.assessment.net),
                           "track": first.track, "flags": len(first.flags),
                           "checks": len(first.review.checks), "automatic": first.automatic}

        start, end = kpi_period()
        log(f"3. ClaimsService.kpis, its select and its figures in process, {kpi_rounds} rounds")
        service_times, counted, figures = [], None, {}
        for _ in range(kpi_rounds):
            began = time.perf_counter()
            figures = claims.kpis(start=start, end=end)
            service_times.append(time.perf_counter() - began)
            counted = figures["claims"]["count"]
        low, high = moment_range(start, end)
        select_times: list[float] = []
        rows: list[tuple[Any, ...]] = []
        for _ in range(kpi_rounds):  # the select ClaimsService.kpis makes
            began = time.perf_counter()
            rows = ledger.store.rows.select_columns(claims_projection.CLAIMS, KPI_COLUMNS,
                                                    between=("complete_us", low, high))
            rows += ledger.store.rows.select_columns(claims_projection.CLAIMS, KPI_COLUMNS,
                                                     where={"complete_at": None}, between=("reported_us", low, high))
            select_times.append(time.perf_counter() - began)
        compute_times = []
        for _ in range(kpi_rounds):
            began = time.perf_counter()
            kpis_of_columns(rows, calendar=ledger.calendar, rules=claims.rules.clock_rules(), start=start, end=end)
            compute_times.append(time.perf_counter() - began)
        # Untimed: the same figures from whole rows with their RFC 3339 texts (kpis(), which parses and checks
        # each row), over the whole table: the microsecond columns say what the texts say.
        whole = ledger.store.rows.select(claims_projection.CLAIMS)
        by_text = kpis(whole, calendar=ledger.calendar, rules=claims.rules.clock_rules(), start=start, end=end)
        agree = by_text == {key: value for key, value in figures.items() if key not in ("from", "to", "rules")}
        out["kpi"] = {"service": stats(service_times), "select": stats(select_times), "compute": stats(compute_times),
                      "rows": len(rows), "claims_counted": counted, "claims_expected": kpi_expected,
                      "figures_agree_with_whole_rows": agree}
    finally:
        ledger.close()
    return out


# --- report -------------------------------------------------------------------------------------------------------


def _check(name: str, value: float | None, unit: str, target: str, met: bool | None) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "met": met}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure with its target and whether it is met (None: no target, a figure to read)."""
    out = [_check(f"section {name} ran", None, "", "no error", False) for name in report.get("errors", {})]
    n = report["settings"]["clients"]
    limit = f"< {FAST_P99_MS:g} ms"
    for key, label in (("sequential", "1 client"), ("concurrent", f"{n} clients")):
        if key in report:
            lat = report[key]["latency"].get("invoice", {})
            p99 = lat.get("p99_ms")
            out += [_check(f"fast track: e-invoice -> automatic approval p50, {label}", lat.get("median_ms"), "ms",
                           "-", None),
                    _check(f"fast track: e-invoice -> automatic approval p95, {label}", lat.get("p95_ms"), "ms",
                           "-", None),
                    _check(f"fast track: e-invoice -> automatic approval p99, {label}", p99, "ms", limit,
                           p99 is not None and p99 < FAST_P99_MS),
                    _check(f"fast track: automatic approvals, {label}", lat.get("per_second"), "claims/s", "-",
                           None)]
    if "sample" in report:
        s = report["sample"]
        out.append(_check("answers as the review sample drew them (payment_pending, or under_review when drawn)",
                          s["automatic_claims"], "claims", f"all; {s['drawn']} drawn", bool(s["answers_as_drawn"])))
    if "accounting" in report:
        a = report["accounting"]
        out.append(_check("payment instructions of 900.00, one per approved claim", a["instructions"], "",
                          f"== {a['approved_answers']:,} approved answers",
                          bool(a["one_per_approved_claim"] and a["all_of_the_net"])))
    if "evaluate" in report:
        e = report["evaluate"]
        out += [_check(f"evaluate (assessment + first review + flags) p50, {e['n']:,} runs", e["median_ms"], "ms",
                       "-", None),
                _check(f"evaluate (assessment + first review + flags) p99, {e['n']:,} runs", e["p99_ms"], "ms",
                       f"< {EVALUATE_P99_MS:g} ms", e["p99_ms"] < EVALUATE_P99_MS)]
    if "assess" in report:
        a = report["assess"]
        out += [_check(f"ClaimsService.assess (journal read, evaluate, record) p50, {a['n']:,} runs",
                       a["median_ms"], "ms", "-", None),
                _check(f"ClaimsService.assess (journal read, evaluate, record) p99, {a['n']:,} runs",
                       a["p99_ms"], "ms", "-", None)]
    judged = report["settings"]["kpi_claims"] >= KPI_CLAIMS
    kpi_limit = f"< {KPI_SECONDS * 1000:g} ms" + ("" if judged else f" at {KPI_CLAIMS:,} claims")

    def kpi_met(found: dict[str, Any]) -> bool | None:
        return found["max_ms"] < KPI_SECONDS * 1000 if judged else None

    if "kpi_http" in report:
        k = report["kpi_http"]
        out += [_check(f"GET /v1/kpis over {k['claims_counted']:,} claims, max of {k['n']}", k["max_ms"], "ms",
                       kpi_limit, kpi_met(k)),
                _check("claims the KPIs counted over HTTP", k["claims_counted"], "claims",
                       f"== {k['claims_expected']:,} rows", k["claims_counted"] == k["claims_expected"])]
    if "kpi_http_quiet" in report:
        k = report["kpi_http_quiet"]
        out.append(_check(f"GET /v1/kpis over {k['claims_counted']:,} claims with anchoring caught up, max of "
                          f"{k['n']}", k["max_ms"], "ms", kpi_limit, kpi_met(k)))
    if "kpi" in report:
        k = report["kpi"]
        out += [_check(f"ClaimsService.kpis (select + figures) over {k['rows']:,} claims, max of "
                       f"{k['service']['n']}", k["service"]["max_ms"], "ms", kpi_limit, kpi_met(k["service"])),
                _check(f"kpis_of_columns() figures alone over {k['rows']:,} rows, max of {k['compute']['n']}",
                       k["compute"]["max_ms"], "ms", "-", None),
                _check("KPIs from the microsecond columns == kpis() from the whole rows' texts",
                       k["figures_agree_with_whole_rows"], "", "equal", k["figures_agree_with_whole_rows"])]
    failures = sum(report[k]["failures"] for k in ("report", "warm_up", "sequential", "concurrent", "review")
                   if k in report)
    out.append(_check("failed requests (set-up, warm-up and review claims included)", failures, "", "0",
                      failures == 0 and "errors" not in report))
    return out


def tables(report: dict[str, Any]) -> list[Table]:
    def ms(found: dict[str, Any], key: str) -> str:
        return f"{found[key]:.1f}" if key in found else "-"

    def row(label: str, lat: dict[str, Any], cores: str = "-") -> list[str]:
        rate = f"{lat['per_second']:,.1f}" if "per_second" in lat else "-"
        return [label, ms(lat, "median_ms"), ms(lat, "p95_ms"), ms(lat, "p99_ms"), ms(lat, "max_ms"), rate,
                f"{lat.get('n', 0):,}", cores]

    n = report["settings"]["clients"]
    http = []
    if "report" in report:
        http.append(row(f"0. report with 4 documents (POST /v1/claims), {n} clients", report["report"]["latency"]))
    for key, label in (("sequential", "1 client"), ("concurrent", f"{n} clients")):
        if key in report:
            found = report[key]
            cores = f"{found['server_cpu_cores_busy']:.2f}"
            for step, name in (("invoice", "automatic approval"),
                               ("invoice (drawn by the review sample)", "drawn by the review sample")):
                if step in found["latency"]:
                    http.append(row(f"1. e-invoice -> {name}, {label}", found["latency"][step], cores))
    if "review" in report and "invoice over the automatic limit" in report["review"]["latency"]:
        http.append(row("1. e-invoice -> a reviewer's queue (3,000 payable), 1 client",
                        report["review"]["latency"]["invoice over the automatic limit"],
                        f"{report['review']['server_cpu_cores_busy']:.2f}"))
    if "kpi_http" in report:
        k = report["kpi_http"]
        http.append(row(f"3. GET /v1/kpis over {k['claims_counted']:,} claims, 1 client", k))
    if "kpi_http_quiet" in report:
        k = report["kpi_http_quiet"]
        http.append(row(f"3. GET /v1/kpis over {k['claims_counted']:,} claims, 1 client, anchoring caught up", k))
    local = []
    if "evaluate" in report:
        local.append(row("2. evaluate (pure): assessment, first review, flags, triage", report["evaluate"]))
    if "assess" in report:
        local.append(row("2. ClaimsService.assess: journal read + evaluate + events recorded", report["assess"]))
    if "kpi" in report:
        k = report["kpi"]
        local += [row(f"3. ClaimsService.kpis over {k['rows']:,} claims: select + figures", k["service"]),
                  row("3. the select alone (17 columns of the claims read model, as tuples)", k["select"]),
                  row("3. kpis_of_columns() alone over the selected rows", k["compute"])]
    header = ["step", "p50 ms", "p95 ms", "p99 ms", "max ms", "per s", "n", "server cores"]
    out: list[Table] = [(f"Claims over HTTP against lifeledger serve (chain {report['settings']['chain_url']})",
                         header, http), ("Claims in process, on the server's data dir after it stopped", header,
                                         local)]
    out.append(benchkit.targets_table(report["targets"], decimal_units=("ms", "claims/s")))
    return out


def notes(report: dict[str, Any]) -> list[str]:
    """Lines under the tables: the set-up, the generators, what the server held after, what an error stopped."""
    s = report["settings"]
    lines = [f"Server: {SERVER} {s['chain_url']}, {s.get('workers', 1)} worker process(es)."]
    if "setup" in report:
        u = report["setup"]
        lines.append(f"Set-up (in process, untimed): {u['policies']:,} medical policies issued {BEHIND_DAYS} days "
                     f"ago in {u['seconds']:.1f} s, then {s['kpi_claims']:,} synthetic claims rows written in "
                     f"{u['rows_seconds']:.1f} s.")
    if "anchoring_before" in report:
        a = report["anchoring_before"]
        if a["lag_found"] is not None:
            lines.append(f"Anchoring: the server found {a['lag_found']:,} entries to anchor (the set-up's and the "
                         f"reports'); the timing began after {a['seconds_waited']:.1f} s, with {a['lag_left']:,} "
                         f"left.")
    if "kpi_http_quiet" in report:
        k, q = report["kpi_http"], report["kpi_http_quiet"]
        a = q["anchoring"]
        waited = "" if a["lag_found"] is None else (f", after {a['seconds_waited']:.1f} s waiting for "
                                                    f"{a['lag_found']:,} entries to be anchored")
        lines.append(f"GET /v1/kpis, ms a round: right after the load {', '.join(map(str, k['rounds_ms']))}; then "
                     f"with nothing left to anchor{waited}: {', '.join(map(str, q['rounds_ms']))}.")
    if "sample" in report:
        m = report["sample"]
        lines.append(f"Review sample (rate {m['rate']}): {m['drawn']} of {m['automatic_claims']} automatically "
                     f"approvable claims drawn for a reviewer, as recomputed from the seed.")
    for name in ("sequential", "concurrent"):
        if name in report:
            found = report[name]
            lines.append(f"{name}: load from {found['generator']}, which used {found['generator_cpu_seconds']:.1f} s "
                         f"of CPU over {found['seconds']:.1f} s.")
    return lines + benchkit.after_load_lines(report)


# --- main ---------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write every number, the machine and the settings here")
    parser.add_argument("--format", choices=("rich", "markdown"), default=None,
                        help="table style (default: rich on a terminal, markdown otherwise)")
    parser.add_argument("--quick", action="store_true", help="40 + 12 fast-track claims, 400 evaluations, "
                                                             "10,000 claims rows, 2 KPI rounds (under a minute)")
    parser.add_argument("--claims", type=int, help="fast-track claims from --clients clients (1.; default 320, "
                                                   "quick 40)")
    parser.add_argument("--sequential", type=int, help="fast-track claims one at a time (1.; default 100, "
                                                       "quick 12)")
    parser.add_argument("--review-claims", type=int, help="claims above the automatic limit, assessed again in "
                                                          "process (2.; default 8, quick 4)")
    parser.add_argument("--iterations", type=int, help="evaluate runs (2.; default 2000, quick 400)")
    parser.add_argument("--kpi-claims", type=int, help="synthetic claims rows (3.; default 100,000, quick 10,000: "
                                                       "the KPI target is judged at 100,000 or more)")
    parser.add_argument("--kpi-rounds", type=int, help="KPI queries timed (3.; default 5, quick 2)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="the server's worker processes (serve --workers; default serve's: one per CPU, at most 4)")
    parser.add_argument("--chain-url", default="embedded", help="the server's LIFELEDGER_CHAIN_URL (its default: "
                                                                "embedded; none turns anchoring off)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the server's log")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.claims, args.sequential, args.review_claims, args.iterations, args.kpi_rounds, args.clients) < 1 \
            or args.kpi_claims < 0:
        parser.error("--claims, --sequential, --review-claims, --iterations, --kpi-rounds and --clients must be "
                     "positive, --kpi-claims not negative")
    if WARM_UP + args.sequential + args.claims > 1000:
        parser.error("at most 1000 fast-track claims in all (the payments system reads at most 1000 instructions)")
    args.format = args.format or ("rich" if sys.stdout.isatty() else "markdown")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lifeledger-bench-claims-"))
    started, load_before = time.perf_counter(), os.getloadavg()
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "format", "keep")}
    report: dict[str, Any] = {"commit": benchkit.commit(), "machine": benchkit.machine(PACKAGES),
                              "settings": {**settings, "storage": "SQLite file in the data dir (the default)",
                                           "policies_issued_days_ago": BEHIND_DAYS}}
    report["server"] = f"{SERVER} {args.chain_url}, {args.workers} worker process(es)"
    log(f"working in {work}")
    try:
        policies = WARM_UP + args.sequential + args.claims + args.review_claims
        log(f"0. set-up: {policies} medical policies issued {BEHIND_DAYS} days ago, {args.kpi_claims:,} claims rows")
        made = set_up(work / "data", policies=policies, kpi_claims=args.kpi_claims)
        report["setup"] = {"policies": len(made.policies), "seconds": made.seconds, "rows_seconds": made.rows_seconds}
        try:
            report.update(load(args, work, made))
        except Exception as exc:  # report what was measured; the error is a failed target
            log(f"the HTTP sections failed: {type(exc).__name__}: {exc}")
            report.setdefault("errors", {})["http"] = f"{type(exc).__name__}: {exc}"
        if report.get("review_claims"):
            expected = args.kpi_claims + len(made.policies)
            found = in_process(work / "data", report["review_claims"], iterations=args.iterations,
                               kpi_rounds=args.kpi_rounds, kpi_expected=expected)
            report.update({"evaluate": found["evaluate"], "assess": found["assess"], "kpi": found["kpi"]})
    except Exception as exc:
        log(f"the benchmark failed: {type(exc).__name__}: {exc}")
        report.setdefault("errors", {})["run"] = f"{type(exc).__name__}: {exc}"
    finally:
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
