"""What a policy's other claims used of its cover, so one cover is never paid twice: claims assessed before
either was approved (the second approval finds the cover the first used, is refused with ASSESSMENT-CHANGED and
the claim is assessed again); approvals and advances racing each other past that check (the read model refuses the
stale one, COVER-STALE, and it is checked again); an assessment recorded between an approval's check and its
append; advances, failed advances and claims reopened after they paid, which count what went out."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims.service import Caller
from ledger.claims.state import ClaimState
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    instructed,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)
from tests.api.routes.claims_more_helpers import CI_DOCS, critical_illness_policy, file_claim, filed, post, seen
from tests.api.routes.servicing_helpers import OWNER, headers

LUNG = {"diagnoses": ["C34.9"], "history": []}
HANDLER = {"role": "claims_handler", "subject": "handler-a"}


def instructed_total(ledger: Ledger, claim_id: str) -> Decimal:
    return sum((Decimal(amount) for amount in instructed(ledger, claim_id)), Decimal(0))


def two_large_claims(client: TestClient, ledger: Ledger, clock: FixedClock) -> tuple[Any, list[str]]:
    """A medical policy (annual limit 1,000,000, deductible 10,000) and two claims of 700,000 on it, both under
    review by their handler; the systems and the claim ids."""
    systems = register_systems(client, ledger)
    ledger.claims.handlers = ("handler-a",)
    policy_no = medical_policy(client, ledger, clock)
    today = ledger.claims.today()
    claims = []
    for ago in (20, 10):
        claim = report(client, ledger, policy_no, loss_date=today - timedelta(days=ago), documents=CUSTOMER_DOCS).json()
        post_invoice(client, ledger, systems, claim, admitted=today - timedelta(days=ago), days=4,
                     total="700000.00", social="1.00")
        claims.append(claim["claim_id"])
    return systems, claims


def approved_on_a_second_look(client: TestClient, ledger: Ledger, claim_id: str) -> None:
    """Approve a claim whose assessment another claim's use of the cover made stale: refused once
    (ASSESSMENT-CHANGED: assessed again with that use counted), then approved on the new assessment."""
    refused = post(client, ledger, claim_id, "decision", {"action": "approve"}, **HANDLER)
    assert refused.status_code == 409 and refused.json()["rule"] == "ASSESSMENT-CHANGED", refused.text
    approved = post(client, ledger, claim_id, "decision", {"action": "approve"}, **HANDLER)
    assert approved.status_code == 200, approved.text


def audited(ledger: Ledger) -> None:
    ledger.log.checkpoint_now()
    audit = ledger.audit.verify()
    assert audit.ok, audit.problems  # the claims tables are what a replay rebuilds, every amount recomputes


def live_total(ledger: Ledger, claim_id: str) -> Decimal:
    """What is instructed on the claim and not failed or replaced."""
    payments = ledger.claims.get(claim_id).payments.values()
    return sum((Decimal(p["amount"]["amount"]) for p in payments if p["status"] in ("instructed", "paid")),
               Decimal(0))


def test_a_once_only_critical_illness_benefit_is_not_approved_twice(hall: tuple[TestClient, Ledger],
                                                                     clock: FixedClock) -> None:
    client, ledger = hall
    register_systems(client, ledger)
    ledger.claims.handlers = ("handler-a",)
    policy_no = critical_illness_policy(client, ledger, clock, years=2)
    first = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness", documents=CI_DOCS))
    second = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness", documents=CI_DOCS,
                              loss_date=ledger.claims.today() - timedelta(days=3)))
    for claim in (first, second):
        assert post(client, ledger, claim["claim_id"], "medical", LUNG, **HANDLER).status_code == 200
    assessed = seen(client, ledger, second["claim_id"])["assessment"]["net"]
    assert post(client, ledger, first["claim_id"], "decision", {"action": "approve"}, **HANDLER).status_code == 200
    refused = post(client, ledger, second["claim_id"], "decision", {"action": "approve"}, **HANDLER)
    assert refused.status_code == 409 and refused.json()["rule"] == "ASSESSMENT-CHANGED", refused.text
    again = seen(client, ledger, second["claim_id"])["assessment"]["net"]
    assert Decimal(again) < Decimal(assessed)  # what the first claim left of the benefit
    total = instructed_total(ledger, first["claim_id"]) + instructed_total(ledger, second["claim_id"])
    assert total == Decimal("200000.00")  # the severe benefit, 100 % of the sum insured, once


def test_an_annual_limit_is_shared_by_claims_assessed_before_either_was_approved(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    _, claims = two_large_claims(client, ledger, clock)  # annual limit 1,000,000, deductible 10,000
    assert post(client, ledger, claims[0], "decision", {"action": "approve"}, **HANDLER).status_code == 200
    refused = post(client, ledger, claims[1], "decision", {"action": "approve"}, **HANDLER)
    assert refused.status_code == 409 and refused.json()["rule"] == "ASSESSMENT-CHANGED", refused.text
    approved = post(client, ledger, claims[1], "decision", {"action": "approve"}, **HANDLER)
    assert approved.status_code == 200, approved.text
    total = instructed_total(ledger, claims[0]) + instructed_total(ledger, claims[1])
    assert total == Decimal("1000000.00")  # the annual limit, the deductible taken once
    entry = seen(client, ledger, claims[0])["assessment"]["entry"]
    again = post(client, ledger, claims[0], "decision", {"action": "approve"}, **HANDLER)
    assert again.status_code == 409 and again.json()["rule"] == "NOT-UNDER-REVIEW", again.text  # the rules first
    assert seen(client, ledger, claims[0])["assessment"]["entry"] == entry  # and nothing assessed again


def test_a_claim_reopened_after_it_paid_still_counts_against_the_policy_year(hall: tuple[TestClient, Ledger],
                                                                          clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    policy_no = medical_policy(client, ledger, clock)  # deductible 10,000 a policy year
    today = ledger.claims.today()
    first = report(client, ledger, policy_no, loss_date=today - timedelta(days=20), documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, first, admitted=today - timedelta(days=20))
    assert settle(client, ledger, systems, first["claim_id"]).json()["status"] == "closed"
    paid = instructed_total(ledger, first["claim_id"])
    assert paid > 0
    reopened = post(client, ledger, first["claim_id"], "reopen", {"reason": "a second look at the invoice"})
    assert reopened.status_code == 200, reopened.text
    second = report(client, ledger, policy_no, loss_date=today - timedelta(days=5), documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, second, admitted=today - timedelta(days=5))
    inputs = seen(client, ledger, second["claim_id"])["assessment"]["lines"][0]["inputs"]
    assert Decimal(inputs["paid_before"]) == paid and Decimal(inputs["deductible_used_before"]) == Decimal(10000)


def test_the_claims_list_shows_everything_paid_on_a_claim_advance_included(hall: tuple[TestClient, Ledger],
                                                                         clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    claim = report(client, ledger, medical_policy(client, ledger, clock), documents=(
        *CUSTOMER_DOCS, "INVOICE", "DISCHARGE-SUMMARY", "SOCIAL-INSURANCE-SETTLEMENT")).json()
    advance = client.post(f"/v1/claims/{claim['claim_id']}/advance", headers=headers(ledger, "adjuster", "adj-1"),
                          json={"amount": "500.00", "reason": "the certain part"})
    assert advance.status_code == 200, advance.text
    post_invoice(client, ledger, systems, claim)  # approved automatically: what it adds to the advance
    for _ in range(2):  # the advance, then the rest
        assert settle(client, ledger, systems, claim["claim_id"]).status_code == 200
    paid = instructed_total(ledger, claim["claim_id"])
    [row] = [r for r in client.get("/v1/claims", headers=headers(ledger, "customer", OWNER)).json()
             if r["claim_id"] == claim["claim_id"]]
    assert Decimal(row["paid_amount"]) == paid and paid > Decimal("500.00")
    ledger.log.checkpoint_now()
    report_ = ledger.audit.verify()
    assert report_.ok, report_.problems  # the claims table is what a replay rebuilds


def test_two_approvals_racing_on_one_policy_do_not_both_take_the_annual_limit(
        hall: tuple[TestClient, Ledger], clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second approval's check of the other claims runs before the first approval is recorded, and its own
    append after: the read model refuses it (COVER-STALE), the service evaluates it again and the decider is told
    (ASSESSMENT-CHANGED), so the two pay the annual limit once."""
    client, ledger = hall
    _, claims = two_large_claims(client, ledger, clock)
    checked = ledger.claims._assessed_against_today
    raced = []

    def first_approved_meanwhile(claim_id: str) -> int | None:
        entry = checked(claim_id)
        if claim_id == claims[1] and not raced:  # the other claim's approval lands between check and append
            raced.append(ledger.claims.decide(claims[0], action="approve", caller=Caller(**HANDLER)))
        return entry

    monkeypatch.setattr(ledger.claims, "_assessed_against_today", first_approved_meanwhile)
    refused = post(client, ledger, claims[1], "decision", {"action": "approve"}, **HANDLER)
    assert raced and raced[0].status == "payment_pending"
    assert refused.status_code == 409 and refused.json()["rule"] == "ASSESSMENT-CHANGED", refused.text
    assert instructed_total(ledger, claims[1]) == 0
    approved = post(client, ledger, claims[1], "decision", {"action": "approve"}, **HANDLER)
    assert approved.status_code == 200, approved.text
    total = instructed_total(ledger, claims[0]) + instructed_total(ledger, claims[1])
    assert total == Decimal("1000000.00")  # the annual limit, the deductible taken once
    audited(ledger)


def test_an_automatic_approval_racing_a_persons_approval_is_assessed_again(
        hall: tuple[TestClient, Ledger], clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small claim approved automatically, evaluated before a large claim on the policy was approved and recorded
    after: it is assessed again with the deductible the large claim used, rather than paid on a second one."""
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    ledger.claims.handlers = ("handler-a",)
    policy_no = medical_policy(client, ledger, clock)  # deductible 10,000 a policy year
    today = ledger.claims.today()
    large = report(client, ledger, policy_no, loss_date=today - timedelta(days=80), documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, large, admitted=today - timedelta(days=80), days=4, total="700000.00",
                 social="1.00")  # two months before the small one: no split admission
    assert seen(client, ledger, large["claim_id"])["status"] == "under_review"  # a major claim: its handler decides
    small = report(client, ledger, policy_no, loss_date=today - timedelta(days=5), documents=CUSTOMER_DOCS).json()
    evaluation = ledger.claims._evaluation
    raced = []

    def large_approved_meanwhile(state: ClaimState) -> Any:
        found = evaluation(state)
        if state.claim_id == small["claim_id"] and not raced:
            raced.append(True)
            ledger.claims.decide(large["claim_id"], action="approve", caller=Caller(**HANDLER))
        return found

    monkeypatch.setattr(ledger.claims, "_evaluation", large_approved_meanwhile)
    assert post_invoice(client, ledger, systems, small, admitted=today - timedelta(days=5)).status_code == 200
    assert raced
    view = seen(client, ledger, small["claim_id"])
    inputs = view["assessment"]["lines"][0]["inputs"]
    assert Decimal(inputs["deductible_used_before"]) == Decimal(10000), inputs
    # evaluated before, it was 900.00 after a second deductible, under the automatic limit (1,000.00), and paid;
    # with the deductible taken once it is 6,900.00, which a person decides
    assert Decimal(view["assessment"]["net"]) > ledger.claims.rules.triage.auto_approve_threshold
    assert view["status"] == "under_review" and instructed_total(ledger, small["claim_id"]) == 0
    audited(ledger)


def test_an_assessment_recorded_after_the_check_of_an_approval_is_checked_again(
        hall: tuple[TestClient, Ledger], clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-assessment whose evaluation ran before the other claim was approved, recorded after the decider's check
    of the current assessment and before the approval: the approval is not made on it, it is checked again and
    the decider told (ASSESSMENT-CHANGED), so the limit is paid once."""
    client, ledger = hall
    _, claims = two_large_claims(client, ledger, clock)
    stale = ledger.claims._evaluation(ledger.claims.get(claims[1]))  # evaluated now, recorded later
    assert post(client, ledger, claims[0], "decision", {"action": "approve"}, **HANDLER).status_code == 200
    refused = post(client, ledger, claims[1], "decision", {"action": "approve"}, **HANDLER)
    assert refused.status_code == 409 and refused.json()["rule"] == "ASSESSMENT-CHANGED", refused.text
    checked, evaluation = ledger.claims._assessed_against_today, ledger.claims._evaluation
    recorded = []

    def stale_assessment_recorded_meanwhile(claim_id: str) -> int | None:
        entry = checked(claim_id)
        if claim_id == claims[1] and not recorded:
            monkeypatch.setattr(ledger.claims, "_evaluation", lambda state: stale)
            recorded.append(ledger.claims.assess(claims[1]).assessed_index)
            monkeypatch.setattr(ledger.claims, "_evaluation", evaluation)
        return entry

    monkeypatch.setattr(ledger.claims, "_assessed_against_today", stale_assessment_recorded_meanwhile)
    answer = post(client, ledger, claims[1], "decision", {"action": "approve"}, **HANDLER)
    assert recorded and answer.status_code == 409 and answer.json()["rule"] == "ASSESSMENT-CHANGED", answer.text
    assert seen(client, ledger, claims[1])["assessment"]["entry"] > recorded[0]  # assessed again after it
    approved = post(client, ledger, claims[1], "decision", {"action": "approve"}, **HANDLER)
    assert approved.status_code == 200, approved.text
    assert instructed_total(ledger, claims[0]) + instructed_total(ledger, claims[1]) == Decimal("1000000.00")
    audited(ledger)


def test_a_use_of_the_cover_that_leaves_this_claim_as_assessed_only_makes_the_approval_check_again(
        hall: tuple[TestClient, Ledger], clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another claim reopened (it still counts what it paid) between the check and the append: the read model
    refuses the approval (COVER-STALE), the service checks again, finds the assessment current and approves."""
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    ledger.claims.handlers = ("handler-a",)
    policy_no = medical_policy(client, ledger, clock)
    today = ledger.claims.today()
    small = report(client, ledger, policy_no, loss_date=today - timedelta(days=20), documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, small, admitted=today - timedelta(days=20))  # approved automatically
    assert settle(client, ledger, systems, small["claim_id"]).json()["status"] == "closed"
    large = report(client, ledger, policy_no, loss_date=today - timedelta(days=5), documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, large, admitted=today - timedelta(days=5), days=4, total="700000.00",
                 social="1.00")
    assessed = seen(client, ledger, large["claim_id"])["assessment"]
    checked = ledger.claims._assessed_against_today
    checks = []

    def small_reopened_meanwhile(claim_id: str) -> int | None:
        entry = checked(claim_id)
        checks.append(claim_id)
        if len(checks) == 1:
            ledger.claims.reopen(small["claim_id"], reason="a second look at the invoice", documents=(),
                                 caller=Caller(role="adjuster", subject="adjuster-1"))
        return entry

    monkeypatch.setattr(ledger.claims, "_assessed_against_today", small_reopened_meanwhile)
    approved = post(client, ledger, large["claim_id"], "decision", {"action": "approve"}, **HANDLER)
    assert approved.status_code == 200, approved.text
    assert checks == [large["claim_id"]] * 2  # refused once (COVER-STALE), checked again, approved
    assert approved.json()["assessment"]["entry"] == assessed["entry"]  # on the assessment it was checked on
    assert instructed_total(ledger, large["claim_id"]) == Decimal(assessed["net"])
    audited(ledger)


def test_an_advance_on_an_undecided_claim_counts_against_the_other_claims(hall: tuple[TestClient, Ledger],
                                                                          clock: FixedClock) -> None:
    client, ledger = hall
    _, (first, second) = two_large_claims(client, ledger, clock)
    advance = post(client, ledger, first, "advance", {"amount": "500000.00", "reason": "the certain part"}, **HANDLER)
    assert advance.status_code == 200, advance.text
    approved_on_a_second_look(client, ledger, second)
    inputs = seen(client, ledger, second)["assessment"]["lines"][0]["inputs"]
    assert Decimal(inputs["paid_before"]) == Decimal("500000.00")  # the advance went out of the limit
    approved_on_a_second_look(client, ledger, first)  # at what the second claim left
    assert instructed_total(ledger, first) + instructed_total(ledger, second) == Decimal("1000000.00")
    audited(ledger)


def test_an_advance_on_a_reopened_claim_counts_what_it_paid_before(hall: tuple[TestClient, Ledger],
                                                                   clock: FixedClock) -> None:
    client, ledger = hall
    systems, (first, _) = two_large_claims(client, ledger, clock)
    assert post(client, ledger, first, "decision", {"action": "approve"}, **HANDLER).status_code == 200
    assert settle(client, ledger, systems, first).json()["status"] == "closed"
    paid = instructed_total(ledger, first)
    reopened = post(client, ledger, first, "reopen", {"reason": "a second look", "documents": []}, **HANDLER)
    assert reopened.status_code == 200, reopened.text
    refused = post(client, ledger, first, "advance", {"amount": str(paid), "reason": "again"}, **HANDLER)
    assert refused.status_code == 409 and refused.json()["rule"] == "ADVANCE-ABOVE-ASSESSED", refused.text
    assert instructed_total(ledger, first) == paid
    audited(ledger)


def test_an_advance_that_failed_before_the_decision_counts_against_the_other_claims_until_it_is_sent_again(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    """A failed advance waits for the payee's new account and is sent again there: the other claims count it from
    the start, so sending it again never pays cover another claim took meanwhile."""
    client, ledger = hall
    systems, (first, second) = two_large_claims(client, ledger, clock)
    advance = post(client, ledger, first, "advance", {"amount": "500000.00", "reason": "the certain part"}, **HANDLER)
    assert advance.status_code == 200, advance.text
    failed = settle(client, ledger, systems, first, status="failed", reason="account closed")
    assert failed.status_code == 200, failed.text
    approved_on_a_second_look(client, ledger, second)
    inputs = seen(client, ledger, second)["assessment"]["lines"][0]["inputs"]
    assert Decimal(inputs["paid_before"]) == Decimal("500000.00")  # the failed advance still owed
    moved = client.post(f"/v1/claims/{first}/account", headers=headers(ledger, "customer", OWNER),
                        json={"bank": "BOC", "number": "6217000011112222", "name": "王五"})
    assert moved.status_code == 200, moved.text
    assert live_total(ledger, first) == Decimal("500000.00")  # sent again to the new account
    approved_on_a_second_look(client, ledger, first)  # nothing more to pay
    assert live_total(ledger, first) + live_total(ledger, second) == Decimal("1000000.00")
    audited(ledger)


def test_a_declined_claim_with_an_advance_counts_the_money_not_the_benefit(hall: tuple[TestClient, Ledger],
                                                                          clock: FixedClock) -> None:
    """A critical-illness claim paid a small advance and then declined: the advance counts against the cover, but
    the once-only benefit was never paid, so a later claim for it is assessed in full."""
    client, ledger = hall
    systems = register_systems(client, ledger)
    ledger.claims.handlers = ("handler-a",)
    policy_no = critical_illness_policy(client, ledger, clock, years=2)
    first = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness", documents=CI_DOCS))
    assert post(client, ledger, first["claim_id"], "medical", LUNG, **HANDLER).status_code == 200
    advance = post(client, ledger, first["claim_id"], "advance", {"amount": "100.00", "reason": "the certain part"},
                   **HANDLER)
    assert advance.status_code == 200, advance.text
    assert settle(client, ledger, systems, first["claim_id"]).status_code == 200
    declined = post(client, ledger, first["claim_id"], "decision", {"action": "decline", "reason": "not a listed "
                    "illness on review", "clause": "art. 2.3"}, **HANDLER)
    assert declined.status_code == 200, declined.text
    second = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness", documents=CI_DOCS,
                              loss_date=ledger.claims.today() - timedelta(days=3)))
    assert post(client, ledger, second["claim_id"], "medical", LUNG, **HANDLER).status_code == 200
    assert Decimal(seen(client, ledger, second["claim_id"])["assessment"]["net"]) == Decimal("200000.00")


def test_an_approval_without_the_entry_the_decider_saw_is_refused_when_the_claim_was_assessed_again_meanwhile(
        hall: tuple[TestClient, Ledger], clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another bill keyed between the approval's check and its append: the approval is not made on the new amount
    the decider never saw; they are told (ASSESSMENT-CHANGED) and approve it once they have."""
    client, ledger = hall
    systems, claims = two_large_claims(client, ledger, clock)
    before = seen(client, ledger, claims[0])["assessment"]
    checked = ledger.claims._assessed_against_today
    billed = []

    def another_bill_meanwhile(claim_id: str) -> int | None:
        entry = checked(claim_id)
        if not billed:
            billed.append(True)
            claim = {"claim_id": claims[0], "policy_no": seen(client, ledger, claims[0])["policy_no"]}
            answer = post_invoice(client, ledger, systems, claim, admitted=ledger.claims.today() - timedelta(days=20),
                                  days=4, total="100000.00", social="1.00")
            assert answer.status_code == 200, answer.text
        return entry

    monkeypatch.setattr(ledger.claims, "_assessed_against_today", another_bill_meanwhile)
    refused = post(client, ledger, claims[0], "decision", {"action": "approve"}, **HANDLER)
    assert refused.status_code == 409 and refused.json()["rule"] == "ASSESSMENT-CHANGED", refused.text
    assert instructed_total(ledger, claims[0]) == 0
    now = seen(client, ledger, claims[0])["assessment"]
    assert Decimal(now["net"]) > Decimal(before["net"])
    approved = post(client, ledger, claims[0], "decision", {"action": "approve", "assessment_entry": now["entry"]},
                    **HANDLER)
    assert approved.status_code == 200, approved.text
    assert instructed_total(ledger, claims[0]) == Decimal(now["net"])


def test_an_advance_before_the_assessment_never_exceeds_what_the_cover_can_pay(hall: tuple[TestClient, Ledger],
                                                                               clock: FixedClock) -> None:
    """The bill is not keyed yet, so there is no assessed benefit to cap the advance: the most the policy's cover
    pays on the claim does (a medical policy: its annual limit, 1,000,000)."""
    client, ledger = hall
    register_systems(client, ledger)
    claim = report(client, ledger, medical_policy(client, ledger, clock), documents=(
        *CUSTOMER_DOCS, "INVOICE", "DISCHARGE-SUMMARY", "SOCIAL-INSURANCE-SETTLEMENT")).json()
    assert claim["status"] == "awaiting_keying"
    refused = post(client, ledger, claim["claim_id"], "advance", {"amount": "5000000.00", "reason": "certain"})
    assert refused.status_code == 409 and refused.json()["rule"] == "ADVANCE-ABOVE-COVER", refused.text
    assert "1000000.00" in refused.json()["detail"]
    first = post(client, ledger, claim["claim_id"], "advance", {"amount": "600000.00", "reason": "the certain part"})
    assert first.status_code == 200, first.text
    more = post(client, ledger, claim["claim_id"], "advance", {"amount": "400000.01", "reason": "more"})
    assert more.status_code == 409 and more.json()["rule"] == "ADVANCE-ABOVE-COVER", more.text
    assert live_total(ledger, claim["claim_id"]) == Decimal("600000.00")


def test_an_advance_before_the_assessment_counts_a_failed_advance_that_waits_to_be_sent_again(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    claim = report(client, ledger, medical_policy(client, ledger, clock), documents=(
        *CUSTOMER_DOCS, "INVOICE", "DISCHARGE-SUMMARY", "SOCIAL-INSURANCE-SETTLEMENT")).json()
    first = post(client, ledger, claim["claim_id"], "advance", {"amount": "600000.00", "reason": "the certain part"})
    assert first.status_code == 200, first.text
    failed = settle(client, ledger, systems, claim["claim_id"], status="failed", reason="account closed")
    assert failed.status_code == 200, failed.text
    refused = post(client, ledger, claim["claim_id"], "advance", {"amount": "1000000.00", "reason": "more"})
    assert refused.status_code == 409 and refused.json()["rule"] == "ADVANCE-ABOVE-COVER", refused.text
    moved = client.post(f"/v1/claims/{claim['claim_id']}/account", headers=headers(ledger, "customer", OWNER),
                        json={"bank": "BOC", "number": "6217000011112222", "name": "王五"})
    assert moved.status_code == 200, moved.text
    assert live_total(ledger, claim["claim_id"]) == Decimal("600000.00")  # the failed advance, sent again
