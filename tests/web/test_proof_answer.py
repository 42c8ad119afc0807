"""The server side of the verification page over HTTP: the proof answer's JSON, the status answer's policy facts
(and what it does not say: anyone with a digest may ask), and how /verify and its scripts are served (content
security policy, no referrer, a clear error without its scripts)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.routes import verify
from ledger.app import Ledger
from ledger.clock import FixedClock
from tests.api.routes.servicing_helpers import OWNER, headers, issue


def e_policy(client: TestClient, ledger: Ledger) -> tuple[str, bytes]:
    policy_no = issue(client, ledger)
    pdf = client.get(f"/v1/policies/{policy_no}/documents/1", headers=headers(ledger, "customer", OWNER)).content
    return policy_no, pdf


def test_the_proof_answer_carries_status_facts_and_proof_material(hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    policy_no, pdf = e_policy(client, ledger)
    digest = "sha256:" + hashlib.sha256(pdf).hexdigest()
    answer = client.get(f"/v1/documents/{digest}/proof")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["status"] == "genuine" and body["digest"] == digest and body["kind"] == "e-policy"
    assert body["policy"]["policy_no"] == "*" * (len(policy_no) - 4) + policy_no[-4:]
    assert policy_no not in answer.text and "王五" not in answer.text
    proof = body["proof"]
    assert set(proof) == {"vkey", "checkpoint", "registration", "status_change", "lineage", "anchor"}
    assert proof["lineage"] == []  # version 1's registration names its kind itself
    assert proof["vkey"] == client.get("/v1/log/key").json()["vkey"]
    assert proof["anchor"] == {"status": "pending"}  # no chain in this ledger
    registration = proof["registration"]
    assert set(registration) == {"index", "leaf", "recorded_at", "opening", "inclusion"}
    opening = registration["opening"]
    assert opening["data_subject"] == "ledger" and opening["payload"]["digest"] == digest
    assert len(base64.b64decode(opening["salt"], validate=True)) >= 16
    assert registration["inclusion"]["index"] == registration["index"]
    status = client.get(f"/v1/documents/{digest}").json()
    assert {**status, "proof": proof} == body  # the status answer is the proof answer without its proof


def test_an_unknown_digest_has_a_null_proof_and_a_malformed_one_is_a_422(hall: tuple[TestClient, Ledger]) -> None:
    client, _ = hall
    unknown = "sha256:" + "cd" * 32
    assert client.get(f"/v1/documents/{unknown}/proof").json() == {"digest": unknown, "status": "unknown",
                                                                   "chain": [], "proof": None}
    refused = client.get("/v1/documents/sha256:XYZ/proof")
    assert refused.status_code == 422 and refused.json()["field"] == "digest"
    assert client.get("/v1/documents/sha256:XYZ").status_code == 422


def test_the_page_is_served_with_a_policy_that_admits_only_its_own_scripts(hall: tuple[TestClient, Ledger]) -> None:
    client, _ = hall
    page = client.get("/verify?policy=LL2026000000000001&version=1")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "LL2026000000000001" not in html  # the query is the page script's business alone
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.DOTALL)
    assert len(inline) == 1  # the import map, nothing else
    allowed = "'sha256-" + base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode() + "'"
    policy = page.headers["content-security-policy"]
    assert f"script-src 'self' {allowed};" in policy and "connect-src 'self'" in policy
    assert "default-src 'none'" in policy and "unsafe" not in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    for path in ("/verify/assets/verify.js", "/verify/assets/proofcheck.js", "/verify/assets/i18n.js",
                 "/verify/assets/verify.css", "/verify/vendor/noble/curves/ed25519.js",
                 "/verify/vendor/noble/hashes/sha2.js"):
        asset = client.get(path)
        assert asset.status_code == 200, path
    assert "/verify" not in client.get("/openapi.json").json()["paths"]
    assert "public verification" in client.get("/openapi.json").json()["paths"][
        "/v1/documents/{digest}/proof"]["get"]["tags"]


def test_without_its_scripts_the_page_says_how_to_build_them(hall: tuple[TestClient, Ledger], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = hall
    monkeypatch.setattr(verify, "VENDOR_DIR", tmp_path / "nothing")
    answer = client.get("/verify")
    assert answer.status_code == 500 and "make setup" in answer.json()["detail"]


def test_a_revocation_after_a_death_claim_says_only_that_the_contract_ended(hall: tuple[TestClient, Ledger],
                                                                            clock: FixedClock) -> None:
    """Digests are public on chain, so anyone may ask: the answer must not tell that the insured died."""
    from tests.api.routes.claims_more_helpers import paid_death_claim

    client, ledger = hall
    death = paid_death_claim(client, ledger, clock)
    for path in (f"/v1/documents/{death.epolicy}", f"/v1/documents/{death.epolicy}/proof"):
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "revoked"
        assert body["revocation"] == {"reason_code": 2, "reason": {"zh": "保险合同已终止", "en": "The contract ended"}}
        assert set(body["policy"]) == {"policy_no", "version", "issued_on", "product"}
        for word in ("death", "claim", "benefit", "身故", "理赔", "给付"):
            assert word not in answer.text.lower(), word
