"""A claim from report to payment over HTTP: the fast track with no person, the reviewer's one click, the
sample, a failed payment and a new account, and who may see what."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    PAYMENTS,
    no_sample,
    post_invoice,
    register_systems,
    report,
    settle,
)
from tests.api.routes.servicing_helpers import OWNER, STRANGER, headers


def test_a_small_clean_claim_is_paid_with_no_person(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    from tests.api.routes.claims_helpers import medical_policy

    policy_no = medical_policy(client, ledger, clock)
    reported = report(client, ledger, policy_no, documents=CUSTOMER_DOCS)
    assert reported.status_code == 201, reported.text
    claim = reported.json()
    # the whole checklist at once; the structured documents wait for the hospital's e-invoice
    assert claim["checklist"] == ["CLAIM-FORM", "INSURED-ID", "ADMISSION-RECORD", "DIAGNOSIS", "DISCHARGE-SUMMARY",
                                  "INVOICE", "SOCIAL-INSURANCE-SETTLEMENT"]
    assert claim["status"] == "awaiting_documents"
    assert sorted(claim["missing"]) == ["DISCHARGE-SUMMARY", "INVOICE", "SOCIAL-INSURANCE-SETTLEMENT"]

    # 11,500 billed, no social insurance: (11,500 - 10,000 deductible) x 0.6 = 900.00, under the 1,000 limit
    invoiced = post_invoice(client, ledger, systems, claim)
    assert invoiced.status_code == 200, invoiced.text
    assert invoiced.json()["status"] == "payment_pending"  # the hospital sees the status only
    assert "assessment" not in invoiced.json()
    paid_view = client.get(f"/v1/claims/{claim['claim_id']}", headers=headers(ledger, "customer", OWNER)).json()
    assert paid_view["status"] == "payment_pending", paid_view
    assert paid_view["assessment"]["net"] == "900.00"
    assert paid_view["decision"]["outcome"] == "approve" and paid_view["decision"]["automatic"] is True
    assert paid_view["payments"][0]["amount"] == {"amount": "900.00", "currency": "CNY"}

    settled = settle(client, ledger, systems, claim["claim_id"])
    assert settled.status_code == 200, settled.text
    assert settled.json()["status"] == "closed"
    done = client.get(f"/v1/claims/{claim['claim_id']}", headers=headers(ledger, "customer", OWNER)).json()
    assert done["status"] == "closed"
    assert done["payments"][0]["status"] == "paid"
    assert done["clocks"]["fast_track_within_target"] is True
    assert done["clocks"]["deadlines"]["decision"]["state"] == "met"
    kinds = [step["type"] for step in done["timeline"]]
    assert kinds[-2:] == ["claim.payment.settled", "claim.closed"]


def test_a_claim_over_the_automatic_limit_takes_one_reviewer_click(hall: tuple[TestClient, Ledger],
                                                                   clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    from tests.api.routes.claims_helpers import medical_policy

    policy_no = medical_policy(client, ledger, clock)
    claim = report(client, ledger, policy_no, documents=CUSTOMER_DOCS).json()
    # (15,000 - 10,000) x 0.6 = 3,000: fast track (under 5,000) but above the automatic approval limit
    assert post_invoice(client, ledger, systems, claim, total="15000.00").status_code == 200
    reviewer = headers(ledger, "adjuster", "adjuster-1")
    view = client.get(f"/v1/claims/{claim['claim_id']}", headers=reviewer).json()
    assert view["status"] == "under_review" and view["track"] == "fast"
    assert view["assessment"]["net"] == "3000.00"
    assert view["automatic"]["why"].startswith("above the automatic approval limit")
    queue = client.get("/v1/claims/queue", headers=reviewer).json()
    assert [row["claim_id"] for row in queue] == [claim["claim_id"]]
    approved = client.post(f"/v1/claims/{claim['claim_id']}/decision", headers=reviewer, json={"action": "approve"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["decision"]["amount"] == {"amount": "3000.00", "currency": "CNY"}
    assert settle(client, ledger, systems, claim["claim_id"]).json()["status"] == "closed"
    kpis = client.get("/v1/kpis", params={"from": "2026-01-01", "to": "2027-12-31"},
                      headers=headers(ledger, "auditor", "auditor-1"))
    assert kpis.status_code == 200, kpis.text
    assert kpis.json()["approval_rate"]["count"] == 1


def test_the_sample_draws_an_automatic_approval_for_review(hall: tuple[TestClient, Ledger],
                                                          clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger, "1")
    from tests.api.routes.claims_helpers import medical_policy

    policy_no = medical_policy(client, ledger, clock)
    claim = report(client, ledger, policy_no, documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, claim)
    staff_view = client.get(f"/v1/claims/{claim['claim_id']}", headers=headers(ledger, "adjuster", "a-1")).json()
    assert staff_view["status"] == "under_review"
    automatic = staff_view["automatic"]
    assert automatic["eligible"] is True and automatic["sampled"] is True and automatic["approved"] is False
    # the draw is sha256("<seed>:<claim id>") as a fraction: anyone can recompute it
    from ledger.claims.evaluation import sample_draw

    assert automatic["draw"] == str(sample_draw(automatic["seed"], claim["claim_id"]))


def test_a_failed_payment_asks_the_payee_for_a_new_account(hall: tuple[TestClient, Ledger],
                                                          clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    from tests.api.routes.claims_helpers import medical_policy

    policy_no = medical_policy(client, ledger, clock)
    claim = report(client, ledger, policy_no, documents=CUSTOMER_DOCS).json()
    post_invoice(client, ledger, systems, claim)
    failed = settle(client, ledger, systems, claim["claim_id"], status="failed", reason="account closed")
    assert failed.status_code == 200, failed.text
    assert failed.json()["status"] == "payment_failed"
    me = headers(ledger, "customer", OWNER)
    assert client.get(f"/v1/claims/{claim['claim_id']}", headers=me).json()["next"]["from"] == "customer"
    again = client.post(f"/v1/claims/{claim['claim_id']}/account", headers=me,
                        json={"bank": "BOC", "number": "6217000011112222", "name": "王五"})
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "payment_pending"
    pending = client.get("/v1/claims/payments/pending", headers=headers(ledger, "system", PAYMENTS)).json()
    mine = [p for p in pending if p["claim_id"] == claim["claim_id"]]
    assert len(mine) == 1 and mine[0]["account"]["number"] == "6217000011112222"
    assert settle(client, ledger, systems, claim["claim_id"]).json()["status"] == "closed"


def test_a_stranger_sees_no_claim(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    from tests.api.routes.claims_helpers import medical_policy

    policy_no = medical_policy(client, ledger, clock)
    claim = report(client, ledger, policy_no, documents=CUSTOMER_DOCS).json()
    stranger = headers(ledger, "customer", STRANGER)
    answer = client.get(f"/v1/claims/{claim['claim_id']}", headers=stranger)
    assert answer.status_code == 404, answer.text
    refused: Any = report(client, ledger, policy_no, customer=STRANGER)
    assert refused.status_code == 404, refused.text
