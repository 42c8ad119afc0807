"""The guards around a claim's money and records: who may act on it, what a decision may pay, payments that race
a decision or an account change, and signed postings the claim refuses leaving nothing behind."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.claims.recompute import verify_claim
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import (
    ACCOUNT,
    CUSTOMER_DOCS,
    HOSPITAL,
    PAYMENTS,
    instructed,
    invoice_event,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    settle,
    settlement,
)
from tests.api.routes.claims_more_helpers import file_claim, filed, fresh_uploads, post, seen
from tests.api.routes.servicing_helpers import OWNER, headers, issue, move_to, refusal
from tests.factories import at_once


def _events(ledger: Ledger, claim_id: str) -> list[str]:
    return [event.type for event in ledger.workflow.history(ev.stream_of(claim_id))]


def test_a_handler_acts_only_on_their_own_claims_and_nothing_refused_is_recorded(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    before = _events(ledger, claim["claim_id"])
    for action, body in (("decision", {"action": "adjust", "amount": "2999.00", "reason": "x"}),
                         ("notes", {"kind": "progress", "text": "x"}), ("close", {"reason": "x"}),
                         ("medical", {"diagnoses": ["J18.9"]}), ("advance", {"amount": "10.00", "reason": "x"})):
        answer = post(client, ledger, claim["claim_id"], action, body, role="claims_handler", subject="h-2")
        assert answer.status_code == 404, (action, answer.text)
    assert _events(ledger, claim["claim_id"]) == before
    # a system cannot give a claim's documents: a hospital's structured documents come as its signed e-invoice
    given = client.post(f"/v1/claims/{claim['claim_id']}/documents", headers=headers(ledger, "system", PAYMENTS),
                        json={"documents": {"PATHOLOGY": "sha256:" + "ab" * 32}})
    assert given.status_code == 403, given.text
    # a handler's queues hold their own claims and the major claims nobody has taken, nothing else
    keying = client.get("/v1/claims/queue", params={"kind": "keying"},
                        headers=headers(ledger, "claims_handler", "h-2")).json()
    assert keying == []
    assert post_invoice(client, ledger, systems, claim).status_code == 200


def test_a_decision_pays_no_more_than_the_rules_allow(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    # ten days after issue an illness is inside the 30-day waiting period: the first review fails
    policy_no = issue(client, ledger, product="medical", sum_insured="1000000", payment_years=1, term_years=1)
    move_to(ledger, clock, ledger.policies.today() + timedelta(days=10))
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS,
                             loss_date=ledger.claims.today() - timedelta(days=2)))
    assert post_invoice(client, ledger, systems, claim, total="15000.00").status_code == 200
    view = seen(client, ledger, claim["claim_id"])
    assert view["review"]["payable"] is False
    assert refusal(post(client, ledger, claim["claim_id"], "decision", {"action": "approve"})) == "REVIEW-FAILED"
    above = post(client, ledger, claim["claim_id"], "decision",
                 {"action": "adjust", "amount": "5000000.00", "reason": "generous"})
    assert refusal(above) == "ADJUST-ABOVE-ASSESSED"
    declined = post(client, ledger, claim["claim_id"], "decision", {
        "action": "decline", "reason": "illness within the 30-day waiting period", "clause": "medical §waiting"})
    assert declined.status_code == 200, declined.text
    assert "claim.payment.instructed" not in _events(ledger, claim["claim_id"])


def test_advances_settle_after_the_decision_and_close_a_claim_they_paid_in_full(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    # 15,000 billed: 3,000 assessed, to a reviewer
    assert post_invoice(client, ledger, systems, claim, total="15000.00").status_code == 200
    assert post(client, ledger, claim["claim_id"], "advance", {"amount": "3000.00", "reason": "certain"}
                ).status_code == 200
    approved = post(client, ledger, claim["claim_id"], "decision", {"action": "approve"})
    assert approved.status_code == 200 and approved.json()["status"] == "payment_pending", approved.text
    # the payee cannot move an account while the advance is on its way to it
    moved = client.post(f"/v1/claims/{claim['claim_id']}/account", headers=headers(ledger, "customer", OWNER),
                        json={"bank": "BOC", "number": "6217000011112222", "name": "王五"})
    assert refusal(moved) == "PAYMENT-IN-FLIGHT"
    paid = settle(client, ledger, systems, claim["claim_id"])
    assert paid.status_code == 200 and paid.json()["status"] == "closed", paid.text
    assert verify_claim(ledger.workflow.history(ev.stream_of(claim["claim_id"]))) > 0


def test_a_failed_advance_sent_again_never_pays_beyond_the_approval(hall: tuple[TestClient, Ledger],
                                                                    clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    post_invoice(client, ledger, systems, claim, total="15000.00")  # 3,000 assessed
    post(client, ledger, claim["claim_id"], "advance", {"amount": "1000.00", "reason": "certain"})
    assert settle(client, ledger, systems, claim["claim_id"], status="failed", reason="closed").status_code == 200
    approved = post(client, ledger, claim["claim_id"], "decision", {"action": "approve"})
    assert approved.status_code == 200, approved.text  # 3,000: the failed advance counts for nothing
    paid = settle(client, ledger, systems, claim["claim_id"])
    assert paid.json()["status"] == "closed"
    # a new account afterwards: nothing is left to send (3,000 paid of 3,000 approved)
    late = client.post(f"/v1/claims/{claim['claim_id']}/account", headers=headers(ledger, "customer", OWNER),
                       json={"bank": "BOC", "number": "6217000011112222", "name": "王五"})
    assert late.status_code == 409, late.text  # closed
    assert instructed(ledger, claim["claim_id"]) == ["1000.00", "3000.00"]


def test_signed_postings_the_claim_refuses_leave_nothing_in_the_log(hall: tuple[TestClient, Ledger],
                                                                   clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    post_invoice(client, ledger, systems, claim)  # 900.00 instructed
    pending = client.get("/v1/claims/payments/pending", headers=headers(ledger, "system", PAYMENTS)).json()
    payment = dict(pending[0], amount="899.00")
    size = ledger.log.size()
    wrong = client.post(f"/v1/claims/{claim['claim_id']}/payments", headers=headers(ledger, "system", PAYMENTS),
                        json=settlement(systems, claim["claim_id"], payment))
    assert refusal(wrong) == "PAYMENT-AMOUNT"
    again = client.post(f"/v1/claims/{claim['claim_id']}/invoices", headers=headers(ledger, "system", HOSPITAL),
                        json=invoice_event(systems, claim, invoice_no=ledger.claims.get(
                            claim["claim_id"]).invoices[0]["invoice_no"]))
    assert refusal(again) in ("CLAIM-DECIDED", "INVOICE-IN-CLAIM")
    assert ledger.log.size() == size


def test_bad_input_is_named_not_a_server_error(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    register_systems(client, ledger)
    ledger.claims.handlers = ("h-1",)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=(*CUSTOMER_DOCS, "INVOICE")))
    invoice = ledger.claims.get(claim["claim_id"]).uploads["INVOICE"]
    keyed = {"digest": invoice, "invoice_no": "K-1", "hospital": "H001", "total": "20000.00"}
    assert refusal(post(client, ledger, claim["claim_id"], "invoices/keyed", {**keyed, "currency": "JPY"}),
                   422) == "invoice.currency"
    assert refusal(post(client, ledger, claim["claim_id"], "invoices/keyed", {**keyed, "total": "1e40"}),
                   422) == "invoice.total"
    claim_form = ledger.claims.get(claim["claim_id"]).uploads["CLAIM-FORM"]
    assert refusal(post(client, ledger, claim["claim_id"], "invoices/keyed", {**keyed, "digest": claim_form}),
                   422) == "digest"
    assert post(client, ledger, claim["claim_id"], "invoices/keyed", keyed).status_code == 200
    assert refusal(post(client, ledger, claim["claim_id"], "invoices/keyed", {**keyed, "invoice_no": "K-2"})) == \
        "INVOICE-KEYED"
    note = post(client, ledger, claim["claim_id"], "notes", {"kind": "progress", "text": "called",
                                                              "next_step_by": "2027-13-45"})
    assert refusal(note, 422) == "next_step_by"
    # a customer's list of claims shows no flags, sample draws or account digests
    rows = client.get("/v1/claims", params={"policy_no": policy_no}, headers=headers(ledger, "customer", OWNER))
    assert rows.status_code == 200 and rows.json()
    assert not {"flags", "sampled", "account_digest", "handler"} & set(rows.json()[0])


def test_a_beneficiary_neither_redirects_nor_reads_the_living_insureds_claim(hall: tuple[TestClient, Ledger],
                                                                             clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = medical_policy(client, ledger, clock)
    beneficiary = ledger.policies.get(ledger.policies.application_of(policy_no)).beneficiaries[0]["party"]
    # the insured is paid: the beneficiary who reports cannot name an account of their own
    redirected = file_claim(client, ledger, policy_no, customer=beneficiary)
    assert refusal(redirected, 422) == "account"
    reported = client.post("/v1/claims", headers=headers(ledger, "customer", beneficiary), json={
        "policy_no": policy_no, "claim_type": "medical",
        "loss_date": (ledger.claims.today() - timedelta(days=3)).isoformat()})
    assert reported.status_code == 201, reported.text
    assert "assessment" not in reported.json() or set(reported.json()["assessment"]) <= {"net", "currency"}
    claim_id = reported.json()["claim_id"]
    assert ledger.claims.get(claim_id).reported["payee"] == ledger.claims.get(claim_id).reported["insured"]
    insured_view = client.get(f"/v1/claims/{claim_id}", headers=headers(ledger, "customer", OWNER))
    assert insured_view.status_code == 200, insured_view.text


def test_a_decision_on_an_assessment_that_changed_since_is_refused(hall: tuple[TestClient, Ledger],
                                                                   clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    claim = filed(file_claim(client, ledger, medical_policy(client, ledger, clock), documents=CUSTOMER_DOCS))
    post_invoice(client, ledger, systems, claim, total="15000.00")  # 3,000.00, to a reviewer
    looked = seen(client, ledger, claim["claim_id"])["assessment"]
    assert looked["net"] == "3000.00"
    post_invoice(client, ledger, systems, claim, total="2000.00")  # a second bill: assessed again, 4,200.00
    stale = post(client, ledger, claim["claim_id"], "decision",
                 {"action": "approve", "assessment_entry": looked["entry"]})
    assert refusal(stale) == "ASSESSMENT-CHANGED"
    fresh = seen(client, ledger, claim["claim_id"])["assessment"]
    assert fresh["entry"] > looked["entry"] and fresh["net"] == "4200.00"
    approved = post(client, ledger, claim["claim_id"], "decision",
                    {"action": "approve", "assessment_entry": fresh["entry"]})
    assert approved.status_code == 200 and approved.json()["decision"]["amount"]["amount"] == "4200.00"


def test_reports_of_one_loss_at_once_open_one_claim_and_a_declined_one_lets_the_loss_be_reported_again(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    from ledger.claims.service import Caller
    from ledger.errors import Refused

    client, ledger = hall
    systems = register_systems(client, ledger)
    policy_no = issue(client, ledger, product="medical", sum_insured="1000000", payment_years=1, term_years=1)
    move_to(ledger, clock, ledger.policies.today() + timedelta(days=10))
    loss = {"claim_type": "medical", "loss_date": (ledger.claims.today() - timedelta(days=2)).isoformat(),
            "description": "住院治疗", "account": ACCOUNT,
            "documents": fresh_uploads(client, ledger, *CUSTOMER_DOCS, customer=OWNER)}

    def report() -> str:  # the four pass the service's check together: the journal's projection lets one in
        return "opened " + ledger.claims.report(policy_no, loss, Caller(role="customer", subject=OWNER)).claim_id

    outcomes = [o.rule if isinstance(o, Refused) else o for o in at_once([report] * 4, expect=(Refused,))]
    opened = [outcome.removeprefix("opened ") for outcome in outcomes if outcome.startswith("opened ")]
    assert len(opened) == 1 and sorted(outcomes)[:3] == ["CLAIM-OPEN"] * 3, outcomes
    claim = seen(client, ledger, opened[0])
    again = file_claim(client, ledger, policy_no, loss_date=date.fromisoformat(loss["loss_date"]))
    assert refusal(again) == "CLAIM-OPEN" and opened[0] in again.json()["detail"]

    # declined (inside the waiting period), the loss is no longer held: it can be reported again
    assert post_invoice(client, ledger, systems, claim, total="15000.00").status_code == 200
    declined = post(client, ledger, opened[0], "decision", {
        "action": "decline", "reason": "illness within the 30-day waiting period", "clause": "medical §waiting"})
    assert declined.status_code == 200, declined.text
    filed(file_claim(client, ledger, policy_no, loss_date=date.fromisoformat(loss["loss_date"])))
    ledger.log.checkpoint_now()
    report_ = ledger.audit.verify()  # the projections, open-claim rows included, are what a replay rebuilds
    assert report_.ok, [str(problem) for problem in report_.problems]


def reported(claim_id: str, *, loss_held: bool) -> Any:
    from ledger.kernel import NewEvent

    facts: dict[str, Any] = {
        "claim_id": claim_id, "policy_no": "LL1", "application_id": "A1", "insured": OWNER, "claim_type": "medical",
        "cause": "illness", "loss_date": "2026-03-01", "reporter": {"role": "insured", "party": OWNER},
        "on_behalf": None, "channel": "customer", "checklist": [], "rules": {}, "limitation_until": "2028-03-01",
        "payee": OWNER, "account_digest": None, "evidence": None, "actor": {"role": "customer", "party": OWNER}}
    if loss_held:
        facts["loss_held"] = True
    return NewEvent(ev.REPORTED, facts)


def test_the_projection_refuses_a_second_open_claim_of_a_loss_but_folds_one_recorded_before_the_rule(
        hall: tuple[TestClient, Ledger]) -> None:
    import pytest

    from ledger.claims import projection as proj
    from ledger.errors import Refused

    _, ledger = hall
    ledger.workflow.record(ev.stream_of("C-OLD-1"), [reported("C-OLD-1", loss_held=False)])
    ledger.workflow.record(ev.stream_of("C-OLD-2"), [reported("C-OLD-2", loss_held=False)])  # as a race once left
    with pytest.raises(Refused) as refused:  # the service's own check skipped: the projection still refuses
        ledger.workflow.record(ev.stream_of("C-NEW"), [reported("C-NEW", loss_held=True)])
    assert refused.value.rule == "CLAIM-OPEN" and "C-OLD-1" in refused.value.message
    rows = ledger.store.rows
    assert [row["claims"] for row in rows.select(proj.OPEN)] == ["C-OLD-1 C-OLD-2"]
    assert sorted(row["claim_id"] for row in rows.select(proj.CLAIMS)) == ["C-OLD-1", "C-OLD-2"]
    ledger.log.checkpoint_now()
    report = ledger.audit.verify()  # a journal from before the rule replays as it was served
    assert report.ok, [str(problem) for problem in report.problems]


def test_a_claim_appealed_while_another_of_its_loss_is_open_keeps_the_loss_held_after_that_one_closes(
        hall: tuple[TestClient, Ledger]) -> None:
    import pytest

    from ledger.claims import projection as proj
    from ledger.errors import Refused
    from ledger.kernel import NewEvent

    _, ledger = hall
    actor = {"role": "adjuster", "party": "adjuster-1"}

    def record(claim_id: str, type: str, **facts: Any) -> None:
        ledger.workflow.record(ev.stream_of(claim_id), [NewEvent(type, {"claim_id": claim_id, "actor": actor,
                                                                       **facts})])

    def held() -> list[str]:
        return [row["claims"] for row in ledger.store.rows.select(proj.OPEN)]

    ledger.workflow.record(ev.stream_of("C-A"), [reported("C-A", loss_held=True)])
    record("C-A", ev.DECIDED, outcome="decline", amount={"amount": "0.00", "currency": "CNY"}, automatic=False)
    assert held() == []  # declined: the loss is free
    ledger.workflow.record(ev.stream_of("C-B"), [reported("C-B", loss_held=True)])
    record("C-A", ev.APPEALED, reason="the exclusion does not apply", handler="adjuster-2")
    assert held() == ["C-A C-B"]  # both open again: the appeal is counted, not lost
    record("C-B", ev.CLOSED, reason="withdrawn")
    assert held() == ["C-A"]
    with pytest.raises(Refused) as refused:
        ledger.workflow.record(ev.stream_of("C-C"), [reported("C-C", loss_held=True)])
    assert refused.value.rule == "CLAIM-OPEN" and "C-A" in refused.value.message
