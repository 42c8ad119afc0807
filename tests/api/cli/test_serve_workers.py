"""``lifeledger serve --workers N``: several worker processes on one data dir and database answer as one service,
appending through the one journal writer of the serving process, and the embedded chain, which lives inside one
process, is refused with them."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from api.auth import Role, issue_token
from api.cli.common import settings_for
from ledger.app import token_key
from ledger.policies.rules.samples import CLEAN
from tests.factories import resident_id
from tests.servers import LIFELEDGER, serving


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    return [int(child) for child in found]


def test_two_workers_serve_one_ledger_that_verifies(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data, chain="none", WORKERS="2") as server:
        workers = children(server.process.pid)
        assert len(workers) >= 2, (workers, server.log.read_text()[-2000:])  # the supervisor's worker processes
        settings = settings_for(data)
        key = token_key(settings)

        def bearer(role: Role, subject: str) -> dict[str, str]:
            token = issue_token(key, subject=subject, role=role, issuer=settings.jwt_issuer, ttl=600)
            return {"Authorization": f"Bearer {token}"}

        def issue(n: int) -> tuple[str, dict[str, str]]:
            customer = bearer(Role.CUSTOMER, f"P{n:020d}")
            with httpx.Client(base_url=server.url, timeout=30) as client:
                app = client.post("/v1/applications", headers=customer, json={
                    "product_id": "whole-life", "plan": {"sum_insured": "200000", "term_years": None,
                                                         "payment_years": 10, "frequency": "annual"},
                    "policyholder": {"name": "王五", "id_number": resident_id("1986-04-02", serial=20 + n)},
                    "occupation_class": 1, "payment_account": "6222020200112233445",
                    "consent": {"terms_read": True, "insured_consents": True}, "answers": dict(CLEAN)}).json()
                paid = client.post("/v1/payments", headers=bearer(Role.SYSTEM, "payments"), json={
                    "application_id": app["application_id"], "amount": app["premium"]["modal_premium"]["amount"],
                    "payment_ref": f"PAY-W{n}", "paid_at": "2026-12-01T01:00:00Z"})
                assert paid.status_code == 201, paid.text
                return paid.json()["policy"]["policy_no"], customer

        with ThreadPoolExecutor(4) as pool:
            policies = list(pool.map(issue, range(4)))

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
        # Both workers append through the one writer of the serving process: none commits a group itself.
        seen = []
        for _ in range(12):  # a new connection each time: whichever worker takes it answers
            text = httpx.get(f"{server.url}/metrics", timeout=30).text
            values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                      if line.startswith(("lifeledger_group_commits ", "lifeledger_appended_events "))}
            seen.append((values["lifeledger_group_commits"], values["lifeledger_appended_events"]))
        assert all(commits == 0 for commits, _ in seen) and max(appended for _, appended in seen) > 0, seen
    verified = subprocess.run([*LIFELEDGER, "verify", "--data-dir", str(data)], capture_output=True, text=True,
                              check=False, cwd=Path(__file__).resolve().parents[3],
                              env={"LIFELEDGER_CHAIN_URL": "none", "PATH": "/usr/bin:/bin"})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verify ok" in verified.stdout


def test_more_workers_than_one_refuse_the_embedded_chain(tmp_path: Path) -> None:
    refused = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--data-dir",
                              str(tmp_path / "data")], capture_output=True, text=True, check=False,
                             cwd=Path(__file__).resolve().parents[3],
                             env={"LIFELEDGER_CHAIN_URL": "embedded", "PATH": "/usr/bin:/bin"})
    assert refused.returncode == 2  # bad usage
    assert "embedded chain" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
