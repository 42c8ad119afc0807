"""Servicing benchmark: automatic requests and live progress (SSE) over HTTP against a real server.

A real ``lifeledger serve`` (``python -m api.cli serve``; ``--workers``, default one per CPU) runs on a fresh data dir
and a free loopback port with its defaults: a SQLite file in the data dir, the embedded chain (``--chain-url`` changes
it; ``none`` turns anchoring off), a checkpoint a second, the policy and servicing clocks every 300 s. Tokens are
signed with the token key the server made in its data dir (as ``lifeledger token`` does). First every client's
customer is issued ``--policies-per-client`` policies (apply with a clean declaration, pay the first premium;
untimed). What is measured, and the issue's targets:

1. automatic operations: ``POST /v1/policies/{no}/servicing`` alternating ``address_change`` and
   ``contact_change`` from ``--clients`` concurrent clients for ``--phase-seconds``, each client on its own
   customer's policies in turn; every answer must be ``201`` with status ``completed`` (approved by the rules and
   done in the same request). Submit latency p50/p99 (target p99 < 100 ms) and throughput (target >= 300/s).
   Afterwards every policy's request list (``GET /v1/policies/{no}/servicing``) must hold exactly the completed
   requests the answers named: nothing lost, nothing extra;
2. live progress: ``--sse-samples`` high-risk requests (``payment_account_change`` with its documents), spread
   over the clients. For each, the client opens ``GET /v1/servicing/{id}/events`` on a second connection, waits
   for the first ``progress`` event, reads the one-time code from the outbox as the messaging system
   (``GET /v1/staff/servicing/codes``) and confirms (``POST .../confirm``): the change. Delivery latency is the
   time from the confirm's HTTP answer to the next ``progress`` event arriving on the stream (negative when the
   event comes first), target within 1 s (p99 and max); also from the confirm being sent, and the submit, first
   event and confirm latencies. The customer then withdraws the request (a policy holds one open request of a
   kind), and its stream must end with a ``withdrawn`` event.

Section 1's load comes from wrk when it is on the PATH (``--generator``; ``scripts/wrk_clients.py``: one connection
and one wrk thread per client, each client cycling through its own customer's requests, latency measured in Lua),
otherwise from asyncio + httpx clients in this process, which take a third of a core or more from the server on a
2-core machine; section 2 (and the set-up) always from asyncio + httpx (each step needs the answer to the one
before), one connection per client (two in section 2). Every client waits for its last answer. Tables go to
stdout (rich on a terminal, else Markdown), progress to stderr, everything to ``--json``::

    .venv/bin/python scripts/bench_servicing.py --json bench-results/servicing.json
    .venv/bin/python scripts/bench_servicing.py --quick          # 5 s of automatic requests, 64 SSE samples
    .venv/bin/python scripts/bench_servicing.py --workers 2 --chain-url none   # two worker processes, one writer
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import benchkit
import httpx
import wrk_clients
from bench_journal_http import cpu_seconds
from bench_policies import PYTHON, Policies, Tally, closed_loop, customer_id, serving
from benchkit import Table, latency_ms, log

from api.auth import Role
from ledger.crypto.keys import LocalKeys
from ledger.settings import Settings, default_workers

SUBMIT_P99_MS = 100.0
AUTOMATIC_RATE = 300.0
SSE_DELIVERY_S = 1.0
PACKAGES = ("fastapi", "uvicorn", "httpx", "SQLAlchemy", "cryptography")
QUICK = {"phase_seconds": 5, "sse_samples": 64}
DEFAULTS = {"phase_seconds": 20, "sse_samples": 320}
WAIT = 30.0  # the longest a client waits for an event before it counts a failure
SERVER = "python -m api.cli serve, fresh data dir, SQLite file, LIFELEDGER_CHAIN_URL ="
AUTOMATIC = ("address_change", "contact_change")
WRK_CALLS = 200  # distinct requests each wrk client cycles through (a request is new each time it is sent)
HOLDER = "张三"  # the policyholder's name in bench_policies.application_body


def automatic_input(operation: str, n: int) -> dict[str, Any]:
    """The ``n``-th distinct input of an automatic operation."""
    if operation == "address_change":
        return {"address": f"上海市浦东新区世纪大道{n % 2000 + 1}号{n // 2000 % 30 + 1}栋", "postcode": "200120"}
    return {"phone": f"139{n % 10**8:08d}"}


class Hall:
    """The clients of both sections: their customers, policies, documents and tokens, against one server."""

    def __init__(self, policies: Policies, *, clients: int) -> None:
        self.policies = policies
        self.customers = [customer_id("issue", number) for number in range(clients)]
        self.owned: dict[str, list[str]] = {}  # customer -> policy numbers
        self.documents: dict[str, dict[str, str]] = {}  # customer -> document code -> upload digest
        self.turn = itertools.count()
        self.completed: dict[str, set[str]] = {}  # policy -> ids of automatic requests answered completed
        self.deliveries: list[float] = []  # seconds from the change's answer to the event (negative: event first)
        self.since_sent: list[float] = []  # seconds from the change being sent to the event
        self.ended = 0  # streams that ended after the request was withdrawn

    def me(self, customer: str) -> dict[str, str]:
        return self.policies.headers(customer, Role.CUSTOMER)

    def setup(self, client: httpx.Client) -> None:
        """Group the issued policies by customer and upload each customer's two documents for section 2."""
        for policy_no, (customer, _) in self.policies.issued.items():
            self.owned.setdefault(customer, []).append(policy_no)
        missing = [c for c in self.customers if not self.owned.get(c)]
        if missing:
            raise RuntimeError(f"no policy was issued for {len(missing)} clients' customers")
        for customer in self.customers:
            docs = {}
            for code in ("ID-DOCUMENT", "BANK-ACCOUNT-PROOF"):
                answer = client.post("/v1/uploads", content=f"%PDF-1.4 {code} of {customer}".encode(),
                                     headers={**self.me(customer), "Content-Type": "application/pdf"})
                answer.raise_for_status()
                docs[code] = answer.json()["digest"]
            self.documents[customer] = docs

    async def automatic(self, number: int, client: httpx.AsyncClient, tally: Tally) -> None:
        """One automatic request on the client's next policy; it must complete in the same answer."""
        customer = self.customers[number]
        mine = self.owned[customer]
        n = next(self.turn)
        policy_no, operation = mine[n % len(mine)], AUTOMATIC[n % 2]
        start = time.perf_counter()
        try:
            answer = await client.post(f"/v1/policies/{policy_no}/servicing", headers=self.me(customer),
                                       json={"operation": operation, "input": automatic_input(operation, n)})
        except httpx.HTTPError as exc:
            tally.fail("submit", f"{type(exc).__name__}: {exc}")
            return
        elapsed = time.perf_counter() - start
        found = answer.json() if answer.status_code == 201 else {}
        if found.get("status") != "completed":
            tally.fail("submit", f"{answer.status_code} {answer.text}")
            return
        tally.ok("submit", elapsed)
        self.completed.setdefault(policy_no, set()).add(found["request_id"])

    def automatic_wrk(self, *, seconds: int, work: Path, warm: Tally) -> dict[str, Any]:
        """Section 1 from wrk: each client its own connection, customer and policies, requests as in ``automatic``."""
        clients = []
        for customer in self.customers:
            mine, calls = self.owned[customer], []
            for _ in range(WRK_CALLS):
                n = next(self.turn)
                operation = AUTOMATIC[n % 2]
                body = json.dumps({"operation": operation, "input": automatic_input(operation, n)},
                                  separators=(",", ":"), ensure_ascii=False)
                policy_no = mine[n % len(mine)]
                calls.append(wrk_clients.Call("POST", f"/v1/policies/{policy_no}/servicing", body, tag=policy_no))
            clients.append((self.me(customer)["Authorization"], calls))
        found = wrk_clients.run(self.policies.url, clients=clients, seconds=seconds, status=201,
                                contains=('"status":"completed"',), capture='"request_id":"([^"]+)"',
                                work=work, cycle=True)
        for policy_no, request_id in found.pop("captured"):
            self.completed.setdefault(policy_no, set()).add(request_id)
        submit = {**found["latency"], "per_second": found["requests_per_second"]}
        return {**found, "steps": {"submit": submit}, "completed": found["passed"],
                "completed_per_second": found["requests_per_second"],
                "warm_up_completed": sum(len(v) for v in warm.latencies.values()),
                "warm_up_failures": sum(warm.failures.values()), "operations": list(AUTOMATIC)}

    def listed(self, client: httpx.Client) -> dict[str, Any]:
        """The completed automatic requests every policy lists, against those the answers named."""
        found: dict[str, set[str]] = {}
        capped = False
        for customer, mine in self.owned.items():
            for policy_no in mine:
                answer = client.get(f"/v1/policies/{policy_no}/servicing", headers=self.me(customer))
                answer.raise_for_status()
                rows = answer.json()
                capped = capped or len(rows) >= 1000
                found[policy_no] = {row["request_id"] for row in rows
                                    if row["operation"] in AUTOMATIC and row["status"] == "completed"}
        named = {policy_no: ids for policy_no, ids in self.completed.items() if ids}
        listed = {policy_no: ids for policy_no, ids in found.items() if ids}
        return {"listed": sum(len(ids) for ids in found.values()),
                "answers": sum(len(ids) for ids in self.completed.values()), "capped": capped,
                "nothing_lost": listed == named}

    async def sse(self, number: int, client: httpx.AsyncClient, tally: Tally, *, samples: int) -> None:
        """``samples`` high-risk requests of this client, each watched on a stream while it is confirmed."""
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=str(client.base_url), limits=limits, timeout=WAIT) as streams:
            for k in range(samples):
                try:
                    await self.sse_sample(number, client, streams, tally, k=k)
                except (httpx.HTTPError, TimeoutError) as exc:
                    tally.fail("sample", f"{type(exc).__name__}: {exc}")

    async def sse_sample(self, number: int, client: httpx.AsyncClient, streams: httpx.AsyncClient, tally: Tally,
                         *, k: int) -> None:
        customer = self.customers[number]
        me = self.me(customer)
        policy_no = self.owned[customer][k % len(self.owned[customer])]
        start = time.perf_counter()
        made = await client.post(f"/v1/policies/{policy_no}/servicing", headers=me, json={
            "operation": "payment_account_change", "documents": self.documents[customer],
            "input": {"bank": "招商银行", "account_no": f"6225{number:03d}{k:012d}", "holder": HOLDER}})
        if made.status_code != 201 or made.json().get("status") != "awaiting_confirmation":
            tally.fail("high-risk submit", f"{made.status_code} {made.text}")
            return
        tally.ok("high-risk submit", time.perf_counter() - start)
        request_id = made.json()["request_id"]
        events: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        opened = time.perf_counter()
        async with streams.stream("GET", f"/v1/servicing/{request_id}/events", headers=me) as response:
            if response.status_code != 200:
                tally.fail("stream", f"{response.status_code} {(await response.aread()).decode()[:300]}")
                return
            reader = asyncio.create_task(read_progress(response, events))
            try:
                arrived, first = await asyncio.wait_for(events.get(), WAIT)
                if first.get("status") != "awaiting_confirmation":
                    tally.fail("stream", f"first event shows {first.get('status')!r}")
                    return
                tally.ok("stream: open -> first event", arrived - opened)
                code = await self.code(client, request_id)
                sent = time.perf_counter()
                confirmed = await client.post(f"/v1/servicing/{request_id}/confirm", headers=me,
                                              json={"code": code})
                answered = time.perf_counter()
                if confirmed.status_code != 200 or confirmed.json().get("status") != "under_review":
                    tally.fail("confirm", f"{confirmed.status_code} {confirmed.text}")
                    return
                tally.ok("confirm (the change)", answered - sent)
                arrived, second = await asyncio.wait_for(events.get(), WAIT)
                if second.get("status") != "under_review":
                    tally.fail("stream", f"the event after the change shows {second.get('status')!r}")
                    return
                self.deliveries.append(arrived - answered)
                self.since_sent.append(arrived - sent)
                # the customer withdraws it (one request of a kind may be open on a policy): the stream ends
                withdrawn = await client.post(f"/v1/servicing/{request_id}/withdraw", headers=me, json={})
                if withdrawn.status_code != 200:
                    tally.fail("withdraw", f"{withdrawn.status_code} {withdrawn.text}")
                    return
                _, last = await asyncio.wait_for(events.get(), WAIT)
                await asyncio.wait_for(reader, WAIT)
                if last.get("status") != "withdrawn":
                    tally.fail("stream", f"the event after the withdrawal shows {last.get('status')!r}")
                    return
                self.ended += 1
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def code(self, client: httpx.AsyncClient, request_id: str) -> str:
        """The request's one-time code as the messaging system reads it; marked delivered at once."""
        system = self.policies.headers("messaging", Role.SYSTEM)
        answer = await client.get("/v1/staff/servicing/codes", headers=system, params={"limit": 1000})
        answer.raise_for_status()
        message = next((m for m in answer.json() if m["id"] == request_id), None)
        if message is None:
            raise httpx.HTTPError(f"no code for {request_id} in the outbox")
        digits = [w for w in message["message_en"].replace(",", " ").split() if w.isdigit() and len(w) == 6]
        delivered = await client.post("/v1/staff/servicing/codes/delivered", headers=system,
                                      json={"messages": [{"id": request_id, "version": message["version"]}]})
        delivered.raise_for_status()
        return str(digits[0])


async def read_progress(response: httpx.Response, events: asyncio.Queue[tuple[float, dict[str, Any]]]) -> None:
    """Queue each ``progress`` event of a stream with the moment its last line arrived."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if event.get("event") == "progress":
                await events.put((time.perf_counter(), json.loads(event["data"])))
            event = {}
            continue
        name, _, value = line.partition(":")
        event[name] = value.removeprefix(" ")


def load(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Issue the policies, then sections 1 and 2 against one server; returns their numbers."""
    data_dir = work / "data"
    out: dict[str, Any] = {}
    with serving(data_dir, work / "serve.log", chain_url=args.chain_url, workers=args.workers) as (url, pid):
        issuer = str(Settings.model_fields["jwt_issuer"].default)  # the server runs without LIFELEDGER_* overrides
        policies = Policies(url, LocalKeys.load(data_dir).token, issuer=issuer, ttl=3600 + 10 * args.phase_seconds)
        hall = Hall(policies, clients=args.clients)
        issuing = Tally()

        async def issue(number: int, client: httpx.AsyncClient) -> None:
            for _ in range(args.policies_per_client):
                await policies.apply_and_pay(client, issuing, number=number)

        log(f"issuing {args.policies_per_client} policies to each of {args.clients} customers")
        closed_loop(url, clients=args.clients, seconds=None, step=issue)
        out["issued"] = {"policies": len(policies.issued), "failures": sum(issuing.failures.values()),
                         "failure_examples": issuing.examples}
        use_wrk = args.generator == "wrk" or (args.generator == "auto" and benchkit.wrk_available())
        with httpx.Client(base_url=url, timeout=60) as client:
            hall.setup(client)

            def phase(name: str, run: Any) -> dict[str, Any]:
                cpu = cpu_seconds(pid)
                log(f"{name}: {args.clients} clients")
                result: dict[str, Any] = run()
                result["server_cpu_cores_busy"] = (cpu_seconds(pid) - cpu) / result["seconds"]
                return result

            warm = Tally()

            async def warm_up(number: int, http: httpx.AsyncClient) -> None:
                for _ in range(5):
                    await hall.automatic(number, http, warm)

            closed_loop(url, clients=args.clients, seconds=None, step=warm_up)  # connections, caches, untimed

            def automatic() -> dict[str, Any]:
                if use_wrk:
                    return hall.automatic_wrk(seconds=args.phase_seconds, work=work / "wrk", warm=warm)
                tally = Tally()

                async def step(number: int, http: httpx.AsyncClient) -> None:
                    await hall.automatic(number, http, tally)

                timing = closed_loop(url, clients=args.clients, seconds=args.phase_seconds, step=step)
                summary = tally.summary(timing["seconds"])
                done = summary["steps"].get("submit", {}).get("n", 0)
                return {**timing, **summary, "completed": done, "completed_per_second": done / timing["seconds"],
                        "warm_up_completed": sum(len(v) for v in warm.latencies.values()),
                        "warm_up_failures": sum(warm.failures.values()), "generator": PYTHON,
                        "operations": list(AUTOMATIC)}

            out["automatic"] = phase("1. automatic operations", automatic)
            out["automatic"]["accounting"] = hall.listed(client)

            def live() -> dict[str, Any]:
                tally = Tally()
                share = [args.sse_samples // args.clients + (n < args.sse_samples % args.clients)
                         for n in range(args.clients)]

                async def step(number: int, http: httpx.AsyncClient) -> None:
                    await hall.sse(number, http, tally, samples=share[number])

                timing = closed_loop(url, clients=args.clients, seconds=None, step=step)
                return {**timing, **tally.summary(timing["seconds"]), "samples": args.sse_samples,
                        "delivered": len(hall.deliveries), "streams_ended": hall.ended,
                        "delivery_after_answer": latency_ms(hall.deliveries),
                        "delivery_after_sent": latency_ms(hall.since_sent),
                        "event_before_answer": sum(1 for d in hall.deliveries if d < 0), "generator": PYTHON}

            out["sse"] = phase("2. live progress (SSE)", live)
            out["healthz_after"] = client.get("/healthz").json()
    return out


# --- report -------------------------------------------------------------------------------------------------------


def _check(name: str, value: float | None, unit: str, target: str, met: bool | None) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "met": met}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure with its target and whether it is met (None: no target, a figure to read)."""
    out = [_check(f"section {name} ran", None, "", "no error", False) for name in report.get("errors", {})]
    n = report["settings"]["clients"]
    if "automatic" in report:
        a = report["automatic"]
        s = a["steps"].get("submit", {})
        p99 = s.get("p99_ms")
        out += [_check(f"automatic request submit p50, {n} clients", s.get("median_ms"), "ms", "-", None),
                _check(f"automatic request submit p99, {n} clients", p99, "ms", f"< {SUBMIT_P99_MS:g} ms",
                       p99 is not None and p99 < SUBMIT_P99_MS),
                _check("automatic requests completed", a["completed_per_second"], "requests/s",
                       f">= {AUTOMATIC_RATE:g}/s", a["completed_per_second"] >= AUTOMATIC_RATE)]
        acc = a["accounting"]
        out.append(_check("completed requests listed by the API", acc["listed"], "requests",
                          f"== {acc['answers']:,} completed answers", bool(acc["nothing_lost"])))
    if "sse" in report:
        e = report["sse"]
        d = e["delivery_after_answer"]
        limit = f"<= {SSE_DELIVERY_S * 1000:g} ms"
        out += [_check("SSE delivery after the change's answer p50", d.get("median_ms"), "ms", "-", None),
                _check("SSE delivery after the change's answer p99", d.get("p99_ms"), "ms", limit,
                       d.get("p99_ms") is not None and d["p99_ms"] <= SSE_DELIVERY_S * 1000),
                _check("SSE delivery after the change's answer max", d.get("max_ms"), "ms", limit,
                       d.get("max_ms") is not None and d["max_ms"] <= SSE_DELIVERY_S * 1000),
                _check("SSE samples delivered", e["delivered"], "samples", f"== {e['samples']:,}",
                       e["delivered"] == e["samples"]),
                _check("SSE streams ended after the withdrawal", e["streams_ended"], "streams",
                       f"== {e['samples']:,}", e["streams_ended"] == e["samples"])]
    failures = sum(report[k]["failures"] + report[k].get("warm_up_failures", 0)
                   for k in ("automatic", "sse") if k in report) + report.get("issued", {}).get("failures", 0)
    out.append(_check("failed requests (all sections, set-up and warm-up included)", failures, "", "0",
                      failures == 0))
    return out


def tables(report: dict[str, Any]) -> list[Table]:
    def ms(found: dict[str, Any], key: str) -> str:
        return f"{found[key]:.1f}" if key in found else "-"

    rows = []
    steps = (("1. automatic submit (address, contact)", "automatic", "submit"),
             ("2. high-risk submit (payment account)", "sse", "high-risk submit"),
             ("2. SSE open -> first event", "sse", "stream: open -> first event"),
             ("2. confirm with the code (the change)", "sse", "confirm (the change)"))
    for label, section, step in steps:
        if section in report:
            found = report[section]
            lat = found["steps"].get(step, {})
            rows.append([label, ms(lat, "median_ms"), ms(lat, "p90_ms"), ms(lat, "p99_ms"), ms(lat, "max_ms"),
                         f"{lat.get('per_second', 0):,.1f}", f"{lat.get('n', 0):,}",
                         f"{found['server_cpu_cores_busy']:.2f}"])
    if "sse" in report:
        for label, key in (("2. SSE event after the change's answer", "delivery_after_answer"),
                           ("2. SSE event after the change was sent", "delivery_after_sent")):
            lat = report["sse"][key]
            rows.append([label, ms(lat, "median_ms"), ms(lat, "p90_ms"), ms(lat, "p99_ms"), ms(lat, "max_ms"), "-",
                         f"{lat.get('n', 0):,}", f"{report['sse']['server_cpu_cores_busy']:.2f}"])
    out: list[Table] = [(f"Servicing over HTTP: {report['settings']['clients']} clients against lifeledger serve "
                         f"(chain {report['settings']['chain_url']})", ["step", "p50 ms", "p90 ms", "p99 ms",
                                                                       "max ms", "per s", "n", "server cores"], rows)]
    out.append(benchkit.targets_table(report["targets"], decimal_units=("ms", "requests/s")))
    return out


def notes(report: dict[str, Any]) -> list[str]:
    """Lines under the tables: the generators, the set-up, what the server held after, and what an error stopped."""
    s = report["settings"]
    lines = [f"Server: {SERVER} {s['chain_url']}, {s.get('workers', 1)} worker process(es)."]
    if "issued" in report:
        lines.append(f"Set-up: {report['issued']['policies']:,} policies issued ({s['policies_per_client']} per "
                     f"client's customer), untimed.")
    for name in ("automatic", "sse"):
        if name in report:
            found = report[name]
            lines.append(f"{name}: load from {found['generator']}, which used {found['generator_cpu_seconds']:.1f} s "
                         f"of CPU over {found['seconds']:.1f} s.")
    if "sse" in report:
        e = report["sse"]
        lines.append(f"SSE: {e['delivered']:,} of {e['samples']:,} changes delivered; the event came before the "
                     f"confirm's answer in {e['event_before_answer']:,} (a negative delay); {e['streams_ended']:,} "
                     f"streams ended with the withdrawal.")
    return lines + benchkit.after_load_lines(report)


# --- main ---------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write every number, the machine and the settings here")
    parser.add_argument("--format", choices=("rich", "markdown"), default=None,
                        help="table style (default: rich on a terminal, markdown otherwise)")
    parser.add_argument("--quick", action="store_true", help="5 s of automatic requests and 64 SSE samples")
    parser.add_argument("--phase-seconds", type=int, help="seconds of automatic requests (1.; default 20, quick 5)")
    parser.add_argument("--sse-samples", type=int, help="high-risk requests watched over SSE (2.; default 320, "
                                                         "quick 64)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--policies-per-client", type=int, default=4,
                        help="policies issued to each client's customer before the load")
    parser.add_argument("--chain-url", default="embedded", help="the server's LIFELEDGER_CHAIN_URL (its default: "
                                                                "embedded; none turns anchoring off)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="the server's worker processes (serve --workers; default serve's: one per CPU, at most 4)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                        help="section 1's load: wrk if on PATH (auto), or asyncio + httpx in this process")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the server's log")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.phase_seconds, args.sse_samples, args.clients, args.policies_per_client) < 1:
        parser.error("--phase-seconds, --sse-samples, --clients and --policies-per-client must be positive")
    args.format = args.format or ("rich" if sys.stdout.isatty() else "markdown")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lifeledger-bench-servicing-"))
    started, load_before = time.perf_counter(), os.getloadavg()
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "format", "keep")}
    report: dict[str, Any] = {"commit": benchkit.commit(), "machine": benchkit.machine(PACKAGES),
                              "settings": {**settings, "storage": "SQLite file in a fresh data dir (the default)"}}
    report["server"] = f"{SERVER} {args.chain_url}, {args.workers} worker process(es)"
    log(f"working in {work}")
    try:
        report.update(load(args, work))
    except Exception as exc:  # report what was measured; the error is a failed target
        log(f"the HTTP sections failed: {type(exc).__name__}: {exc}")
        report.setdefault("errors", {})["http"] = f"{type(exc).__name__}: {exc}"
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
