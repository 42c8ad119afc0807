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
    with pytest.raises(check_log.CheckFailed, match="claim:"):
        check_log.check_servicing_receipt(client, forged, vkey, (size, root))
