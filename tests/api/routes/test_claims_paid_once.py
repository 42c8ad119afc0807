"""A claim is paid once: an approval after a reopen pays only what it adds to the benefit already paid, and an
automatic approval pays the net less an advance made before it; the recomputation agrees."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.claims.recompute import verify_claim
from ledger.claims.service import Caller
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    PAYMENTS,
    instructed,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)
from tests.api.routes.servicing_helpers import headers


def test_approving_a_reopened_paid_claim_pays_nothing_twice(hall: tuple[TestClient, Ledger],
                                                           clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    claim = report(client, ledger, medical_policy(client, ledger, clock), documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, claim)  # 900.00, approved and instructed automatically
    assert settle(client, ledger, systems, claim["claim_id"]).json()["status"] == "closed"
    adjuster = headers(ledger, "adjuster", "adjuster-1")
    reopened = client.post(f"/v1/claims/{claim['claim_id']}/reopen", headers=adjuster,
                           json={"reason": "the customer asks for a second look"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "under_review", reopened.text
    again = client.post(f"/v1/claims/{claim['claim_id']}/decision", headers=adjuster, json={"action": "approve"})
    assert again.status_code == 200, again.text
    assert instructed(ledger, claim["claim_id"]) == ["900.00"]  # nothing more is owed
    assert again.json()["status"] == "closed"  # paid in full before: the approval closes it
    # an adjustment never raises the assessed benefit
    ledger.claims.reopen(claim["claim_id"], reason="late-payment interest", documents=(), caller=_adjuster())
    raised = client.post(f"/v1/claims/{claim['claim_id']}/decision", headers=adjuster, json={
        "action": "adjust", "amount": "950.00", "reason": "late-payment interest (IL 23)"})
    assert raised.status_code == 409 and raised.json()["rule"] == "ADJUST-ABOVE-ASSESSED", raised.text
    assert instructed(ledger, claim["claim_id"]) == ["900.00"]
    assert verify_claim(ledger.workflow.history(ev.stream_of(claim["claim_id"]))) > 0


def test_an_automatic_approval_pays_the_net_less_an_earlier_advance(hall: tuple[TestClient, Ledger],
                                                                   clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    # the invoice, discharge summary and settlement uploaded as pictures: complete, waiting for keying
    claim = report(client, ledger, medical_policy(client, ledger, clock), documents=(
        *CUSTOMER_DOCS, "INVOICE", "DISCHARGE-SUMMARY", "SOCIAL-INSURANCE-SETTLEMENT")).json()
    assert claim["status"] == "awaiting_keying"
    adjuster = headers(ledger, "adjuster", "adjuster-1")
    advanced = client.post(f"/v1/claims/{claim['claim_id']}/advance", headers=adjuster,
                           json={"amount": "500.00", "reason": "the stay is certain, the bill is not keyed yet"})
    assert advanced.status_code == 200, advanced.text
    post_invoice(client, ledger, systems, claim)  # 900.00 assessed and approved automatically
    assert instructed(ledger, claim["claim_id"]) == ["500.00", "400.00"]
    pending = client.get("/v1/claims/payments/pending", headers=headers(ledger, "system", PAYMENTS)).json()
    assert sorted(p["amount"] for p in pending if p["claim_id"] == claim["claim_id"]) == ["400.00", "500.00"]
    assert verify_claim(ledger.workflow.history(ev.stream_of(claim["claim_id"]))) > 0


def _adjuster() -> Caller:
    return Caller(role="adjuster", subject="adjuster-1")


def test_a_failed_advance_is_sent_again_to_the_new_account(hall: tuple[TestClient, Ledger],
                                                            clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    claim = report(client, ledger, medical_policy(client, ledger, clock), documents=(
        *CUSTOMER_DOCS, "INVOICE", "DISCHARGE-SUMMARY", "SOCIAL-INSURANCE-SETTLEMENT")).json()
    adjuster = headers(ledger, "adjuster", "adjuster-1")
    client.post(f"/v1/claims/{claim['claim_id']}/advance", headers=adjuster,
                json={"amount": "500.00", "reason": "the stay is certain"})
    failed = settle(client, ledger, systems, claim["claim_id"], status="failed", reason="account closed")
    assert failed.status_code == 200, failed.text
    queue = client.get("/v1/claims/queue", params={"kind": "payments"}, headers=adjuster).json()
    assert [row["claim_id"] for row in queue] == [claim["claim_id"]]
    owner = ledger.claims.get(claim["claim_id"]).reported["payee"]
    again = client.post(f"/v1/claims/{claim['claim_id']}/account", headers=headers(ledger, "customer", owner),
                        json={"bank": "BOC", "number": "6217000011112222", "name": "王五"})
    assert again.status_code == 200, again.text
    assert instructed(ledger, claim["claim_id"]) == ["500.00", "500.00"]
    assert client.get("/v1/claims/queue", params={"kind": "payments"}, headers=adjuster).json() == []
    post_invoice(client, ledger, systems, claim)  # 900.00 approved automatically: 400.00 more
    assert instructed(ledger, claim["claim_id"]) == ["500.00", "500.00", "400.00"]
    assert verify_claim(ledger.workflow.history(ev.stream_of(claim["claim_id"]))) > 0
