"""``lifeledger serve --workers N``: several worker processes on one data dir and database answer as one service,
appending through the one journal writer of the serving process and anchoring on the embedded chain, which the
serving process holds for them."""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from api.auth import Role, issue_token
from api.cli.common import settings_for
from ledger.anchoring.embedded import EMBEDDED_CHAIN_ID
from ledger.app import token_key
from ledger.policies.rules.samples import CLEAN
from tests.factories import resident_id
from tests.servers import LIFELEDGER, serving


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    return [int(child) for child in found]


def bearer(data: Path, role: Role, subject: str) -> dict[str, str]:
    settings = settings_for(data)
    token = issue_token(token_key(settings), subject=subject, role=role, issuer=settings.jwt_issuer, ttl=600)
    return {"Authorization": f"Bearer {token}"}


def issue(url: str, data: Path, n: int) -> tuple[str, dict[str, str]]:
    """Apply for a policy as customer ``n`` and pay its first premium: (policy number, the customer's headers)."""
    customer = bearer(data, Role.CUSTOMER, f"P{n:020d}")
    with httpx.Client(base_url=url, timeout=30) as client:
        app = client.post("/v1/applications", headers=customer, json={
            "product_id": "whole-life", "plan": {"sum_insured": "200000", "term_years": None,
                                                 "payment_years": 10, "frequency": "annual"},
            "policyholder": {"name": "王五", "id_number": resident_id("1986-04-02", serial=20 + n)},
            "occupation_class": 1, "payment_account": "6222020200112233445",
            "consent": {"terms_read": True, "insured_consents": True}, "answers": dict(CLEAN)}).json()
        paid = client.post("/v1/payments", headers=bearer(data, Role.SYSTEM, "payments"), json={
            "application_id": app["application_id"], "amount": app["premium"]["modal_premium"]["amount"],
            "payment_ref": f"PAY-W{n}", "paid_at": "2026-12-01T01:00:00Z"})
        assert paid.status_code == 201, paid.text
        return paid.json()["policy"]["policy_no"], customer


def test_two_workers_serve_one_ledger_that_verifies(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data, chain="none", WORKERS="2") as server:
        workers = children(server.process.pid)
        assert len(workers) >= 2, (workers, server.log.read_text()[-2000:])  # the supervisor's worker processes
        with ThreadPoolExecutor(4) as pool:
            policies = list(pool.map(lambda n: issue(server.url, data, n), range(4)))

        def change(k: int) -> str:
            policy_no, customer = policies[k % len(policies)]
            with httpx.Client(base_url=server.url, timeout=30) as client:
                answer = client.post(f"/v1/policies/{policy_no}/servicing", headers=customer, json={
                    "operation": "address_change", "input": {"address": f"上海市浦东新区 {k} 号"}})
                assert answer.status_code == 201, answer.text
                return str(answer.json()["status"])

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(change, range(40)))
        assert statuses == ["completed"] * 40
        with httpx.Client(base_url=server.url, timeout=30) as client:
            listed = [len(client.get(f"/v1/policies/{policy_no}/servicing", headers=customer).json())
                      for policy_no, customer in policies]
        assert sum(listed) == 40
        # /metrics reports the whole service, whichever worker answers: each request counted once, over both.
        for _ in range(10):  # a new connection each time: either worker takes it
            assert httpx.get(f"{server.url}/v1/log/checkpoint", timeout=30).status_code == 200
        counted = 'lifeledger_http_requests_total{method="GET",route="/v1/log/checkpoint",status="200"}'
        names = ("lifeledger_group_commits", "lifeledger_appended_events", "lifeledger_tree_size", counted)

        def scrape() -> tuple[float, ...]:
            text = httpx.get(f"{server.url}/metrics", timeout=30).text
            values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                      if line.split(" ")[0] in names}
            return tuple(values[name] for name in names)

        # Both workers append through the one writer of the serving process, which writes what it committed
        # every second: once it has, every scrape agrees, and the events it counts are the journal's entries.
        deadline = time.monotonic() + 30
        while (seen := [scrape() for _ in range(6)])[0][1] != seen[0][2] or len(set(seen)) > 1:
            assert time.monotonic() < deadline, seen
            time.sleep(0.5)
        commits, appended, _, checkpoints = seen[0]
        assert checkpoints == 10 and 0 < commits <= appended, seen
    verified = subprocess.run([*LIFELEDGER, "verify", "--data-dir", str(data)], capture_output=True, text=True,
                              check=False, cwd=Path(__file__).resolve().parents[3],
                              env={"LIFELEDGER_CHAIN_URL": "none", "PATH": "/usr/bin:/bin"})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verify ok" in verified.stdout


def test_two_workers_anchor_on_the_embedded_chain_the_serving_process_holds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data, chain="embedded", WORKERS="2", ANCHOR_INTERVAL="0.2") as server:
        assert len(children(server.process.pid)) >= 2, server.log.read_text()[-2000:]
        with ThreadPoolExecutor(2) as pool:
            policies = list(pool.map(lambda n: issue(server.url, data, n), range(2)))
        with httpx.Client(base_url=server.url, timeout=30) as client:
            digests = [client.get(f"/v1/policies/{policy_no}/documents", headers=customer).json()[0]["digest"]
                       for policy_no, customer in policies]
            deadline = time.monotonic() + 60
            while True:  # each worker answers from the same chain: whichever takes the connection
                answers = [client.get(f"/v1/documents/{digest}").json() for digest in digests]
                anchors = client.get("/v1/log/anchors").json()
                # a registration is listed as soon as it is queued, with no chain until a job takes it
                sent = all(answer["chain"] and all(record["chain_id"] is not None for record in answer["chain"])
                           for answer in answers)
                if sent and anchors["anchored_tree_size"] > 0:
                    break
                assert time.monotonic() < deadline, (answers, anchors, server.log.read_text()[-3000:])
                time.sleep(0.3)
        assert {answer["status"] for answer in answers} == {"genuine"}
        assert {record["chain_id"] for answer in answers for record in answer["chain"]} == {EMBEDDED_CHAIN_ID}
        assert anchors["status"] == "configured" and anchors["chain_id"] == EMBEDDED_CHAIN_ID
        # Whichever worker answers (a connection each), health tells the lease holder's story, not "standby".
        health = [httpx.get(f"{server.url}/healthz", timeout=30).json() for _ in range(16)]
        assert {(h["anchoring"], h["anchoring_error"]) for h in health} == {("ok", None)}, health
        # The chain stays with the serving process: no one else may open it meanwhile.
        held = subprocess.run([*LIFELEDGER, "chain", "deploy", "--data-dir", str(data)], capture_output=True,
                              text=True, check=False, env={**os.environ, "LIFELEDGER_CHAIN_URL": "embedded"})
        assert held.returncode != 0 and "another process" in held.stderr, held.stdout + held.stderr
    # Stopped, it hands the chain back: every confirmed anchor checks out against it.
    verified = subprocess.run([*LIFELEDGER, "verify", "--chain", "--data-dir", str(data)], capture_output=True,
                              text=True, check=False, env={**os.environ, "LIFELEDGER_CHAIN_URL": "embedded"})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verify ok" in verified.stdout and "roots read from the chain" in verified.stdout
