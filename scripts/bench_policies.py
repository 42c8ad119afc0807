"""Policies benchmark: quotes, automatic underwriting and issue over HTTP; a projection rebuild; e-policy renders.

A real ``lifeledger serve`` (``python -m api.cli serve``; ``--workers``, default one per CPU) runs on a fresh data dir
and a free loopback port with its defaults: a SQLite file in the data dir, the embedded chain (``--chain-url`` changes
it; ``none`` turns anchoring off), a checkpoint a second, the policy clock every 300 s. Tokens are signed with the
token key the server made in its data dir (as ``lifeledger token`` does). What is measured, and the issue's target:

1. ``POST /v1/quotes`` (public) from ``--clients`` concurrent clients for ``--phase-seconds``: p50/p99 and rate,
   target p99 < 20 ms. Load from wrk with a Lua script when wrk is on PATH (each request a distinct plan and
   profile; latency measured in Lua per request, matched by the plan echoed in the answer), else asyncio + httpx;
2. ``POST /v1/applications`` with a complete clean declaration (underwritten automatically in the same request),
   one customer per client, each application insuring a new person, for ``--phase-seconds``: p50/p99, target
   p99 < 100 ms; every answer must be ``accepted`` with outcome ``standard``;
3. for ``--duration`` seconds each client loops: apply (as in 2) -> ``POST /v1/payments`` of the first premium with a
   ``system`` token (issues the policy, renders its e-policy PDF, queues its digest for the chain): issued
   policies/s (target >= 50/s), p50/p99 of each step, failures (must be 0), and nothing lost: the policies the API
   lists for the customers (``GET /v1/policies?status=FreeLook``) are exactly those the payment answers issued;
4. after the server stops, a rebuild of the policies projection tables from the journal on the closed data dir
   (``ledger.journal.rebuild.rebuild``, as ``Ledger.open`` rebuilds stale tables): entries replayed/s, policy events
   folded/s, and whether the rebuilt rows equal the ones the server wrote;
5. the e-policy PDF of an issued policy rendered from its recorded view (``ledger.policies.epolicy.render``):
   median of ``--renders``, its size, and that it hashes to the registered digest.

Section 2's applications come from wrk when it is on the PATH (``--generator``; ``scripts/wrk_clients.py``: one
connection and one wrk thread per client, each client its own customer and prepared applications, latency
measured in Lua), otherwise from asyncio + httpx clients in this process; section 3 always from asyncio + httpx
(each payment needs the application's answer), one connection per client. Every client waits for its last
answer. ``--workers`` runs the server with that many worker processes (one journal writer, in the serving
process). Tables go to stdout (rich on a terminal, else Markdown), progress to stderr, everything to ``--json``::

    .venv/bin/python scripts/bench_policies.py --json bench-results/policies.json
    .venv/bin/python scripts/bench_policies.py --quick          # 10 s of issue load, about a minute in all
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import benchkit
import httpx
import wrk_clients
from bench_journal_http import cpu_seconds, free_port, process_cpu
from benchkit import ROOT, Table, latency_ms, log

from api.app import tune_gc
from api.auth import Role, issue_token
from ledger.app import PROJECTORS, Ledger
from ledger.crypto.keys import LocalKeys, SigningKey
from ledger.journal.opening import Opener
from ledger.journal.rebuild import rebuild
from ledger.log.encoding import digest_str, sha256
from ledger.log.statements import EntryRecord
from ledger.parties.identity import resident_id_check_char
from ledger.policies import epolicy
from ledger.policies import events as policy_events
from ledger.policies.projection import PoliciesProjector
from ledger.policies.rules.samples import CLEAN
from ledger.projections.registry import Registry
from ledger.settings import Settings, default_workers
from ledger.store import Store

QUOTE_P99_MS = 20.0
APPLY_P99_MS = 100.0
ISSUE_RATE = 50.0
PACKAGES = ("fastapi", "uvicorn", "httpx", "SQLAlchemy", "cryptography", "reportlab", "segno")
QUICK = {"duration": 10, "phase_seconds": 5, "renders": 10}
DEFAULTS = {"duration": 60, "phase_seconds": 20, "renders": 50}
WRK_APPLICATIONS_PER_SECOND = 1000  # applications prepared per second of load, shared by the wrk clients (the
                                     # server makes about 150-300 a second on 2 cores, however many clients wait)
PER_CUSTOMER = 400  # policies per customer before a client moves on to a new one (the API lists at most 1000)
PLAN = {"sum_insured": "500000", "term_years": 20, "payment_years": 20, "frequency": "annual"}
ISSUED = "FreeLook"  # the status of a policy just issued
PYTHON = "python (asyncio + httpx, in the benchmark process)"
SERVER = "python -m api.cli serve, fresh data dir, SQLite file, LIFELEDGER_CHAIN_URL ="


# --- people and bodies --------------------------------------------------------------------------------------------


def resident_id(n: int, *, area: str) -> str:
    """The ``n``-th distinct valid resident identity number in ``area``: born 1970-1994, alternating sexes."""
    birth = date(1970, 1, 1) + timedelta(days=n % 9000)
    first17 = f"{area}{birth:%Y%m%d}{(n // 9000) % 100:02d}{1 + n % 2}"
    return first17 + resident_id_check_char(first17)


def customer_id(kind: str, number: int) -> str:
    """A party id in the ledger's form (``P`` and 20 hex digits) for the benchmark's ``number``-th customer."""
    return f"P{'A' if kind == 'apply' else 'B'}{number:019X}"


def application_body(n: int, *, customer: int) -> dict[str, Any]:
    """A complete application with a clean declaration, insuring the ``n``-th new person."""
    return {
        "product_id": "term-life", "plan": PLAN,
        "policyholder": {"name": "张三", "id_number": resident_id(customer, area="310101"), "phone": "13800001234"},
        "insured": {"name": "王五", "id_number": resident_id(n, area="110105")}, "relationship": "spouse",
        "beneficiaries": [{"person": {"name": "李四", "id_number": resident_id(n, area="440305")}, "share": "100"}],
        "occupation_class": 1, "payment_account": "6222020200112233445",
        "consent": {"terms_read": True, "insured_consents": True}, "answers": dict(CLEAN),
    }


def quote_bodies() -> list[tuple[str, str]]:
    """Distinct quote requests as (key, compact JSON): every sum insured, age and sex the plan allows to 1,000,000."""
    out = []
    for amount, age, sex in itertools.product(range(100_000, 1_000_001, 10_000), range(18, 61), "MF"):
        body = {"product_id": "term-life", "plan": {**PLAN, "sum_insured": str(amount)}, "age": age, "sex": sex}
        out.append((f"{amount}/{age}/{sex}", json.dumps(body, separators=(",", ":"))))
    return out


# --- the server ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(data_dir: Path, log_path: Path, *, chain_url: str, workers: int) -> Iterator[tuple[str, int]]:
    """Run ``lifeledger serve`` (with ``workers`` worker processes) on a free port until the block ends (stopped
    by its process id with SIGINT)."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("LIFELEDGER_")}
    env["LIFELEDGER_CHAIN_URL"] = chain_url
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
               "--workers", str(workers)]
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lifeledger serve did not come up: {log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        log(f"lifeledger serve is up at {url} (pid {process.pid}, chain {chain_url})")
        yield url, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- load ---------------------------------------------------------------------------------------------------------


class Tally:
    """Latencies of successful steps by name, failures by step, and a few failure texts."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.failures: Counter[str] = Counter()
        self.examples: list[str] = []

    def ok(self, step: str, seconds: float) -> None:
        self.latencies.setdefault(step, []).append(seconds)

    def fail(self, step: str, text: str) -> None:
        self.failures[step] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{step}: {text[:300]}")

    def summary(self, seconds: float) -> dict[str, Any]:
        return {"steps": {name: {**latency_ms(values), "per_second": len(values) / seconds}
                          for name, values in self.latencies.items()},
                "failures": sum(self.failures.values()), "failures_by_step": dict(self.failures),
                "failure_examples": self.examples}


def closed_loop(url: str, *, clients: int, seconds: float | None,
                step: Callable[[int, httpx.AsyncClient], Awaitable[None]]) -> dict[str, float]:
    """``clients`` asyncio workers, each with a one-connection client, calling ``step`` until the deadline (once
    each without ``seconds``); every worker awaits its last answer. Returns the wall time and this process's CPU."""
    marks: dict[str, float] = {}

    async def main() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with contextlib.AsyncExitStack() as stack:
            http = [await stack.enter_async_context(httpx.AsyncClient(base_url=url, limits=limits, timeout=60))
                    for _ in range(clients)]

            async def worker(number: int, deadline: float | None) -> None:
                await step(number, http[number])
                while deadline is not None and time.perf_counter() < deadline:
                    await step(number, http[number])

            marks["cpu"], marks["start"] = process_cpu(), time.perf_counter()
            deadline = None if seconds is None else marks["start"] + seconds
            await asyncio.gather(*(worker(n, deadline) for n in range(clients)))
            marks["end"] = time.perf_counter()
            marks["cpu"] = process_cpu() - marks["cpu"]

    asyncio.run(main())
    return {"seconds": marks["end"] - marks["start"], "generator_cpu_seconds": marks["cpu"]}


QUOTE_LUA = r"""
-- generated by scripts/bench_policies.py: distinct quote requests, latency per request matched by the echoed plan
""" + benchkit.LUA_MONOTONIC_CLOCK + r"""local BODIES, RESULTS = "@BODIES@", "@RESULTS@"
local HEADERS = {["Content-Type"] = "application/json"}
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  requests, keys = {}, {}
  for line in io.lines(string.format(BODIES, thread_id)) do
    local key, body = string.match(line, "^(%S+)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "/v1/quotes", HEADERS, body)
    keys[#keys + 1] = key
  end
  nxt, answered, first, last = 0, 0, 0, 0
  sent, lat, statuses = {}, {}, {}
end

function request()
  local i = nxt % #requests + 1
  nxt = nxt + 1
  local t = now()
  if first == 0 then first = t end
  sent[keys[i]] = t
  return requests[i]
end

function response(status, headers, body)
  local t = now()
  answered, last = answered + 1, t
  statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
  local amount = string.match(body, '"sum_insured":%s*{%s*"amount":%s*"(%d+)"')
  local age = string.match(body, '"age":%s*(%d+)')
  local sex = string.match(body, '"sex":%s*"(%u)"')
  local key = amount and age and sex and (amount .. "/" .. age .. "/" .. sex)
  if status == 200 and key and sent[key] then
    lat[#lat + 1] = t - sent[key]
    sent[key] = nil
  end
end

function done(summary, latency, requests)
  local f = assert(io.open(RESULTS, "w"))
  for _, thread in ipairs(threads) do
    local id = thread:get("thread_id")
    f:write(string.format("thread %d %d %.9f %.9f\n", id, thread:get("answered"), thread:get("first"),
                          thread:get("last")))
    for code, count in pairs(thread:get("statuses")) do f:write(string.format("status %s %d\n", code, count)) end
    local parts = {}
    for _, value in ipairs(thread:get("lat")) do parts[#parts + 1] = string.format("%.7f", value) end
    f:write("lat " .. table.concat(parts, " ") .. "\n")
  end
  f:close()
end
"""


def wrk_quotes(url: str, *, clients: int, seconds: int, work: Path) -> dict[str, Any]:
    """Quotes from wrk for ``seconds``; each wrk thread cycles through its own share of distinct requests."""
    work.mkdir(parents=True, exist_ok=True)
    bodies, threads = quote_bodies(), min(2, os.cpu_count() or 1)
    for number in range(threads):
        (work / f"quotes-{number}.tsv").write_text("".join(f"{k}\t{b}\n" for k, b in bodies[number::threads]))
    results, script = work / "results.txt", work / "quotes.lua"
    script.write_text(QUOTE_LUA.replace("@BODIES@", str(work / "quotes-%d.tsv")).replace("@RESULTS@", str(results)))
    command = ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "30s",
               "-s", str(script), url]
    text, cpu = benchkit.run_wrk(command, results)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    firsts, lasts, answered = [], [], 0
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind == "thread":
            answered += int(fields[1])
            firsts.append(float(fields[2]))
            lasts.append(float(fields[3]))
        elif kind == "status":
            statuses[fields[0]] += int(fields[1])
        elif kind == "lat":
            latencies.extend(float(value) for value in fields)
    elapsed = max(lasts) - min(first for first in firsts if first)
    return {"generator": "wrk", "wrk_command": " ".join([*command[:-3], "quotes.lua", url]), "answered": answered,
            "statuses": dict(statuses), "failures": answered - statuses.get("200", 0), "seconds": elapsed,
            "requests_per_second": answered / elapsed, "latency": latency_ms(latencies),
            "latency_of": "200 answers, send to answer, measured in Lua", "distinct_requests": len(bodies),
            "generator_cpu_seconds": cpu}


def python_quotes(url: str, *, clients: int, seconds: int) -> dict[str, Any]:
    bodies, tally, turn = quote_bodies(), Tally(), itertools.count()

    async def step(_: int, client: httpx.AsyncClient) -> None:
        start = time.perf_counter()
        try:
            answer = await client.post("/v1/quotes", content=bodies[next(turn) % len(bodies)][1],
                                       headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            tally.fail("quote", f"{type(exc).__name__}: {exc}")
            return
        if answer.status_code == 200:
            tally.ok("quote", time.perf_counter() - start)
        else:
            tally.fail("quote", f"{answer.status_code} {answer.text}")

    timing = closed_loop(url, clients=clients, seconds=seconds, step=step)
    latencies, failures = tally.latencies.get("quote", []), tally.failures["quote"]
    return {**timing, "generator": PYTHON, "answered": len(latencies) + failures, "failures": failures,
            "requests_per_second": (len(latencies) + failures) / timing["seconds"], "latency": latency_ms(latencies),
            "latency_of": "200 answers, send to answer, measured in Python", "failure_examples": tally.examples}


class Policies:
    """The applying and paying clients of sections 2 and 3, against one server."""

    def __init__(self, url: str, key: SigningKey, *, issuer: str, ttl: int) -> None:
        self.url = url
        self.numbers = itertools.count()  # one new insured person per application
        self.tokens: dict[str, dict[str, str]] = {}
        self.key, self.issuer, self.ttl = key, issuer, ttl
        self.system = self.headers("payments", Role.SYSTEM)
        self.issued: dict[str, tuple[str, str]] = {}  # policy number -> (customer, application), from payments
        self.payers: set[str] = set()  # the customers of section 3

    def headers(self, subject: str, role: Role) -> dict[str, str]:
        if subject not in self.tokens:
            token = issue_token(self.key, subject=subject, role=role, issuer=self.issuer, ttl=self.ttl)
            self.tokens[subject] = {"Authorization": f"Bearer {token}"}
        return self.tokens[subject]

    async def apply(self, client: httpx.AsyncClient, tally: Tally, *, kind: str, number: int
                    ) -> tuple[dict[str, Any], str] | None:
        customer = customer_id(kind, number)
        body = application_body(next(self.numbers), customer=number)
        start = time.perf_counter()
        try:
            answer = await client.post("/v1/applications", json=body,
                                       headers=self.headers(customer, Role.CUSTOMER))
        except httpx.HTTPError as exc:
            tally.fail("apply", f"{type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - start
        found = answer.json() if answer.status_code == 201 else {}
        if found.get("status") != "accepted" or found.get("underwriting", {}).get("outcome") != "standard":
            tally.fail("apply", f"{answer.status_code} {answer.text}")
            return None
        tally.ok("apply", elapsed)
        return found, customer

    async def apply_and_pay(self, client: httpx.AsyncClient, tally: Tally, *, number: int) -> None:
        start = time.perf_counter()
        applied = await self.apply(client, tally, kind="issue", number=number)
        if applied is None:
            return
        application, customer = applied
        self.payers.add(customer)
        paid_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        application_id = application["application_id"]
        body = {"application_id": application_id, "payment_ref": f"BENCH-{application_id}",
                "amount": application["premium"]["modal_premium"]["amount"], "paid_at": paid_at}
        begin = time.perf_counter()
        try:
            answer = await client.post("/v1/payments", json=body, headers=self.system)
        except httpx.HTTPError as exc:
            tally.fail("pay", f"{type(exc).__name__}: {exc}")
            return
        end = time.perf_counter()
        found = answer.json() if answer.status_code == 201 else {}
        policy = found.get("policy", {})
        if found.get("outcome") != "applied" or policy.get("status") != ISSUED or not policy.get("policy_no"):
            tally.fail("pay", f"{answer.status_code} {answer.text}")
            return
        tally.ok("pay", end - begin)
        tally.ok("apply + pay", end - start)
        self.issued[policy["policy_no"]] = (customer, application_id)

    def listed(self, client: httpx.Client) -> dict[str, Any]:
        """The issued policies the API lists for every customer of section 3, as policyholder."""
        found: dict[str, tuple[str, str]] = {}
        capped = False
        for customer in sorted(self.payers):
            answer = client.get("/v1/policies", headers=self.headers(customer, Role.CUSTOMER),
                                params={"status": ISSUED, "limit": 1000})
            answer.raise_for_status()
            rows = answer.json()
            capped = capped or len(rows) >= 1000
            found.update({row["policy_no"]: (customer, row["application_id"]) for row in rows
                          if row["role"] == "policyholder"})
        return {"listed": len(found), "payment_answers": len(self.issued), "capped": capped,
                "nothing_lost": found == self.issued, "missing": sorted(set(self.issued) - set(found))[:5],
                "extra": sorted(set(found) - set(self.issued))[:5]}


def load(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Sections 1-3 against one server, then what the API lists and one e-policy PDF; returns their numbers."""
    data_dir = work / "data"
    out: dict[str, Any] = {}
    with serving(data_dir, work / "serve.log", chain_url=args.chain_url, workers=args.workers) as (url, pid):
        issuer = str(Settings.model_fields["jwt_issuer"].default)  # the server runs without LIFELEDGER_* overrides
        ttl = 3600 + 4 * (args.duration + 2 * args.phase_seconds)
        bench = Policies(url, LocalKeys.load(data_dir).token, issuer=issuer, ttl=ttl)
        use_wrk = args.generator == "wrk" or (args.generator == "auto" and benchkit.wrk_available())
        args.use_wrk, args.work = use_wrk, work
        with httpx.Client(base_url=url, timeout=60) as client:
            for _, body in quote_bodies()[:100]:  # warm-up: imports, caches, connections
                client.post("/v1/quotes", content=body, headers={"Content-Type": "application/json"})

            def phase(name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
                cpu = cpu_seconds(pid)
                log(f"{name}: {args.clients} clients")
                result = run()
                result["server_cpu_cores_busy"] = (cpu_seconds(pid) - cpu) / result["seconds"]
                return result

            out["quotes"] = phase("1. quotes", lambda: wrk_quotes(
                url, clients=args.clients, seconds=args.phase_seconds, work=work / "wrk") if use_wrk
                else python_quotes(url, clients=args.clients, seconds=args.phase_seconds))
            out["applications"] = phase("2. applications", lambda: applications(bench, args))
            out["issue"] = phase("3. apply -> pay -> issue", lambda: issue(bench, args))
            out["issue"]["accounting"] = bench.listed(client)
            out["issue"]["healthz_after"] = client.get("/healthz").json()
            if not bench.issued:
                raise RuntimeError(f"no policy was issued: {out['issue']['failure_examples']}")
            policy_no, (customer, application_id) = next(iter(bench.issued.items()))
            pdf = client.get(f"/v1/policies/{policy_no}/documents/1", headers=bench.headers(customer, Role.CUSTOMER))
            pdf.raise_for_status()
            documents = client.get(f"/v1/policies/{policy_no}/documents",
                                   headers=bench.headers(customer, Role.CUSTOMER)).json()
            out["sample"] = {"policy_no": policy_no, "application_id": application_id,
                             "http_pdf_bytes": len(pdf.content), "http_pdf_digest": digest_str(sha256(pdf.content)),
                             "registered": documents[0]["digest"]}
    return out


def applications(bench: Policies, args: argparse.Namespace) -> dict[str, Any]:
    tally = Tally()

    async def step(number: int, client: httpx.AsyncClient) -> None:
        await bench.apply(client, tally, kind="apply", number=number)

    warm = Tally()

    async def first(number: int, client: httpx.AsyncClient) -> None:
        await bench.apply(client, warm, kind="apply", number=number)

    closed_loop(bench.url, clients=args.clients, seconds=None, step=first)  # registers each customer, untimed
    if args.use_wrk:
        return {**wrk_applications(bench, args), "warm_up_failures": sum(warm.failures.values())}
    timing = closed_loop(bench.url, clients=args.clients, seconds=args.phase_seconds, step=step)
    return {**timing, **tally.summary(timing["seconds"]), "warm_up_failures": sum(warm.failures.values()),
            "generator": PYTHON}


def wrk_applications(bench: Policies, args: argparse.Namespace) -> dict[str, Any]:
    """Section 2 from wrk: each client its own connection and customer, each application a new insured person."""
    clients = []
    for number in range(args.clients):
        customer = customer_id("apply", number)
        calls = [wrk_clients.Call("POST", "/v1/applications", json.dumps(
            application_body(next(bench.numbers), customer=number), separators=(",", ":"), ensure_ascii=False))
            for _ in range(math.ceil(args.phase_seconds * WRK_APPLICATIONS_PER_SECOND / args.clients))]
        clients.append((bench.headers(customer, Role.CUSTOMER)["Authorization"], calls))
    found = wrk_clients.run(bench.url, clients=clients, seconds=args.phase_seconds, status=201,
                            contains=('"status":"accepted"', '"outcome":"standard"'), work=args.work / "wrk-apply",
                            cycle=False)
    found.pop("captured")
    exhausted = [t["id"] for t in found["threads"] if t["sent"] >= len(clients[t["id"]][1])]
    if exhausted:
        raise RuntimeError(f"wrk clients {exhausted} sent every prepared application before the deadline")
    return {**found, "steps": {"apply": {**found["latency"], "per_second": found["requests_per_second"]}}}


def issue(bench: Policies, args: argparse.Namespace) -> dict[str, Any]:
    tally, rounds = Tally(), Counter[int]()

    async def step(number: int, client: httpx.AsyncClient) -> None:
        await bench.apply_and_pay(client, tally, number=number * 1000 + rounds[number] // PER_CUSTOMER)
        rounds[number] += 1

    warm = Tally()

    async def first(number: int, client: httpx.AsyncClient) -> None:
        await bench.apply_and_pay(client, warm, number=number * 1000)

    closed_loop(bench.url, clients=args.clients, seconds=None, step=first)  # registers each customer, untimed
    warm_issued = len(bench.issued)
    timing = closed_loop(bench.url, clients=args.clients, seconds=args.duration, step=step)
    issued = len(bench.issued) - warm_issued
    return {**timing, **tally.summary(timing["seconds"]), "issued": issued, "warm_up_issued": warm_issued,
            "warm_up_failures": sum(warm.failures.values()), "issued_per_second": issued / timing["seconds"],
            "generator": PYTHON}


# --- after the server: rebuild and render ---------------------------------------------------------------------------


def closed_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=None, chain_url="none")  # not this shell's LIFELEDGER_*


def rebuild_rate(data_dir: Path, *, rounds: int) -> dict[str, Any]:
    """Time ``rounds`` rebuilds of the policies tables from the whole journal; compare the rows with the served."""
    registry = Registry(PROJECTORS)
    tables = [spec.name for spec in PoliciesProjector.tables if not spec.outbox]  # outboxes are work, not state
    secrets = LocalKeys.load(data_dir)
    store = Store.open(closed_settings(data_dir).resolved_database_url, specs=registry.specs.values())

    def snapshot() -> dict[str, list[str]]:
        return {name: sorted(json.dumps(row, sort_keys=True, default=str) for row in store.rows.scan(name))
                for name in tables}

    try:
        served, entries = snapshot(), store.size()
        kinds = {t.name for t in policy_events.TYPES}
        folded = sum(EntryRecord.from_leaf(row.leaf).statement.type in kinds for row in store.iter_entries(0, entries))
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            rebuild(store, registry, tables, Opener(store, secrets.master_key))
            times.append(time.perf_counter() - start)
        rebuilt = snapshot()
    finally:
        store.close()
    median = statistics.median(times)
    return {"tables": tables, "rows": {name: len(rows) for name, rows in served.items()}, "entries": entries,
            "policy_events": folded, "rounds": rounds, "seconds": times, "median_seconds": median,
            "entries_per_second": entries / median, "policy_events_per_second": folded / median,
            "matches_served": rebuilt == served}


def render_time(data_dir: Path, application_id: str, *, renders: int) -> dict[str, Any]:
    """Render the issued e-policy of ``application_id`` from its recorded view ``renders`` times."""
    ledger = Ledger.open(closed_settings(data_dir), create=False)
    try:
        issued = next(e for e in ledger.workflow.history(policy_events.stream_of(application_id))
                      if e.type == policy_events.ISSUED)
        opened = ledger.subjects.open_personal(issued.index)
        assert opened is not None, "the issue event has no personal part"
        view = epolicy.view_from_json(opened.payload["epolicy"])
        registered = issued.facts["document"]["digest"]
    finally:
        ledger.close()
    tune_gc()  # what the serving process that renders runs
    times, pdf = [], b""
    for _ in range(renders):
        start = time.perf_counter()
        pdf = epolicy.render(view)
        times.append(time.perf_counter() - start)
    return {"renders": renders, "latency": latency_ms(times), "bytes": len(pdf),
            "digest_matches": digest_str(sha256(pdf)) == registered}


# --- report -------------------------------------------------------------------------------------------------------


def _check(name: str, value: float | None, unit: str, target: str, met: bool | None) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "met": met}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure with its target and whether it is met (None: no target, a figure to read)."""
    out = [_check(f"section {name} ran", None, "", "no error", False) for name in report.get("errors", {})]
    n = report["settings"]["clients"]
    if "quotes" in report:
        q = report["quotes"]
        p99 = q["latency"].get("p99_ms")
        out += [_check(f"quote p50, {n} clients", q["latency"].get("median_ms"), "ms", "-", None),
                _check(f"quote p99, {n} clients", p99, "ms", f"< {QUOTE_P99_MS:g} ms",
                       p99 is not None and p99 < QUOTE_P99_MS),
                _check("quote rate", q["requests_per_second"], "requests/s", "-", None)]
    if "applications" in report:
        a = report["applications"]["steps"].get("apply", {})
        out += [_check("application with automatic underwriting p50", a.get("median_ms"), "ms", "-", None),
                _check("application with automatic underwriting p99", a.get("p99_ms"), "ms",
                       f"< {APPLY_P99_MS:g} ms", a.get("p99_ms") is not None and a["p99_ms"] < APPLY_P99_MS)]
    if "issue" in report:
        i = report["issue"]
        out.append(_check("issued policies (apply -> pay -> issue)", i["issued_per_second"], "policies/s",
                          f">= {ISSUE_RATE:g}/s", i["issued_per_second"] >= ISSUE_RATE))
        for step in ("apply", "pay", "apply + pay"):
            s = i["steps"].get(step, {})
            out += [_check(f"issue loop: {step} p50", s.get("median_ms"), "ms", "-", None),
                    _check(f"issue loop: {step} p99", s.get("p99_ms"), "ms", "-", None)]
        failures = sum(report[k]["failures"] + report[k].get("warm_up_failures", 0)
                       for k in ("quotes", "applications", "issue") if k in report)
        out.append(_check("failed requests (all sections, warm-up included)", failures, "", "0", failures == 0))
        acc = i["accounting"]
        out.append(_check("issued policies listed by the API", acc["listed"], "policies",
                          f"== {acc['payment_answers']:,} payment answers", bool(acc["nothing_lost"])))
    if "rebuild" in report:
        r = report["rebuild"]
        out += [_check("policies projection rebuild", r["entries_per_second"], "entries/s", "-", None),
                _check("policies projection rebuild, policy events", r["policy_events_per_second"], "events/s",
                       "-", None),
                _check("rebuilt tables equal the served ones", None, "", "equal", bool(r["matches_served"]))]
    if "epolicy" in report:
        e = report["epolicy"]
        out += [_check(f"e-policy render, median of {e['renders']}", e["latency"]["median_ms"], "ms", "-", None),
                _check("e-policy PDF size", e["bytes"], "bytes", "-", None),
                _check("e-policy rendered and served over HTTP hash to the registered digest", None, "", "equal",
                       bool(e["digest_matches"]) and report["sample"]["http_pdf_digest"] == report["sample"][
                           "registered"])]
    return out


def tables(report: dict[str, Any]) -> list[Table]:
    def ms(found: dict[str, Any], key: str) -> str:
        return f"{found[key]:.1f}" if key in found else "-"

    rows = []
    for label, section, step in (("1. POST /v1/quotes", "quotes", None), ("2. POST /v1/applications", "applications",
                                 "apply"), ("3. apply", "issue", "apply"), ("3. pay (issues)", "issue", "pay"),
                                 ("3. apply + pay", "issue", "apply + pay")):
        if section in report:
            found = report[section]
            lat = found["latency"] if step is None else found["steps"].get(step, {})
            rate = found["requests_per_second"] if step is None else lat.get("per_second", 0)
            rows.append([label, ms(lat, "median_ms"), ms(lat, "p90_ms"), ms(lat, "p99_ms"), ms(lat, "max_ms"),
                         f"{rate:,.1f}", f"{lat.get('n', 0):,}", f"{found['server_cpu_cores_busy']:.2f}"])
    out: list[Table] = [(f"Policies over HTTP: {report['settings']['clients']} clients against lifeledger serve "
                         f"(chain {report['settings']['chain_url']})", ["step", "p50 ms", "p90 ms", "p99 ms",
                                                                       "max ms", "per s", "n", "server cores"], rows)]
    out.append(benchkit.targets_table(report["targets"], decimal_units=("ms", "policies/s")))
    return out


def notes(report: dict[str, Any]) -> list[str]:
    """Lines under the tables: the generators, the chain, and what an error stopped."""
    s = report["settings"]
    lines = [f"Server: {SERVER} {s['chain_url']}, {s.get('workers', 1)} worker process(es)."]
    for name in ("quotes", "applications", "issue"):
        if name in report:
            found = report[name]
            lines.append(f"{name}: load from {found['generator']}, which used {found['generator_cpu_seconds']:.1f} s "
                         f"of CPU over {found['seconds']:.1f} s.")
    if "issue" in report:
        health, acc = report["issue"]["healthz_after"], report["issue"]["accounting"]
        lag = health.get("anchor_lag")
        anchoring = "off" if lag is None else f"{health['anchoring']}, {lag:,} entries not yet anchored"
        lines.append(f"After the load: {health['tree_size']:,} journal entries, anchoring {anchoring}; "
                     f"{acc['listed']:,} issued policies listed for {acc['payment_answers']:,} payment answers "
                     f"(warm-up included).")
    if "rebuild" in report:
        r = report["rebuild"]
        lines.append(f"Rebuild: {r['entries']:,} entries replayed, {r['policy_events']:,} of them policy events "
                     f"folded into {', '.join(r['tables'])} ({r['rows']['policies']:,} rows in policies); median "
                     f"of {r['rounds']} in {r['median_seconds']:.2f} s.")
    lines += [f"Section {name} FAILED: {error}" for name, error in report.get("errors", {}).items()]
    return lines


# --- main ---------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write every number, the machine and the settings here")
    parser.add_argument("--format", choices=("rich", "markdown"), default=None,
                        help="table style (default: rich on a terminal, markdown otherwise)")
    parser.add_argument("--quick", action="store_true", help="10 s of issue load and 5 s phases (about a minute)")
    parser.add_argument("--duration", type=int, help="seconds of apply -> pay load (3.; default 60, quick 10)")
    parser.add_argument("--phase-seconds", type=int, help="seconds of quote and application load (1., 2.; "
                                                          "default 20, quick 5)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                        help="quote and application load (1., 2.): wrk if on PATH (auto), or asyncio + httpx in "
                             "this process")
    parser.add_argument("--chain-url", default="embedded", help="the server's LIFELEDGER_CHAIN_URL (its default: "
                                                                "embedded; none turns anchoring off)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="the server's worker processes (serve --workers; default serve's: one per CPU, at most 4)")
    parser.add_argument("--renders", type=int, help="e-policy renders timed (5.; default 50, quick 10)")
    parser.add_argument("--rebuilds", type=int, default=3, help="rebuilds timed, the median reported (4.)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the server's log")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.duration, args.phase_seconds, args.clients, args.renders, args.rebuilds) < 1:
        parser.error("--duration, --phase-seconds, --clients, --renders and --rebuilds must be positive")
    if args.generator == "wrk" and not benchkit.wrk_available():
        parser.error("--generator wrk, but wrk is not on PATH (apt-get install -y wrk)")
    args.format = args.format or ("rich" if sys.stdout.isatty() else "markdown")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lifeledger-bench-policies-"))
    started, load_before = time.perf_counter(), os.getloadavg()
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "format", "keep")}
    report: dict[str, Any] = {"commit": benchkit.commit(), "machine": benchkit.machine(PACKAGES),
                              "settings": {**settings, "storage": "SQLite file in a fresh data dir (the default)"}}
    report["machine"]["wrk"] = benchkit.wrk_available()
    report["server"] = f"{SERVER} {args.chain_url}, {args.workers} worker process(es)"
    log(f"working in {work}")
    try:
        try:
            report.update(load(args, work))
        except Exception as exc:  # report what was measured; the error is a failed target
            log(f"the HTTP sections failed: {type(exc).__name__}: {exc}")
            report.setdefault("errors", {})["http"] = f"{type(exc).__name__}: {exc}"
        if "sample" in report:
            log("4. rebuilding the policies projection tables on the closed data dir")
            report["rebuild"] = rebuild_rate(work / "data", rounds=args.rebuilds)
            log("5. rendering the e-policy")
            report["epolicy"] = render_time(work / "data", report["sample"]["application_id"], renders=args.renders)
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
