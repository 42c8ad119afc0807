"""Who may see and do what, where it is easy to get wrong: a beneficiary listing claims, the outboxes only the
messaging systems read, a handler's report of a claim it does not follow, and answers that must not tell a
stranger whether a policy number exists."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import medical_policy, report
from tests.api.routes.servicing_helpers import OWNER, STRANGER, headers, issue, policy, upload


def test_a_beneficiary_lists_no_claim_of_the_living_insured(hall: tuple[TestClient, Ledger],
                                                            clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = medical_policy(client, ledger, clock)
    made = report(client, ledger, policy_no)
    assert made.status_code == 201, made.text
    claim_id = made.json()["claim_id"]
    beneficiary = str(policy(client, ledger, policy_no)["beneficiaries"][0]["party"])
    them = headers(ledger, "customer", beneficiary)
    assert client.get(f"/v1/claims/{claim_id}", headers=them).status_code == 404
    listed = client.get("/v1/claims", params={"policy_no": policy_no}, headers=them)
    assert listed.status_code == 200 and listed.json() == []  # not the claim it may not open
    mine = client.get("/v1/claims", params={"policy_no": policy_no}, headers=headers(ledger, "customer", OWNER))
    assert [row["claim_id"] for row in mine.json()] == [claim_id]  # the insured still lists it


def test_only_the_messaging_systems_read_and_clear_the_outboxes(hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    policy_no = issue(client, ledger)
    me = headers(ledger, "customer", OWNER)
    documents = {"ID-DOCUMENT": upload(client, me, b"%PDF id2"), "BANK-ACCOUNT-PROOF": upload(client, me, b"%PDF b2")}
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=me, json={
        "operation": "payment_account_change", "documents": documents,
        "input": {"bank": "招商银行", "account_no": "6225880112345678", "holder": "王五"}})
    assert made.status_code == 201, made.text
    hospital = headers(ledger, "system", "hospital-h001")  # a system that posts e-invoices, not messages
    messaging = headers(ledger, "system", "messaging")
    codes = client.get("/v1/staff/servicing/codes", headers=messaging).json()
    assert codes, "the request's one-time code waits in the outbox"
    body = {"messages": [{"id": m["id"], "version": m["version"]} for m in codes]}
    for answer in (client.get("/v1/staff/servicing/codes", headers=hospital),
                   client.post("/v1/staff/servicing/codes/delivered", headers=hospital, json=body),
                   client.get("/v1/staff/notices", headers=hospital)):
        assert answer.status_code == 403, answer.text
        assert "LIFELEDGER_MESSAGING_SYSTEMS" in answer.json()["detail"]
    assert client.get("/v1/staff/servicing/codes", headers=messaging).json() == codes  # nothing was cleared
    assert client.get("/v1/staff/notices", headers=messaging).status_code == 200
    assert client.get("/v1/staff/notices", headers=headers(ledger, "servicing", "s-1")).status_code == 200


def test_a_handler_reporting_a_claim_it_does_not_follow_gets_its_receipt_and_keeps_its_key(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = medical_policy(client, ledger, clock)
    handler = {**headers(ledger, "claims_handler", "handler-1"), "Idempotency-Key": "fnol-1"}
    body = {"policy_no": policy_no, "claim_type": "medical", "on_behalf_of": OWNER,
            "loss_date": (ledger.claims.today() - timedelta(days=5)).isoformat(), "description": "住院"}
    first = client.post("/v1/claims", headers=handler, json=body)
    assert first.status_code == 201, first.text
    assert set(first.json()) == {"claim_id", "status", "received", "missing"} and first.json()["missing"]
    again = client.post("/v1/claims", headers=handler, json=body)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers.get("Idempotent-Replayed") == "true"
    listed = client.get("/v1/claims", headers=headers(ledger, "customer", OWNER)).json()
    assert [row["claim_id"] for row in listed] == [first.json()["claim_id"]]


def test_a_stranger_cannot_tell_a_policy_number_that_exists_from_one_that_does_not(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    real = issue(client, ledger)
    missing = "LL2026000000000001"
    stranger = headers(ledger, "customer", STRANGER)
    servicing = {"operation": "address_change", "input": {"address": "x"}}
    claim = {"claim_type": "medical", "loss_date": (ledger.claims.today() - timedelta(days=5)).isoformat(),
             "description": "住院"}
    for number in (real, missing):
        answers = [client.post(f"/v1/policies/{number}/servicing", headers=stranger, json=servicing),
                   client.post("/v1/claims", headers=stranger, json={**claim, "policy_no": number})]
        for answer in answers:
            assert answer.status_code == 404, answer.text
            assert answer.json()["detail"] == f"no policy {number}"


def test_kpis_for_dates_out_of_range_are_refused_not_failed(hall: tuple[TestClient, Ledger]) -> None:
    client, ledger = hall
    auditor = headers(ledger, "auditor", "a-1")
    for params, field in (({"from": "2026-01-01", "to": "9999-12-31"}, "to"),
                          ({"from": "0001-01-01", "to": "2026-12-31"}, "from")):
        answer = client.get("/v1/kpis", params=params, headers=auditor)
        assert answer.status_code == 422, answer.text
        assert field in answer.text
    assert client.get("/v1/kpis", params={"from": "2026-01-01", "to": "2026-12-31"},
                      headers=auditor).status_code == 200
