"""A claim's receipt: every event of the claim with its inclusion proof, which ``scripts/check_log.py`` checks with
RFC 9162 and C2SP alone, and which fails for an event of another claim slipped into it."""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import CUSTOMER_DOCS, medical_policy, no_sample, post_invoice, register_systems
from tests.api.routes.claims_helpers import report as report_claim
from tests.api.routes.servicing_helpers import OWNER, headers
from tests.conftest import load_script

check_log = load_script("check_log")


def _covered(client: TestClient, me: dict[str, str], claim_id: str) -> dict[str, Any]:
    """The receipt once a checkpoint covers every event of the claim (the ledger cuts one every 0.2 s)."""
    for _ in range(300):
        receipt: dict[str, Any] = client.get(f"/v1/claims/{claim_id}/receipt", headers=me).json()
        if all(item.get("checkpoint") for item in receipt["receipts"]):
            return receipt
        time.sleep(0.1)
    raise AssertionError("no checkpoint covered the claim in 30 s")


def test_a_claim_receipt_checks_out_and_a_foreign_event_does_not(hall: tuple[TestClient, Ledger],
                                                                 clock: FixedClock) -> None:
    client, ledger = hall
    ledger.start()
    systems = register_systems(client, ledger)
    no_sample(ledger)
    me = headers(ledger, "customer", OWNER)
    policy_no = medical_policy(client, ledger, clock)
    first = report_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, first)
    second = report_claim(client, ledger, policy_no, claim_type="medical",
                          loss_date=ledger.claims.today() - timedelta(days=20), documents=CUSTOMER_DOCS).json()
    receipt = _covered(client, me, first["claim_id"])
    assert receipt["format"] == "lifeledger-claim-receipt/1" and receipt["claim_type"] == "medical"
    vkey = client.get("/v1/log/key").json()["vkey"]
    size, root = check_log.open_checkpoint(client.get("/v1/log/checkpoint").text, vkey)[1:]
    events = check_log.check_servicing_receipt(client, receipt, vkey, (size, root))
    assert [event.type for event in events][:2] == ["claim.reported", "claim.documents.received"]
    assert len(events) == len(receipt["receipts"]) >= 6

    other = _covered(client, me, second["claim_id"])
    forged = copy.deepcopy(receipt)
    forged["receipts"].append(other["receipts"][0])  # the other claim's report passed off as this claim's
    size, root = check_log.open_checkpoint(client.get("/v1/log/checkpoint").text, vkey)[1:]  # covers both now
    with pytest.raises(check_log.CheckFailed, match="claim:"):
        check_log.check_servicing_receipt(client, forged, vkey, (size, root))


def test_a_hospital_reports_a_claim_with_its_signed_notice(hall: tuple[TestClient, Ledger],
                                                           clock: FixedClock) -> None:
    import uuid

    from ledger.claims import events as ev
    from ledger.log.statements import sign_event
    from tests.api.routes.claims_helpers import HOSPITAL

    client, ledger = hall
    systems = register_systems(client, ledger)
    policy_no = medical_policy(client, ledger, clock)
    loss = (ledger.claims.today() - timedelta(days=2)).isoformat()
    hospital = headers(ledger, "system", HOSPITAL)
    # a system's claim comes as its signed notice, not as a bare request
    bare = client.post("/v1/claims", headers=hospital, json={"policy_no": policy_no, "claim_type": "medical",
                                                             "loss_date": loss})
    assert bare.status_code == 403, bare.text

    def notice(**facts: str) -> dict[str, Any]:
        return sign_event(key=systems.hospital, event_id=f"fnol-{uuid.uuid4().hex[:12]}", type=ev.HOSPITAL_NOTICE,
                          stream="hospital:h001", data_subject="hospital-h001",
                          payload={"policy_no": policy_no, "claim_type": "medical", "cause": "illness",
                                   "loss_date": loss, "hospital": "H001", **facts},
                          personal={"description": "admitted with pneumonia"},
                          personal_subject=ledger.policies.get(ledger.policies.application_of(policy_no)).insured
                          ).to_json()

    refused = client.post("/v1/claims/notices", headers=hospital, json=notice(claim_type="death"))
    assert refused.status_code == 409 and refused.json()["rule"] == "CLAIM-TYPE-NOT-COVERED", refused.text
    adjuster = headers(ledger, "adjuster", "adjuster-1")
    assert client.get("/v1/claims", params={"policy_no": policy_no}, headers=adjuster).json() == []
    answer = client.post("/v1/claims/notices", headers=hospital, json=notice())
    assert answer.status_code == 201, answer.text
    claim_id = answer.json()["claim_id"]
    state = ledger.claims.get(claim_id)
    assert state.reported["channel"] == "system" and state.reported["reporter"]["party"] == state.reported["insured"]
    evidence = state.reported["evidence"]
    entry = client.get(f"/v1/log/entries/{evidence}", headers=headers(ledger, "auditor", "auditor-1")).json()
    assert entry["type"] == ev.HOSPITAL_NOTICE and entry["stream"] == "hospital:h001"
    assert ledger.claims.list_for_party(state.reported["insured"])[0]["claim_id"] == claim_id
