"""Who may reach a claim and what a claim refuses over HTTP: other customers, bad reports (a future loss, an
unknown type, a document off the checklist, a loss past the limitation), a hospital's invoice for another claim, a
system that does not settle payments, and retries under an Idempotency-Key."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.crypto.keys import SigningKey
from tests.api.routes.claims_helpers import (
    ACCOUNT,
    CUSTOMER_DOCS,
    HOSPITAL,
    PAYMENTS,
    Systems,
    invoice_event,
    medical_policy,
    register_systems,
    settlement,
)
from tests.api.routes.claims_more_helpers import file_claim, filed, fresh_uploads, post
from tests.api.routes.servicing_helpers import (
    OWNER,
    STRANGER,
    headers,
    issue,
    move_to,
    pay_due,
    policy,
    refusal,
)


def _years_before(day: date, years: int) -> date:
    return day.replace(year=day.year - years)


def test_another_customer_reaches_no_claim_of_this_policy(hall: tuple[TestClient, Ledger],
                                                          clock: FixedClock) -> None:
    client, ledger = hall
    theirs = issue(client, ledger, product="medical", sum_insured="1000000", payment_years=1, term_years=1,
                   customer=STRANGER, serial=34)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    cid = claim["claim_id"]
    stranger = headers(ledger, "customer", STRANGER)
    for path in (f"/v1/claims/{cid}", f"/v1/claims/{cid}/timeline", f"/v1/claims/{cid}/receipt"):
        assert refusal(client.get(path, headers=stranger), 404) == "claim_id", path
    assert refusal(client.get("/v1/claims", params={"policy_no": policy_no}, headers=stranger), 404) == "policy_no"
    assert client.get("/v1/claims", headers=stranger).json() == []
    # nor may they add to it, appeal it or redirect its payment
    docs = fresh_uploads(client, ledger, "INVOICE", customer=STRANGER)
    assert client.post(f"/v1/claims/{cid}/documents", headers=stranger, json={"documents": docs}).status_code == 404
    assert client.post(f"/v1/claims/{cid}/account", headers=stranger, json=ACCOUNT).status_code == 404
    assert client.post(f"/v1/claims/{cid}/appeal", headers=stranger, json={"reason": "x"}).status_code == 404
    # the owner's own list holds their claim, and a claim on the stranger's own policy is theirs alone
    listed = client.get("/v1/claims", params={"policy_no": policy_no}, headers=headers(ledger, "customer", OWNER))
    assert [row["claim_id"] for row in listed.json()] == [cid]
    own = filed(file_claim(client, ledger, theirs, customer=STRANGER))
    assert client.get(f"/v1/claims/{own['claim_id']}", headers=headers(ledger, "customer", OWNER)).status_code == 404


def test_a_report_is_refused_for_a_future_loss_an_unknown_type_or_a_document_off_the_list(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = medical_policy(client, ledger, clock)
    tomorrow = ledger.claims.today() + timedelta(days=1)
    assert refusal(file_claim(client, ledger, policy_no, loss_date=tomorrow)) == "LOSS-DATE-FUTURE"
    assert refusal(file_claim(client, ledger, policy_no, claim_type="theft"), 422) == "claim_type"
    assert refusal(file_claim(client, ledger, policy_no, loss_date=None, cause="boredom"), 422) == "cause"
    bad_date = client.post("/v1/claims", headers=headers(ledger, "customer", OWNER), json={
        "policy_no": policy_no, "claim_type": "medical", "loss_date": "31/12/2026", "account": ACCOUNT})
    assert refusal(bad_date, 422) == "loss_date"
    # a medical policy has no death cover
    assert refusal(file_claim(client, ledger, policy_no, claim_type="death")) in ("CLAIM-TYPE-NOT-COVERED",
                                                                                  "REPORTER-ROLE")

    claim = filed(file_claim(client, ledger, policy_no))
    given = client.post(f"/v1/claims/{claim['claim_id']}/documents", headers=headers(ledger, "customer", OWNER),
                        json={"documents": fresh_uploads(client, ledger, "DISABILITY-GRADING")})
    assert refusal(given, 422) == "documents.DISABILITY-GRADING"
    # another customer's upload is not a document of this claim
    theirs = fresh_uploads(client, ledger, "CLAIM-FORM", customer=STRANGER)
    borrowed = client.post(f"/v1/claims/{claim['claim_id']}/documents", headers=headers(ledger, "customer", OWNER),
                           json={"documents": theirs})
    assert refusal(borrowed, 422) == "documents.CLAIM-FORM"

    # a report whose documents are refused records nothing: the customer fixes the list and reports again
    loss = ledger.claims.today() - timedelta(days=8)
    off_list = file_claim(client, ledger, policy_no, loss_date=loss, documents=("CLAIM-FORM", "DEATH-CERTIFICATE"))
    assert refusal(off_list, 422) == "documents.DEATH-CERTIFICATE" and "DEATH-CERTIFICATE" in off_list.json()["detail"]
    listed = client.get("/v1/claims", params={"policy_no": policy_no}, headers=headers(ledger, "customer", OWNER))
    assert [row["claim_id"] for row in listed.json()] == [claim["claim_id"]]
    fixed = file_claim(client, ledger, policy_no, loss_date=loss, documents=("CLAIM-FORM",))
    assert fixed.status_code == 201, fixed.text


def test_a_health_claim_three_years_after_the_loss_is_past_its_limitation(hall: tuple[TestClient, Ledger],
                                                                          clock: FixedClock) -> None:
    client, ledger = hall
    # a medical policy renewed each year would be needed to have a loss 3 years ago in cover; the limitation is
    # checked on the report against the loss date, so a loss inside an old policy's cover is reported late
    policy_no = issue(client, ledger, product="critical-illness", sum_insured="200000", payment_years=10)
    start = ledger.policies.today()
    for year in (1, 2, 3):
        move_to(ledger, clock, start.replace(year=start.year + year) - timedelta(days=10))
        pay_due(client, ledger, policy_no)
    move_to(ledger, clock, start.replace(year=start.year + 3) + timedelta(days=200))
    today = ledger.claims.today()
    loss = _years_before(today, 3)
    assert loss > start + timedelta(days=90)
    late = file_claim(client, ledger, policy_no, claim_type="critical_illness", loss_date=loss)
    assert refusal(late) == "LIMITATION-EXPIRED"
    assert (loss.replace(year=loss.year + 2)).isoformat() in late.json()["detail"]  # health: 2 years (IL 26)
    # a death is a life claim: five years (IL 26), so the same date is within it (the beneficiary reports it)
    beneficiary = str(policy(client, ledger, policy_no)["beneficiaries"][0]["party"])
    death = file_claim(client, ledger, policy_no, claim_type="death", loss_date=loss, customer=beneficiary)
    assert death.status_code == 201, death.text
    assert death.json()["limitation_until"] == loss.replace(year=loss.year + 5).isoformat()
    # within two years of the loss the same claim is taken, its limitation date stated
    recent = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness",
                              loss_date=today - timedelta(days=400)))
    assert recent["limitation_until"] == (today - timedelta(days=400)).replace(
        year=(today - timedelta(days=400)).year + 2).isoformat()


def test_a_hospital_invoice_for_another_claim_and_a_settlement_by_another_system_are_refused(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    policy_no = medical_policy(client, ledger, clock)
    first = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    second = filed(file_claim(client, ledger, policy_no, loss_date=ledger.claims.today() - timedelta(days=9)))
    hospital = headers(ledger, "system", HOSPITAL)
    crossed = client.post(f"/v1/claims/{second['claim_id']}/invoices", headers=hospital,
                          json=invoice_event(systems, first))
    assert refusal(crossed, 422) == "payload.claim_id"
    assert client.get(f"/v1/claims/{second['claim_id']}", headers=headers(ledger, "adjuster", "a-1")).json()[
        "invoices"] == []
    # a customer may not post a hospital's invoice at all
    assert client.post(f"/v1/claims/{first['claim_id']}/invoices", headers=headers(ledger, "customer", OWNER),
                       json=invoice_event(systems, first)).status_code == 403

    taken = client.post(f"/v1/claims/{first['claim_id']}/invoices", headers=hospital,
                        json=invoice_event(systems, first, total="15000.00"))
    assert taken.status_code == 200, taken.text
    approved = post(client, ledger, first["claim_id"], "decision", {"action": "approve"})
    assert approved.status_code == 200, approved.text
    payment: dict[str, Any] = approved.json()["payments"][0]
    signed = settlement(systems, first["claim_id"], payment)
    by_hospital = client.post(f"/v1/claims/{first['claim_id']}/payments", headers=hospital, json=signed)
    assert by_hospital.status_code == 403, by_hospital.text
    assert client.get("/v1/claims/payments/pending", headers=hospital).status_code == 403
    assert post(client, ledger, first["claim_id"], "payments", signed).status_code == 403  # an adjuster
    assert client.get(f"/v1/claims/{first['claim_id']}", headers=headers(ledger, "customer", OWNER)).json()[
        "status"] == "payment_pending"


def test_a_report_retried_under_its_idempotency_key_is_the_same_claim(hall: tuple[TestClient, Ledger],
                                                                      clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = medical_policy(client, ledger, clock)
    me = {**headers(ledger, "customer", OWNER), "Idempotency-Key": "report-2027-0001"}
    body = {"policy_no": policy_no, "claim_type": "medical",
            "loss_date": (ledger.claims.today() - timedelta(days=5)).isoformat(), "description": "住院治疗",
            "account": ACCOUNT}
    first = client.post("/v1/claims", headers=me, json=body)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = client.post("/v1/claims", headers=me, json=body)
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["claim_id"] == first.json()["claim_id"]
    other = client.post("/v1/claims", headers=me, json={**body, "description": "门诊治疗"})
    assert other.status_code == 422, other.text
    listed = client.get("/v1/claims", params={"policy_no": policy_no}, headers=headers(ledger, "customer", OWNER))
    assert [row["claim_id"] for row in listed.json()] == [first.json()["claim_id"]]


def test_an_invoice_signed_with_a_key_nobody_registered_is_not_taken(hall: tuple[TestClient, Ledger],
                                                                     clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    rogue = Systems(hospital=SigningKey.generate(key_id="hospital-h001-k9"), payments=systems.payments)
    forged = client.post(f"/v1/claims/{claim['claim_id']}/invoices", headers=headers(ledger, "system", HOSPITAL),
                         json=invoice_event(rogue, claim, total="90000.00"))
    assert forged.status_code in (403, 422), forged.text
    staff = client.get(f"/v1/claims/{claim['claim_id']}", headers=headers(ledger, "adjuster", "a-1")).json()
    assert staff["invoices"] == [] and staff["status"] == "awaiting_documents"
    # the same invoice posted twice into one claim is taken once
    once = client.post(f"/v1/claims/{claim['claim_id']}/invoices", headers=headers(ledger, "system", HOSPITAL),
                       json=invoice_event(systems, claim, invoice_no="INV-ONCE-1", total="15000.00"))
    assert once.status_code == 200, once.text
    twice = client.post(f"/v1/claims/{claim['claim_id']}/invoices", headers=headers(ledger, "system", HOSPITAL),
                        json=invoice_event(systems, claim, invoice_no="INV-ONCE-1", total="15000.00"))
    assert refusal(twice) in ("INVOICE-IN-CLAIM", "NOT-UNDER-REVIEW", "CLAIM-DECIDED")
    staff = client.get(f"/v1/claims/{claim['claim_id']}", headers=headers(ledger, "adjuster", "a-1")).json()
    assert [invoice["invoice_no"] for invoice in staff["invoices"]] == ["INV-ONCE-1"]


def test_a_settlement_must_match_its_instruction_and_settles_once(hall: tuple[TestClient, Ledger],
                                                                  clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    hospital = headers(ledger, "system", HOSPITAL)
    assert client.post(f"/v1/claims/{claim['claim_id']}/invoices", headers=hospital,
                       json=invoice_event(systems, claim, total="15000.00")).status_code == 200
    approved = post(client, ledger, claim["claim_id"], "decision", {"action": "approve"})
    payment: dict[str, Any] = approved.json()["payments"][0]
    payments = headers(ledger, "system", PAYMENTS)
    short = client.post(f"/v1/claims/{claim['claim_id']}/payments", headers=payments,
                        json=settlement(systems, claim["claim_id"], {**payment, "amount": "2999.99"}))
    assert refusal(short) == "PAYMENT-AMOUNT"
    unknown = client.post(f"/v1/claims/{claim['claim_id']}/payments", headers=payments,
                          json=settlement(systems, claim["claim_id"], {**payment, "payment_id": "P-NOPE"}))
    assert refusal(unknown, 404) == "payload.payment_id"
    paid = client.post(f"/v1/claims/{claim['claim_id']}/payments", headers=payments,
                       json=settlement(systems, claim["claim_id"], payment))
    assert paid.status_code == 200 and paid.json()["status"] == "closed", paid.text
    again = client.post(f"/v1/claims/{claim['claim_id']}/payments", headers=payments,
                        json=settlement(systems, claim["claim_id"], payment))
    assert refusal(again) == "PAYMENT-SETTLED"
    assert [p for p in client.get("/v1/claims/payments/pending", headers=payments).json()
            if p["claim_id"] == claim["claim_id"]] == []


def test_staff_report_for_a_named_customer_and_a_customer_for_themselves(hall: tuple[TestClient, Ledger],
                                                                         clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = medical_policy(client, ledger, clock)
    loss = (ledger.claims.today() - timedelta(days=5)).isoformat()
    body = {"policy_no": policy_no, "claim_type": "medical", "loss_date": loss, "account": ACCOUNT}
    for_someone = client.post("/v1/claims", headers=headers(ledger, "customer", OWNER),
                              json={**body, "on_behalf_of": STRANGER})
    assert for_someone.status_code == 403, for_someone.text
    unnamed = client.post("/v1/claims", headers=headers(ledger, "adjuster", "a-1"), json=body)
    assert refusal(unnamed, 422) == "on_behalf_of"
    stranger = client.post("/v1/claims", headers=headers(ledger, "adjuster", "a-1"),
                           json={**body, "on_behalf_of": STRANGER})
    assert refusal(stranger, 404) == "policy_no"
    by_phone = client.post("/v1/claims", headers=headers(ledger, "adjuster", "a-1"),
                           json={**body, "on_behalf_of": OWNER})
    assert by_phone.status_code == 201, by_phone.text
    cid = by_phone.json()["claim_id"]
    mine = client.get(f"/v1/claims/{cid}", headers=headers(ledger, "customer", OWNER)).json()
    reported = next(step for step in mine["timeline"] if step["type"] == "claim.reported")
    assert reported["by"] == "adjuster"
    staff = client.get(f"/v1/claims/{cid}", headers=headers(ledger, "adjuster", "a-2")).json()
    assert staff["reporter"]["party"] == OWNER
    assert refusal(client.get("/v1/claims/queue", params={"kind": "everything"},
                              headers=headers(ledger, "adjuster", "a-1")), 422) == "kind"
