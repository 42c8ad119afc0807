"""HTTP intake: a real ``lifeledger serve`` process, 50 concurrent clients posting pre-signed events, nothing lost.

The server is started as the CLI starts it (``python -m api.cli serve``, anchoring off, everything else default:
a checkpoint a second, ``tune_gc()`` in its lifespan) on a fresh data dir and a free loopback port, and stopped
by its process id. A system key is registered through ``POST /v1/admin/keys`` with an admin token; the events,
signed before the load starts, are posted with a system token to ``POST /v1/events``. The load comes from
``wrk`` (see ``bench_journal_wrk``) when it is on PATH, otherwise from asyncio + httpx in this process. Either
way every client waits for its last answer before it stops, so the entries the log grew by (``/healthz``
``tree_size`` before and after) must equal the 201 answers exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bench_journal_wrk as wrk
import httpx
from bench_journal_workload import KEY_ID, OWNER, SCOPE_JSON, signed_events
from benchkit import ROOT, latency_ms, log

from api.auth import Role, issue_token
from ledger.crypto.keys import LocalKeys, SigningKey
from ledger.log.encoding import b64
from ledger.settings import Settings

MAX_RATE = 3000  # bodies signed per second of load: more than the server can take on this class of machine
WARM_UP = 200  # sequential posts before the measured load (token and key caches, connections)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a server process and its children (``serve --workers``' worker processes,
    the e-policy render pool), from Linux ``/proc``."""
    total = _own_cpu_seconds(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # its parent
                total += _own_cpu_seconds(int(stat.parent.name))
    return total


def _own_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def serving(data_dir: Path, log_path: Path, *, workers: int) -> Iterator[tuple[str, int]]:
    """Run ``lifeledger serve --workers workers`` on a free port until the block ends; yields its base URL and
    process id."""
    port = free_port()
    # The server's settings come from its arguments and LIFELEDGER_CHAIN_URL alone, not from this shell's others.
    env = {name: value for name, value in os.environ.items() if not name.startswith("LIFELEDGER_")}
    env["LIFELEDGER_CHAIN_URL"] = "none"
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
               "--workers", str(workers)]
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"lifeledger serve exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"lifeledger serve did not answer /healthz within 60 s: "
                                   f"{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        log(f"  lifeledger serve is up at {url} (pid {process.pid})")
        yield url, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the ledger closes its store
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def tree_size(client: httpx.Client) -> int:
    answer = client.get("/healthz")
    answer.raise_for_status()
    return int(answer.json()["tree_size"])


def python_load(*, url: str, token: str, bodies: list[str], connections: int, seconds: int) -> dict[str, Any]:
    """``connections`` asyncio workers, each with its own one-connection httpx client (a shared pool of 50 costs
    milliseconds of CPU per request); each posts until the deadline and awaits every answer."""
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    queue = iter(bodies)
    exhausted = False
    marks: dict[str, float] = {}

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal exhausted
        while time.perf_counter() < deadline:
            body = next(queue, None)
            if body is None:
                exhausted = True
                return
            start = time.perf_counter()
            try:
                answer = await client.post("/v1/events", content=body)
            except httpx.HTTPError as exc:  # outcome unknown: counted, and the count stops being exact
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            statuses[str(answer.status_code)] += 1
            if answer.status_code == 201:
                latencies.append(time.perf_counter() - start)

    async def main() -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with contextlib.AsyncExitStack() as stack:
            # Made before the clock starts: each client builds an SSL context, tens of milliseconds of CPU.
            clients = [await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60))
                for _ in range(connections)]
            marks["cpu_start"] = process_cpu()
            marks["start"] = time.perf_counter()
            await asyncio.gather(*(worker(client, marks["start"] + seconds) for client in clients))
            marks["end"] = time.perf_counter()
            marks["cpu_end"] = process_cpu()

    asyncio.run(main())
    elapsed = marks["end"] - marks["start"]
    answered = sum(statuses.values())
    return {"sent": answered + len(errors), "answered": answered, "created": statuses.get("201", 0),
            "statuses": dict(statuses), "non_2xx": sum(n for code, n in statuses.items() if not code.startswith("2")),
            "in_flight_at_end": len(errors), "transport_errors": errors[:5], "fillers": 0,
            "bodies_exhausted": exhausted, "seconds": elapsed, "requests_per_second": answered / elapsed,
            "latency": latency_ms(latencies), "latency_of": "201 answers, send to answer, measured in Python",
            "generator_cpu_seconds": marks["cpu_end"] - marks["cpu_start"]}


def bodies_for(key: SigningKey, count: int) -> list[str]:
    """Compact JSON bodies of distinct pre-signed events (``POST /v1/events`` wire form)."""
    return [json.dumps(item.to_json(), separators=(",", ":")) for item in signed_events(key, count, "http")]


def benchmark(work: Path, key: SigningKey, *, seconds: int, connections: int, generator: str,
              workers: int) -> dict[str, Any]:
    """Serve, register ``key``, warm up, load for ``seconds``, and account for every entry."""
    use_wrk = generator == "wrk" or (generator == "auto" and wrk.available())
    if generator == "wrk" and not wrk.available():
        raise RuntimeError("--http-generator wrk, but wrk is not on PATH (apt-get install -y wrk)")
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "http-data"
    log(f"signing {WARM_UP + MAX_RATE * seconds:,} HTTP bodies (not timed)")
    signed = bodies_for(key, WARM_UP + MAX_RATE * seconds)
    warm, bodies = signed[:WARM_UP], signed[WARM_UP:]
    with serving(data_dir, work / "serve.log", workers=workers) as (url, pid):
        secrets = LocalKeys.load(data_dir)  # the server created them as it started
        issuer = str(Settings.model_fields["jwt_issuer"].default)  # the server runs without LIFELEDGER_* overrides

        def token(subject: str, role: Role) -> str:
            return str(issue_token(secrets.token, subject=subject, role=role, issuer=issuer, ttl=3600))

        system = token(OWNER, Role.SYSTEM)
        with httpx.Client(base_url=url, timeout=60) as client:
            admin = {"Authorization": f"Bearer {token('bench-admin', Role.ADMIN)}"}
            answer = client.post("/v1/admin/keys", headers=admin, json={
                "key_id": KEY_ID, "owner": OWNER, "public_key": b64(key.public_key), "scope": SCOPE_JSON})
            if answer.status_code != 201:
                raise RuntimeError(f"registering the system key failed: {answer.status_code} {answer.text}")
            headers = {"Authorization": f"Bearer {system}", "Content-Type": "application/json"}
            for body in warm:
                answer = client.post("/v1/events", content=body, headers=headers)
                if answer.status_code != 201:
                    raise RuntimeError(f"warm-up post failed: {answer.status_code} {answer.text}")
            before = tree_size(client)
            cpu_before = cpu_seconds(pid)
            log(f"  {connections} clients for {seconds} s with {'wrk' if use_wrk else 'asyncio + httpx'}; "
                f"tree size {before:,} before")
            if use_wrk:
                result = wrk.run(url=url, token=system, bodies=bodies, connections=connections, seconds=seconds,
                                 threads=min(2, os.cpu_count() or 1), work=work / "wrk")
            else:
                result = python_load(url=url, token=system, bodies=bodies, connections=connections, seconds=seconds)
            server_cpu = cpu_seconds(pid) - cpu_before
            after = tree_size(client)
    added = after - before
    exact = result["in_flight_at_end"] == 0 and result["fillers"] == 0
    result.update({
        "generator": "wrk" if use_wrk else "python (asyncio + httpx, in the benchmark process)",
        "generator_version": wrk.version() if use_wrk else f"httpx {httpx.__version__}",
        "connections": connections, "load_seconds": seconds, "bodies": len(bodies),
        "tree_size_before": before, "tree_size_after": after, "entries_added": added,
        "count_exact": exact,
        "nothing_lost": added == result["created"] if exact
        else result["created"] <= added <= result["created"] + result["in_flight_at_end"],
        "server_cpu_seconds": server_cpu, "server_cpu_cores_busy": server_cpu / result["seconds"],
        "workers": workers,
        "server": f"python -m api.cli serve --workers {workers}, LIFELEDGER_CHAIN_URL=none, default "
                  "checkpoint interval 1 s, tune_gc() applied by the app's lifespan",
    })
    if not use_wrk:
        result["note"] = ("the Python load generator runs on the same 2-core machine as the server and takes CPU "
                          "from it: these numbers understate the server")
    log(f"  {result['requests_per_second']:,.0f} requests/s, p99 {result['latency'].get('p99_ms', 0):.1f} ms, "
        f"{result['non_2xx']} non-2xx, {added:,} entries added for {result['created']:,} 201 answers")
    return result
