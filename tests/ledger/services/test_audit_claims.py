"""``lifeledger verify`` (``ledger.audit.verify``) recomputes every claim's amounts and automatic decisions from
the journal: a clean ledger reports nothing and counts them, a claim stream whose approval differs from its
assessment is named at the entry that differs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.claims.evaluation import sample_draw
from ledger.clock import FixedClock
from ledger.kernel import NewEvent
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)
from tests.api.routes.servicing_helpers import headers

FORGED = "CFORGED0000000000000"


def test_verify_recomputes_every_claim_and_names_an_approval_that_is_not_the_assessed_net(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    policy_no = medical_policy(client, ledger, clock)
    # approved and paid with no person: (11,500 - 10,000) x 0.6 = 900
    paid = report(client, ledger, policy_no, documents=CUSTOMER_DOCS).json()
    assert post_invoice(client, ledger, systems, paid).status_code == 200
    assert settle(client, ledger, systems, paid["claim_id"]).json()["status"] == "closed"
    # above the automatic limit on the customer's second policy, lowered by a reviewer: 3,000 assessed, 2,500 approved
    other = medical_policy(client, ledger, clock)
    adjusted = report(client, ledger, other, documents=CUSTOMER_DOCS).json()
    assert post_invoice(client, ledger, systems, adjusted, total="15000.00").status_code == 200
    decided = client.post(f"/v1/claims/{adjusted['claim_id']}/decision", headers=headers(ledger, "adjuster", "a-1"),
                          json={"action": "adjust", "amount": "2500.00", "reason": "a comfort upgrade"})
    assert decided.status_code == 200, decided.text
    ledger.log.checkpoint_now()
    report_ = ledger.audit.verify()
    assert report_.ok, [str(p) for p in report_.problems]
    assert report_.amounts_checked == 6  # each claim's assessment, decision and payment instruction

    # the paid claim's facts recorded again under another claim, its approval raised above the assessed net
    copied = {e.type: dict(e.facts) for e in ledger.workflow.history(ev.stream_of(paid["claim_id"]))}
    copied[ev.DECIDED].pop("cover_seen")  # the count the paid claim's approval saw: a copy carrying it is stale
    assessed = copied[ev.ASSESSED]
    draw = sample_draw(assessed["automatic"]["seed"], FORGED)
    automatic = {**assessed["automatic"], "draw": str(draw)}  # recorded rate 0: not sampled, whatever the draw
    raised = {"amount": "1000.00", "currency": "CNY"}
    forged = [NewEvent(ev.REPORTED, {**copied[ev.REPORTED], "claim_id": FORGED}),
              NewEvent(ev.INVOICE_RECEIVED, {**copied[ev.INVOICE_RECEIVED], "claim_id": FORGED,
                                             "invoice_no": "INV-FORGED"}),
              NewEvent(ev.ASSESSED, {**assessed, "claim_id": FORGED, "automatic": automatic}),
              NewEvent(ev.DECIDED, {**copied[ev.DECIDED], "claim_id": FORGED, "amount": raised}),
              NewEvent(ev.PAYMENT_INSTRUCTED, {**copied[ev.PAYMENT_INSTRUCTED], "claim_id": FORGED,
                                               "payment_id": "P-FORGED", "amount": raised})]
    receipts = ledger.workflow.record(ev.stream_of(FORGED), forged)
    ledger.log.checkpoint_now()
    report_ = ledger.audit.verify()
    assert not report_.ok
    assert report_.amounts_checked == 8  # and the forged claim's assessment and decision
    assert [str(p) for p in report_.problems] == [
        f"entry {receipts[3].index} (claim.decided): claim {FORGED}: amount of an automatic approval (the assessed "
        f"net) is recorded as 1000.00 but recomputes to 900.00"]
