"""Recomputing a claim from its own stream: claims recorded by the real app pass, and each recorded amount or
automatic decision changed on the facts fails naming the entry and what differs; the calculator's other benefit
kinds (hospital allowance, lump sums with grade shares and premium refunds, deductions) recompute line by line."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.claims.assessment import Assessment, assess
from ledger.claims.evaluation import sample_draw
from ledger.claims.model import Claim, Cover, Invoice, LoanOwed, Medical, Prior, Versions
from ledger.claims.recompute import (
    ALLOWANCE_BILLED,
    ClaimFacts,
    ClaimMismatch,
    Recorded,
    RecordedEvent,
    verify_assessment,
    verify_automatic,
    verify_claim,
)
from ledger.clock import FixedClock
from ledger.errors import VerificationError
from ledger.kernel import Event
from ledger.products.catalog import Product, ProductCatalog, default_products_dir
from tests.api.routes.claims_helpers import (
    ACCOUNT,
    CUSTOMER_DOCS,
    Systems,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)
from tests.api.routes.servicing_helpers import OWNER, drive, headers, issue, move_to, submit, uploads

ADJUSTER = "adjuster-1"


def stream(ledger: Ledger, claim_id: str) -> list[Event]:
    return ledger.workflow.history(ev.stream_of(claim_id))


def tampered(events: Sequence[RecordedEvent], type: str, change: Callable[[dict[str, Any]], object], *,
             nth: int = 0) -> list[RecordedEvent]:
    """The stream with the facts of the ``nth`` entry of ``type`` changed (a copy: the journal is not touched)."""
    out: list[RecordedEvent] = []
    seen = 0
    for event in events:
        facts = copy.deepcopy(dict(event.facts or {}))
        if event.type == type:
            if seen == nth:
                change(facts)
            seen += 1
        out.append(Recorded(index=event.index, type=event.type, facts=facts))
    return out


def index_of(events: Sequence[RecordedEvent], type: str, nth: int = 0) -> int:
    return [event.index for event in events if event.type == type][nth]


def fails(events: Sequence[RecordedEvent], *, entry: int, saying: str) -> ClaimMismatch:
    with pytest.raises(ClaimMismatch) as raised:
        verify_claim(events)
    assert raised.value.index == entry, str(raised.value)
    assert saying in str(raised.value), str(raised.value)
    assert str(raised.value).startswith(f"entry {entry} (")
    return raised.value


def adjuster(client: TestClient, ledger: Ledger, claim_id: str, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/v1/claims/{claim_id}/decision", headers=headers(ledger, "adjuster", ADJUSTER),
                         json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def medical_claim(client: TestClient, ledger: Ledger, clock: FixedClock, systems: Systems, *,
                  total: str = "11500.00", social: str = "0.00") -> dict[str, Any]:
    """A medical claim on a new policy, its hospital e-invoice received (and so assessed)."""
    policy_no = medical_policy(client, ledger, clock)
    reported = report(client, ledger, policy_no, documents=CUSTOMER_DOCS)
    assert reported.status_code == 201, reported.text
    claim: dict[str, Any] = reported.json()
    invoiced = post_invoice(client, ledger, systems, claim, total=total, social=social)
    assert invoiced.status_code == 200, invoiced.text
    return claim


# -- claims recorded by the real app ------------------------------------------------------------------------------

def test_a_claim_approved_and_paid_with_no_person_recomputes_and_each_changed_fact_is_named(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    claim = medical_claim(client, ledger, clock, systems)
    assert settle(client, ledger, systems, claim["claim_id"]).json()["status"] == "closed"
    events = stream(ledger, claim["claim_id"])
    assert verify_claim(events) == 3  # the assessment, the automatic approval, its payment instruction

    assessed, decided = index_of(events, ev.ASSESSED), index_of(events, ev.DECIDED)
    instructed = index_of(events, ev.PAYMENT_INSTRUCTED)

    def line(change: Callable[[dict[str, Any]], object]) -> Callable[[dict[str, Any]], object]:
        return lambda facts: change(facts["assessment"]["lines"][0])

    # (11,500 - 10,000 deductible) x 0.6 = 900.00: a changed line amount
    fails(tampered(events, ev.ASSESSED, line(lambda item: item.update(amount="950.00"))), entry=assessed,
          saying="lines[0] (HOSPITAL-EXPENSES).amount (min(max(eligible - social_insurance_paid - deductible_left, "
                 "0) x ratio, limit_left)) is recorded as 950.00 but recomputes to 900.00")
    # a changed input: the ratio with social insurance, 1, applied where social insurance paid nothing
    fails(tampered(events, ev.ASSESSED, line(lambda item: item["inputs"].update(ratio="1"))), entry=assessed,
          saying="inputs.ratio (ratio_without_social_insurance) is recorded as 1 but recomputes to 0.6")
    fails(tampered(events, ev.ASSESSED, line(lambda item: item["inputs"].update(ratio_basis="with_social_insurance"))),
          entry=assessed, saying="inputs.ratio_basis (social_insurance_paid 0.00 <= 0) is recorded as "
                                 "with_social_insurance but recomputes to without_social_insurance")
    # the product's ratio without social insurance changed with the ratio it gives: the line is 1,500
    fails(tampered(events, ev.ASSESSED, line(lambda item: item["inputs"].update(
        ratio="1", ratio_without_social_insurance="1"))), entry=assessed,
        saying="is recorded as 900.00 but recomputes to 1500.00")
    # the policy year from another effective date
    fails(tampered(events, ev.ASSESSED, line(lambda item: item["inputs"].update(effective_date="2020-01-15"))),
          entry=assessed, saying="inputs.policy_year_start (the anniversary of effective_date 2020-01-15 on or "
                                 "before")
    # a formula that does not answer a medical claim
    fails(tampered(events, ev.ASSESSED, line(lambda item: item.update(formula="sum_insured x ratio"))),
          entry=assessed, saying="formula 'sum_insured x ratio' does not answer a medical claim (cause illness): "
                                 "[min(max(eligible")
    # an input the claim's own invoice states
    fails(tampered(events, ev.ASSESSED, line(lambda item: item["inputs"].update(eligible="12500.00"))),
          entry=assessed, saying="eligible (total - ineligible of the claim's invoices) is recorded as 12500.00 but "
                                 "recomputes to 11500.00")
    # an intermediate that does not follow from its own inputs
    fails(tampered(events, ev.ASSESSED, line(lambda item: item["inputs"].update(deductible_left="5000"))),
          entry=assessed, saying="deductible_left is recorded as 5000 but recomputes to 10000")
    # a formula with no recomputation
    fails(tampered(events, ev.ASSESSED, line(lambda item: item.update(formula="eligible x 2"))), entry=assessed,
          saying="cannot be recomputed: no recomputation of formula 'eligible x 2'")
    # an input the formula needs that is not recorded
    fails(tampered(events, ev.ASSESSED, line(lambda item: item["inputs"].pop("limit_left"))), entry=assessed,
          saying="limit_left is not recorded")
    # the totals
    fails(tampered(events, ev.ASSESSED, lambda facts: facts["assessment"].update(net="1900.00")), entry=assessed,
          saying="assessment.net (max(benefit + refund - deductions, 0)) is recorded as 1900.00 but recomputes to "
                 "900.00")
    fails(tampered(events, ev.ASSESSED, lambda facts: facts["assessment"].update(benefit="901.00")), entry=assessed,
          saying="assessment.benefit (the sum of the lines) is recorded as 901.00")
    # the automatic record: a draw that is not sha256(seed:claim id), a rate changed so that the draw escapes
    fails(tampered(events, ev.ASSESSED, lambda facts: facts["automatic"].update(draw="0.999999")), entry=assessed,
          saying=f"automatic.draw (sample_draw(seed, {claim['claim_id']})) is recorded as 0.999999")
    draw = sample_draw("lifeledger-claims-sample-v1", claim["claim_id"])
    fails(tampered(events, ev.ASSESSED, lambda facts: facts["automatic"].update(rate=str(draw + Decimal("0.000001")))),
          entry=assessed, saying="automatic.sampled (eligible and draw")
    fails(tampered(events, ev.ASSESSED, lambda facts: facts["automatic"].update(threshold="500")), entry=assessed,
          saying="automatic.eligible (track fast, net 900.00, threshold 500) is recorded as True but recomputes to "
                 "False")
    # the automatic approval's amount and the payment's
    fails(tampered(events, ev.DECIDED, lambda facts: facts.update(amount={"amount": "1000.00", "currency": "CNY"})),
          entry=decided, saying="amount of an automatic approval (the assessed net) is recorded as 1000.00 but "
                                "recomputes to 900.00")
    fails(tampered(events, ev.PAYMENT_INSTRUCTED,
                   lambda facts: facts.update(amount={"amount": "9000.00", "currency": "CNY"})),
          entry=instructed, saying="less what was paid before) is recorded as 9000.00 but recomputes to 900.00")


def test_a_sampled_claim_approved_by_a_reviewer_recomputes(hall: tuple[TestClient, Ledger],
                                                          clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger, "1")
    claim = medical_claim(client, ledger, clock, systems)
    events = stream(ledger, claim["claim_id"])
    assert verify_claim(events) == 1
    assessed = index_of(events, ev.ASSESSED)
    # drawn by the sample, recorded as approved anyway
    fails(tampered(events, ev.ASSESSED, lambda facts: facts["automatic"].update(sampled=False, approved=True)),
          entry=assessed, saying="automatic.sampled (eligible and draw")

    assert adjuster(client, ledger, claim["claim_id"], action="approve")["status"] == "payment_pending"
    events = stream(ledger, claim["claim_id"])
    assert verify_claim(events) == 3
    decided = index_of(events, ev.DECIDED)
    # a person's decision recorded as automatic, on a record the sample drew
    fails(tampered(events, ev.DECIDED, lambda facts: facts.update(automatic=True)), entry=decided,
          saying="an automatic decision with no approved automatic record of the latest assessment")
    # an approval of something else than the assessed net, with no adjustment recorded
    fails(tampered(events, ev.DECIDED, lambda facts: facts.update(amount={"amount": "899.00", "currency": "CNY"})),
          entry=decided, saying="amount of an approval (the assessed net) is recorded as 899.00 but recomputes to "
                                "900.00")


def test_an_adjusted_claim_recomputes_and_a_payment_above_the_approval_is_named(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    # (15,000 - 10,000) x 0.6 = 3,000, above the automatic limit: a reviewer lowers it to 2,500
    claim = medical_claim(client, ledger, clock, systems, total="15000.00")
    decided_view = adjuster(client, ledger, claim["claim_id"], action="adjust", amount="2500.00",
                            reason="one night was a comfort upgrade")
    assert decided_view["decision"]["outcome"] == "partial"
    events = stream(ledger, claim["claim_id"])
    assert verify_claim(events) == 3
    decided, instructed = index_of(events, ev.DECIDED), index_of(events, ev.PAYMENT_INSTRUCTED)

    fails(tampered(events, ev.DECIDED, lambda facts: facts["adjustment"].update(reason=" ")), entry=decided,
          saying="adjustment.reason: an adjustment gives its reason")
    fails(tampered(events, ev.DECIDED, lambda facts: facts.update(adjustment=None)), entry=decided,
          saying="a partial approval records no adjustment with its reason")
    fails(tampered(events, ev.DECIDED, lambda facts: facts.update(
        amount={"amount": "3500.00", "currency": "CNY"}, adjustment={
            "from": {"amount": "3000.00", "currency": "CNY"}, "to": {"amount": "3500.00", "currency": "CNY"},
            "reason": "x"})), entry=decided, saying="a partial approval of 3500.00 is not below the assessed net")
    fails(tampered(events, ev.PAYMENT_INSTRUCTED,
                   lambda facts: facts.update(amount={"amount": "3000.00", "currency": "CNY"})),
          entry=instructed, saying="recorded as 3000.00 but recomputes to 2500.00")
    # a second benefit payment nothing owes
    extra = Recorded(index=10_000, type=ev.PAYMENT_INSTRUCTED, facts={
        "claim_id": claim["claim_id"], "payment_id": "P-EXTRA", "kind": "benefit",
        "amount": {"amount": "100.00", "currency": "CNY"}, "payee": OWNER, "account_digest": "", "due_by": "x"})
    fails([*events, extra], entry=10_000, saying="a benefit payment of 100.00 that no approval owes")


def test_an_advance_is_taken_off_the_approval_and_an_advance_above_the_net_is_named(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    claim = medical_claim(client, ledger, clock, systems, total="15000.00")
    staff = headers(ledger, "adjuster", ADJUSTER)
    advanced = client.post(f"/v1/claims/{claim['claim_id']}/advance", headers=staff,
                           json={"amount": "1000.00", "reason": "liability is clear"})
    assert advanced.status_code == 200, advanced.text
    adjuster(client, ledger, claim["claim_id"], action="approve")
    events = stream(ledger, claim["claim_id"])
    assert verify_claim(events) == 4  # assessment, advance, decision, the rest of the benefit
    amounts = [e.facts["amount"]["amount"] for e in events if e.type == ev.PAYMENT_INSTRUCTED]
    assert amounts == ["1000.00", "2000.00"]
    advance, decided = index_of(events, ev.PAYMENT_INSTRUCTED), index_of(events, ev.DECIDED)

    fails(tampered(events, ev.PAYMENT_INSTRUCTED, lambda facts: facts.update(
        amount={"amount": "3000.01", "currency": "CNY"})), entry=advance,
        saying="advances of 3000.01 exceed the assessed net 3000.00")
    fails(tampered(events, ev.DECIDED, lambda facts: facts.update(paid_before="0")), entry=decided,
          saying="paid_before (what was instructed and not failed before) is recorded as 0 but recomputes to "
                 "1000.00")
    # the whole approval paid again beside the advance
    fails(tampered(events, ev.PAYMENT_INSTRUCTED, lambda facts: facts.update(
        amount={"amount": "3000.00", "currency": "CNY"}), nth=1), entry=index_of(events, ev.PAYMENT_INSTRUCTED, 1),
        saying="(the approval of entry")


def test_a_failed_payment_instructed_again_to_a_new_account_recomputes(hall: tuple[TestClient, Ledger],
                                                                      clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    claim = medical_claim(client, ledger, clock, systems)
    assert settle(client, ledger, systems, claim["claim_id"], status="failed", reason="account closed").json()[
        "status"] == "payment_failed"
    me = headers(ledger, "customer", OWNER)
    assert client.post(f"/v1/claims/{claim['claim_id']}/account", headers=me,
                       json={**ACCOUNT, "number": "6217000011112222"}).status_code == 200
    assert settle(client, ledger, systems, claim["claim_id"]).json()["status"] == "closed"
    events = stream(ledger, claim["claim_id"])
    assert verify_claim(events) == 4  # the failed instruction does not count against the approval
    again = index_of(events, ev.PAYMENT_INSTRUCTED, 1)
    fails(tampered(events, ev.PAYMENT_INSTRUCTED, lambda facts: facts.update(
        amount={"amount": "1800.00", "currency": "CNY"}), nth=1), entry=again,
        saying="amount (the failed payment of entry")
    # the same instruction with the first payment not failed: it pays the approval twice
    fails(tampered(events, ev.PAYMENT_SETTLED, lambda facts: facts.update(status="paid")), entry=again,
          saying="a benefit payment of 900.00 that no approval owes and no failed payment explains")


def test_a_policy_loan_taken_off_a_disability_benefit_recomputes_from_each_loans_inputs(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    register_systems(client, ledger)
    ledger.claims.handlers = ("handler-a",)
    policy_no = issue(client, ledger, sum_insured="1000000", payment_years=1)
    move_to(ledger, clock, date(2027, 12, 10))
    me = headers(ledger, "customer", OWNER)
    lent = drive(client, ledger, clock, submit(client, ledger, policy_no, "policy_loan", {"amount": "60000"},
                                               docs=uploads(client, me, "ID-DOCUMENT", "BANK-ACCOUNT-PROOF")))
    assert lent.view["status"] == "completed", lent.view
    move_to(ledger, clock, date(2028, 3, 9))  # 89 days after the loan was paid out (its cooling-off: to 12-11)
    reported = client.post("/v1/claims", headers=me, json={
        "policy_no": policy_no, "claim_type": "disability", "cause": "illness", "loss_date": "2028-03-01",
        "description": "全残", "account": ACCOUNT,
        "documents": uploads(client, me, "CLAIM-FORM", "INSURED-ID", "ACCIDENT-PROOF", "DISABILITY-GRADING")})
    assert reported.status_code == 201, reported.text
    claim_id = reported.json()["claim_id"]
    keyed = client.post(f"/v1/claims/{claim_id}/medical", headers=headers(ledger, "claims_handler", "handler-a"),
                        json={"diagnoses": ["I63.9"], "disability_grade": 1})
    assert keyed.status_code == 200, keyed.text
    assessment = keyed.json()["assessment"]
    # 1,000,000 x 1 for grade 1, less the loan: 60,000 + 60,000 x 0.05 x 89 / 365 (731.506.. -> 731.51)
    assert assessment["net"] == "939268.49", assessment
    assert assessment["lines"][0]["formula"] == "sum_insured x ratio if grade in paid_grades, else 0"
    assert assessment["deductions"] == [{
        "kind": "policy_loans", "formula": "sum(principal + round_half_up(principal x rate x days / 365, 0.01)) "
                                           "over loans",
        "inputs": {"loans": [{"principal": "60000.00", "rate": "0.05", "start": "2027-12-11", "as_of": "2028-03-09",
                              "days": "89", "interest": "731.51"}]},
        "amount": "60731.51"}]
    events = stream(ledger, claim_id)
    assert verify_claim(events) == 1
    assessed_at = index_of(events, ev.ASSESSED)

    def loan(**values: str) -> Callable[[dict[str, Any]], object]:
        return lambda facts: facts["assessment"]["deductions"][0]["inputs"]["loans"][0].update(values)

    fails(tampered(events, ev.ASSESSED, loan(days="60", interest="493.15")), entry=assessed_at,
          saying="loans[0].days (from start 2027-12-11 to as_of 2028-03-09) is recorded as 60 but recomputes to 89")
    fails(tampered(events, ev.ASSESSED, loan(as_of="2028-02-01", days="52", interest="427.40")), entry=assessed_at,
          saying="loans[0].as_of 2028-02-01 is before the loss on 2028-03-01")
    fails(tampered(events, ev.ASSESSED, loan(rate="0.04", interest="585.21")), entry=assessed_at,
          saying="(policy_loans).amount (sum(principal + round_half_up(principal x rate x days / 365, 0.01)) over "
                 "loans) is recorded as 60731.51 but recomputes to 60585.21")


def test_a_stream_cut_after_an_approval_is_named() -> None:
    facts = {"claim_id": "C-1"}
    reported = {**facts, "loss_date": "2026-01-01", "claim_type": "medical", "cause": "illness"}
    with pytest.raises(ClaimMismatch) as raised:
        verify_claim([Recorded(1, ev.REPORTED, reported), Recorded(2, ev.DECIDED, {**facts, "outcome": "approve"})])
    assert str(raised.value) == "entry 2 (claim.decided): a decision with no assessment before it"
    with pytest.raises(ClaimMismatch) as raised:
        verify_claim([Recorded(1, ev.REPORTED, reported), Recorded(2, ev.NOTE_RECORDED, None)])
    assert "cannot be read" in str(raised.value) and raised.value.index == 2




# -- the calculator's other benefit kinds, line by line ------------------------------------------------------------

SHARES = {grade: Decimal(11 - grade) / 10 for grade in range(1, 11)}  # JR/T 0083-2013
EFFECTIVE = date(2024, 3, 1)


@functools.cache
def product(product_id: str) -> Product:
    return ProductCatalog.load(default_products_dir()).get(product_id)


def cover(product_id: str, sum_insured: str, **changes: Any) -> Cover:
    """A cover on the product, its unpaid premium and loans the totals of ``unpaid_dues`` and ``loan_details``."""
    p = product(product_id)
    base = Cover(policy_no="P-1", application_id="A-1", product_id=p.id, product_version=p.version, kind=p.kind,
                 currency="CNY", sum_insured=Decimal(sum_insured), status="InForce", effective_date=EFFECTIVE,
                 issued_on=EFFECTIVE, end_date=None, application_date=date(2024, 2, 20))
    made = replace(base, **changes)
    return replace(made, unpaid_premium=len(made.unpaid_dues) * made.modal_premium,
                   loans=sum((loan.owed for loan in made.loan_details), Decimal(0)))


def assessed(c: Cover, claim_type: str, loss_date: date, *, cause: str = "illness",
             invoices: tuple[Invoice, ...] = (), medical: Medical | None = None,
             prior: tuple[Prior, ...] = ()) -> Assessment:
    p = product(c.product_id)
    claim = Claim(claim_id="C-1", policy_no="P-1", claim_type=claim_type, cause=cause, loss_date=loss_date,
                  reported_at=datetime.combine(loss_date, datetime.min.time(), UTC), invoices=invoices,
                  medical=medical or Medical())
    return assess(product=p, cover=c, claim=claim, prior=prior, disability_shares=SHARES, versions=Versions(
        product={"id": p.id, "version": p.version, "digest": p.digest},
        rules={"id": "claims-rules", "version": 1, "digest": "sha256:" + "0" * 64}))


def stay(no: str, admitted: date, discharged: date) -> Invoice:
    return Invoice(invoice_no=no, hospital="H-1", admitted=admitted, discharged=discharged, total=Decimal(0),
                   ineligible=Decimal(0), social_insurance_paid=Decimal(0))


def invoice_facts(invoice: Invoice) -> dict[str, Any]:
    """The facts ``claim.invoice.received`` records of an invoice."""
    return {"invoice_no": invoice.invoice_no, "admitted": invoice.admitted.isoformat() if invoice.admitted else None,
            "discharged": invoice.discharged.isoformat() if invoice.discharged else None,
            "total": str(invoice.total), "ineligible": str(invoice.ineligible),
            "social_insurance_paid": str(invoice.social_insurance_paid)}


def changed(record: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    copied = copy.deepcopy(record)
    change(copied)
    return copied


def rejects(record: dict[str, Any], saying: str, *, claim: ClaimFacts | None = None) -> None:
    with pytest.raises(VerificationError) as raised:
        verify_assessment(record, claim=claim)
    assert saying in str(raised.value), str(raised.value)


def test_overlapping_hospital_stays_are_one_stay_and_an_earlier_assessment_recomputes_by_its_own_rule() -> None:
    stays = (stay("INV-1", date(2024, 5, 1), date(2024, 5, 11)),
             stay("INV-2", date(2024, 5, 5), date(2024, 5, 15)),  # overlaps INV-1: one stay of 14 days
             stay("INV-3", date(2024, 6, 1), date(2024, 6, 3)),
             stay("INV-4", date(2024, 6, 3), date(2024, 6, 10)))  # transferred the day INV-3 ends: one of 9
    record = assessed(cover("hospital-allowance", "200"), "hospital_allowance", date(2024, 5, 1),
                      invoices=stays).to_json()
    [line] = record["lines"]
    assert line["inputs"]["merged_stays"] == "2024-05-01/2024-05-15,2024-06-01/2024-06-10"
    assert line["inputs"]["stay_days"] == "23" and line["inputs"]["payable_days"] == "17"  # 11 + 6, not 7+7+0+4
    facts = ClaimFacts(loss_date=date(2024, 5, 1), invoices=tuple(invoice_facts(i) for i in stays))
    assert verify_assessment(record, claim=facts) == Decimal("3400.00")  # 17 days x 200
    rejects(changed(record, lambda r: r["lines"][0]["inputs"].update(merged_stays="2024-05-01/2024-05-15")),
            "merged_stays (the stays merged where they overlap or touch) is recorded as 2024-05-01/2024-05-15 but "
            "recomputes to 2024-05-01/2024-05-15,2024-06-01/2024-06-10", claim=facts)
    # an assessment recorded before the stays were merged recomputes by the rule it names
    billed = changed(record, lambda r: r["lines"][0].update(formula=ALLOWANCE_BILLED, amount="3600.00"))
    billed["lines"][0]["inputs"].update(stay_days="29", payable_days="18", days="18")
    billed.update(benefit="3600.00", net="3600.00", days_paid=18)
    assert verify_assessment(billed, claim=facts) == Decimal("3600.00")


def test_hospital_allowance_days_and_stays_recompute() -> None:
    stays = (stay("INV-1", date(2024, 5, 1), date(2024, 5, 11)),  # 10 days - 3 deductible days = 7
             stay("INV-2", date(2024, 5, 1), date(2024, 5, 11)),  # the same stay billed twice: counted once
             stay("INV-3", date(2024, 6, 1), date(2024, 6, 3)))  # 2 days: within the deductible days
    record = assessed(cover("hospital-allowance", "200"), "hospital_allowance", date(2024, 5, 1),
                      invoices=stays).to_json()
    facts = ClaimFacts(loss_date=date(2024, 5, 1), invoices=tuple(invoice_facts(i) for i in stays))
    assert verify_assessment(record, claim=facts) == Decimal("1400.00")  # 7 days x 200

    def inputs(**values: str) -> dict[str, Any]:
        return changed(record, lambda r: r["lines"][0]["inputs"].update(values))

    rejects(inputs(daily_amount="250"), "amount (min(sum(merged stay days - deductible_days), max_days - "
            "days_paid_before) x daily_amount) is recorded as 1400.00 but recomputes to 1750.00")
    rejects(inputs(stay_days="14"), "stay_days is recorded as 14 but recomputes to 12")
    rejects(inputs(days_paid_before="178"), "days is recorded as 7 but recomputes to 2")  # 180 a year
    rejects(inputs(policy_year_start="2023-03-01"), "policy_year_start (the anniversary of effective_date "
            "2024-03-01 on or before 2024-05-01) is recorded as 2023-03-01 but recomputes to 2024-03-01", claim=facts)
    rejects(inputs(effective_date="2023-05-02"), "policy_year_start (the anniversary of effective_date 2023-05-02 "
            "on or before 2024-05-01) is recorded as 2024-03-01 but recomputes to 2023-05-02", claim=facts)
    # with no claim facts, the policy year still starts on an anniversary of the effective date
    rejects(inputs(policy_year_start="2024-04-01"), "policy_year_start (an anniversary of effective_date "
            "2024-03-01) is recorded as 2024-04-01 but recomputes to 2024-03-01")
    rejects(inputs(effective_date=""), "inputs.effective_date is not a date")
    rejects(changed(record, lambda r: r.update(days_paid=8)), "assessment.days_paid (the allowance days of the "
            "lines) is recorded as 8 but recomputes to 7")
    other = ClaimFacts(loss_date=date(2024, 5, 1), invoices=tuple(invoice_facts(i) for i in stays[:1]))
    rejects(record, "stays (the stays of the claim's invoices)", claim=other)


def test_a_critical_illness_lump_sum_recomputes_and_a_payout_beyond_the_count_is_named() -> None:
    record = assessed(cover("critical-illness", "300000"), "critical_illness", date(2025, 6, 1),
                      medical=Medical(illness_group="moderate")).to_json()
    assert verify_assessment(record) == Decimal("180000.00")  # moderate: 60% of 300,000
    rejects(changed(record, lambda r: r["lines"][0]["inputs"].update(ratio="1")),
            "amount (sum_insured x ratio) is recorded as 180000.00 but recomputes to 300000.00")
    rejects(changed(record, lambda r: r["lines"][0]["inputs"].update(payouts_before="2")),
            "payouts_before 2 leaves no payout of max_payouts 2")
    # a second moderate payout with no earlier payout of the group recorded
    rejects(changed(record, lambda r: r["lines"][0]["inputs"].update(payouts_before="1")),
            "payouts_before 1 with no last_payout_loss_date")
    rejects(changed(record, lambda r: r.update(coverages=[])), "assessment.coverages (the lines paying more than "
            "0) is recorded as [] but recomputes to [CI-MODERATE]")


def test_a_death_benefit_refunds_the_dues_paid_after_death_and_deducts_debts() -> None:
    on = date(2024, 12, 27)  # the assessment
    c = cover("term-life", "500000", modal_premium=Decimal("1200.50"), unpaid_dues=(date(2024, 9, 1),),
              loan_details=(LoanOwed.accrued(principal=Decimal("10000"), rate=Decimal("0.05"),
                                             start=date(2024, 6, 1), as_of=on),
                            LoanOwed.accrued(principal=Decimal("1825"), rate=Decimal("0.001"),
                                             start=date(2024, 12, 26), as_of=on)),
              paid_dues=(date(2024, 3, 1), date(2025, 3, 1), date(2025, 9, 1)))
    record = assessed(c, "death", date(2024, 12, 20), medical=Medical(death_date=date(2024, 12, 20))).to_json()
    facts = ClaimFacts(loss_date=date(2024, 12, 20), claim_type="death", cause="illness",
                       medical={"death_date": "2024-12-20"})
    # 500,000 + two dues after death refunded (2 x 1,200.50) - one unpaid due (1,200.50) - the loans:
    # 10,000 + 10,000 x 0.05 x 209 days / 365 (286.301.. -> 286.30) and 1,825 + 1,825 x 0.001 x 1 / 365 (0.005 ->
    # 0.01 half-up): 12,111.31
    assert verify_assessment(record, claim=facts) == Decimal("489089.19")
    rejects(changed(record, lambda r: r["lines"][0]["inputs"].update(refunded_dues="2024-09-01,2025-03-01")),
            "refunded_dues holds [2024-09-01], not after the death on 2024-12-20")
    rejects(changed(record, lambda r: r.update(refund="3601.50")), "assessment.refund (the premiums of the dues "
            "paid after death) is recorded as 3601.50 but recomputes to 2401.00")
    rejects(changed(record, lambda r: r["deductions"][1]["inputs"]["loans"][0].update(
        principal="9000")), "deductions[1] (policy_loans).inputs.loans[0].interest (principal x rate x days / 365) "
        "is recorded as 286.30 but recomputes to 257.67")
    rejects(changed(record, lambda r: r["deductions"][1].update(amount="1.25")),
            "deductions[1] (policy_loans).amount (sum(principal + round_half_up(principal x rate x days / 365, "
            "0.01)) over loans) is recorded as 1.25 but recomputes to 12111.31")
    rejects(changed(record, lambda r: r["deductions"][1].update(kind="unpaid_premium")),
            "deductions[1].kind 'unpaid_premium' is not one of ['unpaid_premium', 'policy_loans'], each once")
    rejects(record, "death_date (the claim's keyed death_date, else its loss date) is recorded as 2024-12-20 but "
            "recomputes to 2024-12-21", claim=replace(facts, medical={"death_date": "2024-12-21"}))
    rejects(record, "inputs.loss_date (the claim's loss date) is recorded as 2024-12-20 but recomputes to "
            "2024-12-21", claim=ClaimFacts(loss_date=date(2024, 12, 21)))


def test_each_deduction_recomputes_from_its_inputs_and_a_changed_input_is_named() -> None:
    on = date(2024, 12, 27)
    c = cover("term-life", "500000", modal_premium=Decimal("1200.50"), unpaid_dues=(date(2024, 9, 1),),
              loan_details=(LoanOwed.accrued(principal=Decimal("10000"), rate=Decimal("0.05"),
                                             start=date(2024, 6, 1), as_of=on),
                            LoanOwed.accrued(principal=Decimal("1825"), rate=Decimal("0.001"),
                                             start=date(2024, 12, 26), as_of=on)),
              paid_dues=(date(2024, 3, 1), date(2025, 3, 1), date(2025, 9, 1)))
    record = assessed(c, "death", date(2024, 12, 20), medical=Medical(death_date=date(2024, 12, 20))).to_json()
    facts = ClaimFacts(loss_date=date(2024, 12, 20), claim_type="death", cause="illness",
                       medical={"death_date": "2024-12-20"})
    assert record["deductions"][0]["inputs"] == {"unpaid_dues": "2024-09-01", "modal_premium": "1200.50"}

    def unpaid(**values: str) -> dict[str, Any]:
        return changed(record, lambda r: r["deductions"][0]["inputs"].update(values))

    def loan(n: int, **values: str) -> dict[str, Any]:
        return changed(record, lambda r: r["deductions"][1]["inputs"]["loans"][n].update(values))

    # the unpaid premium: its dues at the modal premium, dues on or before the loss, none refunded, the death line's
    # modal premium
    rejects(unpaid(unpaid_dues="2024-03-01,2024-09-01"), "deductions[0] (unpaid_premium).amount (count(unpaid_dues) "
            "x modal_premium) is recorded as 1200.50 but recomputes to 2401.00")
    rejects(unpaid(unpaid_dues="2025-01-01"), "deductions[0] (unpaid_premium).inputs.unpaid_dues holds [2025-01-01], "
            "after the loss on 2024-12-20", claim=facts)
    rejects(unpaid(unpaid_dues="2025-03-01"), "unpaid_dues holds [2025-03-01], refunded as paid after death")
    rejects(unpaid(unpaid_dues="2024-09-01,2024-09-01"), "unpaid_dues is not sorted with each due once")
    rejects(unpaid(modal_premium="1000.00"), "deductions[0] (unpaid_premium).inputs.modal_premium (the death "
            "line's modal_premium) is recorded as 1000.00 but recomputes to 1200.50")
    rejects(changed(record, lambda r: r["deductions"][0]["inputs"].pop("unpaid_dues")),
            "deductions[0] (unpaid_premium).inputs.unpaid_dues is not recorded")
    rejects(changed(record, lambda r: r["deductions"][0].update(formula="unpaid")),
            "deductions[0] (unpaid_premium).formula is recorded as unpaid but recomputes to count(unpaid_dues) x "
            "modal_premium")
    # the loans: each one's days from its start to the assessment, its interest half-up, one assessment day on or
    # after the loss
    rejects(loan(0, days="200"), "deductions[1] (policy_loans).inputs.loans[0].days (from start 2024-06-01 to as_of "
            "2024-12-27) is recorded as 200 but recomputes to 209")
    rejects(loan(1, interest="0.00"), "deductions[1] (policy_loans).inputs.loans[1].interest (principal x rate x "
            "days / 365) is recorded as 0.00 but recomputes to 0.01")
    rejects(loan(0, rate="0.06", interest="343.56"), "deductions[1] (policy_loans).amount (sum(principal + "
            "round_half_up(principal x rate x days / 365, 0.01)) over loans) is recorded as 12111.31 but recomputes "
            "to 12168.57")
    rejects(loan(1, as_of="2024-12-28", days="2"), "deductions[1] (policy_loans).inputs.loans[1].as_of (the as_of "
            "of loans[0]) is recorded as 2024-12-28 but recomputes to 2024-12-27")
    rejects(loan(0, as_of="2024-12-01", days="183"), "deductions[1] (policy_loans).inputs.loans[0].as_of 2024-12-01 "
            "is before the loss on 2024-12-20", claim=facts)
    rejects(loan(0, principal="0"), "deductions[1] (policy_loans).inputs.loans[0]: principal 0 must be above 0")
    rejects(changed(record, lambda r: r["deductions"][1]["inputs"]["loans"][0].pop("start")),
            "deductions[1] (policy_loans).inputs.loans[0].start is not recorded")


def test_the_medical_ratio_is_the_one_social_insurance_chooses() -> None:
    bill = Invoice(invoice_no="INV-1", hospital="H-1", admitted=date(2024, 6, 1), discharged=date(2024, 6, 10),
                   total=Decimal("22000"), ineligible=Decimal("2000"), social_insurance_paid=Decimal("5000"))
    record = assessed(cover("medical", "1000000"), "medical", date(2024, 6, 1), invoices=(bill,)).to_json()
    facts = ClaimFacts(loss_date=date(2024, 6, 1), claim_type="medical", cause="illness",
                       invoices=(invoice_facts(bill),))
    assert verify_assessment(record, claim=facts) == Decimal("5000.00")  # (20,000 - 5,000 - 10,000) x 1

    def inputs(**values: str) -> dict[str, Any]:
        return changed(record, lambda r: r["lines"][0]["inputs"].update(values))

    rejects(inputs(ratio="0.6"), "inputs.ratio (ratio_with_social_insurance) is recorded as 0.6 but recomputes to 1")
    rejects(inputs(ratio_with_social_insurance="0.8"), "inputs.ratio (ratio_with_social_insurance) is recorded as 1 "
            "but recomputes to 0.8")
    rejects(inputs(ratio_basis="without_social_insurance", ratio="0.6"), "inputs.ratio_basis (social_insurance_paid "
            "5000 > 0) is recorded as without_social_insurance but recomputes to with_social_insurance")
    rejects(inputs(ratio_without_social_insurance="1.5"), "ratio_without_social_insurance 1.5 is not within (0, 1]")
    rejects(changed(record, lambda r: r["lines"][0]["inputs"].pop("ratio_without_social_insurance")),
            "inputs.ratio_without_social_insurance is not recorded")
    # a medical line on a claim of another type
    rejects(record, "formula 'min(max(eligible - social_insurance_paid - deductible_left, 0) x ratio, limit_left)' "
            "does not answer a hospital_allowance claim", claim=replace(facts, claim_type="hospital_allowance"))


def test_a_second_severe_payout_is_the_interval_after_the_groups_last_payout() -> None:
    c = cover("critical-illness", "300000", options=("MULTI-SEVERE",))
    first = Prior(claim_id="C-0", policy_no="P-1", insured="I-1", claim_type="critical_illness", status="paid",
                  reported_at=datetime(2025, 1, 2, tzinfo=UTC), loss_date=date(2025, 1, 1), paid=Decimal("300000"),
                  coverages=("CI-SEVERE",))
    record = assessed(c, "critical_illness", date(2026, 1, 1), medical=Medical(illness_group="severe"),
                      prior=(first,)).to_json()
    assert record["lines"][0]["coverage"] == "CI-SEVERE-2"
    facts = ClaimFacts(loss_date=date(2026, 1, 1), claim_type="critical_illness", cause="illness",
                       medical={"illness_group": "severe"})
    assert verify_assessment(record, claim=facts) == Decimal("300000.00")  # 365 days after the first: 300,000 x 1

    def inputs(**values: str) -> dict[str, Any]:
        return changed(record, lambda r: r["lines"][0]["inputs"].update(values))

    rejects(inputs(last_payout_loss_date="2025-06-01"), "the loss on 2026-01-01 is 214 days after the last payout's "
            "loss on 2025-06-01 (last_payout_loss_date), within interval_days 365")
    rejects(inputs(interval_days="400"), "the loss on 2026-01-01 is 365 days after the last payout's loss on "
            "2025-01-01 (last_payout_loss_date), within interval_days 400")
    rejects(inputs(loss_date="2026-02-01"), "inputs.loss_date (the claim's loss date) is recorded as 2026-02-01 but "
            "recomputes to 2026-01-01", claim=facts)
    rejects(inputs(last_payout_loss_date="soon"), "inputs.last_payout_loss_date is not a date")
    rejects(changed(record, lambda r: r["lines"][0]["inputs"].pop("interval_days")),
            "inputs.interval_days is not recorded")


def test_disability_pays_the_grade_share_or_grade_1_only() -> None:
    accident = assessed(cover("accident", "200000"), "disability", date(2024, 8, 1), cause="accident",
                        medical=Medical(disability_grade=3)).to_json()
    facts = ClaimFacts(loss_date=date(2024, 8, 1), medical={"disability_grade": 3})
    assert verify_assessment(accident, claim=facts) == Decimal("160000.00")  # grade 3: 80% of 200,000
    rejects(changed(accident, lambda r: r["lines"][0]["inputs"].update(share="0.9")),
            "amount (sum_insured x ratio x share(grade)) is recorded as 160000.00 but recomputes to 180000.00")
    rejects(accident, "grade (the claim's keyed disability_grade) is recorded as 3 but recomputes to 4",
            claim=ClaimFacts(loss_date=date(2024, 8, 1), medical={"disability_grade": 4}))

    total = assessed(cover("term-life", "500000"), "disability", date(2024, 8, 1),
                     medical=Medical(disability_grade=2)).to_json()
    grade2 = ClaimFacts(loss_date=date(2024, 8, 1), claim_type="disability", cause="illness",
                        medical={"disability_grade": 2})
    assert verify_assessment(total, claim=grade2) == Decimal("0.00")  # total disability is grade 1 only
    paid = changed(total, lambda r: (r["lines"][0].update(amount="500000.00"),
                                     r.update(benefit="500000.00", net="500000.00", coverages=["TOTAL-DISABILITY"])))
    rejects(paid, "amount (sum_insured x ratio if grade in paid_grades, else 0) is recorded as 500000.00 but "
            "recomputes to 0.00")
    # the grades the line pays are the rule's, grade 1
    rejects(changed(paid, lambda r: r["lines"][0]["inputs"].update(paid_grades="1,2")),
            "inputs.paid_grades (total disability is grade 1 only) is recorded as [1, 2] but recomputes to [1]")
    rejects(changed(paid, lambda r: r["lines"][0]["inputs"].pop("paid_grades")), "inputs.paid_grades is not recorded")
    # the plain lump-sum formula with a grade, or a graded share on a disability by illness
    rejects(changed(paid, lambda r: r["lines"][0].update(formula="sum_insured x ratio")),
            "a disability grade under formula 'sum_insured x ratio'")
    rejects(changed(paid, lambda r: (r["lines"][0].update(formula="sum_insured x ratio x share(grade)"),
                                     r["lines"][0]["inputs"].update(share="1"))),
            "formula 'sum_insured x ratio x share(grade)' does not answer a disability claim (cause illness)",
            claim=grade2)


def test_the_automatic_record_follows_from_the_track_and_the_net() -> None:
    draw = sample_draw("seed", "C-1")
    record = {"eligible": True, "sampled": False, "approved": True, "draw": str(draw), "rate": "0", "seed": "seed",
              "threshold": "1000"}
    assert verify_automatic(record, claim_id="C-1", track="fast", net=Decimal("900"), flags=0, payable=True)
    with pytest.raises(VerificationError, match="track is fast with 1 flag"):
        verify_automatic(record, claim_id="C-1", track="fast", net=Decimal("900"), flags=1, payable=True)
    with pytest.raises(VerificationError, match=r"automatic.eligible \(track standard"):
        verify_automatic(record, claim_id="C-1", track="standard", net=Decimal("900"), flags=0, payable=True)
    with pytest.raises(VerificationError, match=r"automatic.draw \(sample_draw\(seed, C-2\)\)"):
        verify_automatic(record, claim_id="C-2", track="fast", net=Decimal("900"), flags=0, payable=True)
    with pytest.raises(VerificationError, match=r"automatic\.rate is not recorded"):
        verify_automatic({k: v for k, v in record.items() if k != "rate"}, claim_id="C-1", track="fast",
                         net=Decimal("900"), flags=0, payable=True)
