"""A person's part in a claim over HTTP: the nondisclosure and duplicate-invoice flags and who sees them, a decline
with its reasons and clause, the appeal to someone else and a reopen, a supplement notice that pauses the decision
clock, deadlines due soon and breached, and an invoice picture keyed by an adjuster."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import (
    CUSTOMER_DOCS,
    Systems,
    medical_policy,
    no_sample,
    post_invoice,
    register_systems,
    settle,
)
from tests.api.routes.claims_more_helpers import (
    STRUCTURED,
    file_claim,
    filed,
    fresh_uploads,
    post,
    seen,
    staff_steps,
)
from tests.api.routes.servicing_helpers import OWNER, headers, move_to, refusal


def _mine(client: TestClient, ledger: Ledger, claim_id: str) -> dict[str, Any]:
    answer = client.get(f"/v1/claims/{claim_id}", headers=headers(ledger, "customer", OWNER))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _under_review(client: TestClient, ledger: Ledger, clock: FixedClock,
                  **invoice: Any) -> tuple[dict[str, Any], Systems]:
    """A medical claim assessed at 3,000 ((15,000 - 10,000) x 0.6: above the automatic limit), under review; with
    the hospital and payments systems registered."""
    systems = register_systems(client, ledger)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    answer = post_invoice(client, ledger, systems, claim, total="15000.00", **invoice)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "under_review"
    return claim, systems


def test_a_condition_declared_no_is_flagged_for_staff_only(hall: tuple[TestClient, Ledger],
                                                          clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    # 900 payable: small enough to be approved with no person, were it clean. The discharge summary records
    # hypertension since 2020; the application (2026-12-01) answered "no" to the hypertension question
    answer = post_invoice(client, ledger, systems, claim, history=({"code": "I10", "since": "2020-05-01"},))
    assert answer.status_code == 200, answer.text
    staff = seen(client, ledger, claim["claim_id"])
    assert staff["status"] == "under_review", staff["status"]
    assert staff["automatic"]["approved"] is False and staff["decision"] is None
    rules = [flag["rule"] for flag in staff["flags"]]
    assert rules == ["NONDISCLOSURE"], rules
    flag = staff["flags"][0]
    assert "hypertension" in flag["threshold"] and "hypertension" in flag["en"]
    assert flag["action"] == "investigate"  # within two years of formation a person decides whether to rescind
    check = next(c for c in staff["review"]["checks"] if c["code"] == "NONDISCLOSURE")
    assert check["passed"] is False and check["blocks"] is False

    mine = client.get(f"/v1/claims/{claim['claim_id']}", headers=headers(ledger, "customer", OWNER))
    assert mine.status_code == 200, mine.text
    view = mine.json()
    assert "flags" not in view and "NONDISCLOSURE" not in mine.text
    assert view["status"] == "under_review" and view["review"] == {"payable": True}
    timeline = client.get(f"/v1/claims/{claim['claim_id']}/timeline", headers=headers(ledger, "customer", OWNER))
    assert "NONDISCLOSURE" not in timeline.text and "I10" not in timeline.text


def test_an_invoice_posted_in_two_claims_flags_the_second(hall: tuple[TestClient, Ledger],
                                                          clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    no_sample(ledger)
    policy_no = medical_policy(client, ledger, clock)
    first = filed(file_claim(client, ledger, policy_no, loss_date=ledger.claims.today() - timedelta(days=20),
                             documents=CUSTOMER_DOCS))
    assert post_invoice(client, ledger, systems, first, invoice_no="INV-DUP-0001").json()["status"] == \
        "payment_pending"
    second = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS))
    assert post_invoice(client, ledger, systems, second, invoice_no="INV-DUP-0001").status_code == 200
    staff = seen(client, ledger, second["claim_id"])
    assert staff["status"] == "under_review" and staff["automatic"]["approved"] is False
    duplicate = [flag for flag in staff["flags"] if flag["rule"] == "DUPLICATE-INVOICE"]
    assert len(duplicate) == 1, staff["flags"]
    first_reported = staff_steps(seen(client, ledger, first["claim_id"]), ev.REPORTED)[0]["index"]
    second_invoice = staff_steps(staff, ev.INVOICE_RECEIVED)[0]["index"]
    assert first_reported in duplicate[0]["evidence"] and second_invoice in duplicate[0]["evidence"]
    assert first["claim_id"] in duplicate[0]["observed"] and duplicate[0]["action"] == "investigate"
    assert "DUPLICATE-INVOICE" not in client.get(f"/v1/claims/{second['claim_id']}",
                                                 headers=headers(ledger, "customer", OWNER)).text


def test_a_decline_is_explained_appealed_to_someone_else_and_a_paid_claim_reopened(
        hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    claim, systems = _under_review(client, ledger, clock)
    cid = claim["claim_id"]
    no_reason = post(client, ledger, cid, "decision", {"action": "decline", "reason": "不在保障范围"})
    assert refusal(no_reason, 422) == "clause"
    declined = post(client, ledger, cid, "decision", {
        "action": "decline", "reason": "Cosmetic treatment is not covered.", "reason_zh": "美容治疗不在保障范围内。",
        "clause": "Medical v1, clause 7.2 (exclusions)"})
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"

    timeline = client.get(f"/v1/claims/{cid}/timeline", headers=headers(ledger, "customer", OWNER))
    assert timeline.status_code == 200, timeline.text
    decided = [step for step in timeline.json()["timeline"] if step["type"] == ev.DECIDED]
    assert len(decided) == 1 and decided[0]["outcome"] == "decline"
    assert decided[0]["reasons"] == [{"rule": "REVIEWER-DECLINE", "clause": "Medical v1, clause 7.2 (exclusions)",
                                      "en": "Cosmetic treatment is not covered.", "zh": "美容治疗不在保障范围内。"}]
    assert timeline.json()["next"]["from"] == "customer"  # they may appeal
    # the written decline with its reasons goes out with the decision (IL 24: within 3 days)
    assert _mine(client, ledger, cid)["clocks"]["deadlines"]["decline_notice"]["state"] == "met"

    appealed = client.post(f"/v1/claims/{cid}/appeal", headers=headers(ledger, "customer", OWNER),
                           json={"reason": "治疗属于必要的医疗行为，附主治医生说明"})
    assert appealed.status_code == 200, appealed.text
    assert appealed.json()["status"] == "under_review"
    assert seen(client, ledger, cid)["appeals"] == 1
    same = post(client, ledger, cid, "decision", {"action": "approve"})
    assert refusal(same) == "APPEAL-SAME-PERSON"
    other = post(client, ledger, cid, "decision", {"action": "approve"}, subject="adjuster-2")
    assert other.status_code == 200, other.text
    assert other.json()["decision"]["outcome"] == "approve"

    paid = settle(client, ledger, systems, cid)
    assert paid.status_code == 200 and paid.json()["status"] == "closed", paid.text
    reopened = post(client, ledger, cid, "reopen", {"reason": "新的诊断证明显示另有费用", "documents": ["DIAGNOSIS"]})
    assert reopened.status_code == 200, reopened.text
    again = reopened.json()
    assert again["status"] == "awaiting_documents" and again["missing"] == ["DIAGNOSIS"]
    assert again["next"]["from"] == "customer"
    assert seen(client, ledger, cid)["reopened"] == 1
    # the new document brings the claim back to a reviewer with a fresh assessment
    supplied = client.post(f"/v1/claims/{cid}/documents", headers=headers(ledger, "customer", OWNER),
                           json={"documents": fresh_uploads(client, ledger, "DIAGNOSIS")})
    assert supplied.status_code == 200, supplied.text
    back = seen(client, ledger, cid)
    assert back["status"] == "under_review" and back["decision"] is None
    assert len(staff_steps(back, ev.ASSESSED)) == 2




def test_a_supplement_notice_pauses_the_decision_clock(hall: tuple[TestClient, Ledger], clock: FixedClock) -> None:
    client, ledger = hall
    claim, _ = _under_review(client, ledger, clock)
    cid = claim["claim_id"]
    complete_day = ledger.claims.today()
    before = seen(client, ledger, cid)["clocks"]["deadlines"]["decision"]
    assert before["due"] == (complete_day + timedelta(days=5)).isoformat() and before["state"] == "open"

    unknown = post(client, ledger, cid, "decision", {"action": "request_documents", "documents": ["X-RAY"],
                                                     "reason": "x"})
    assert refusal(unknown, 422) == "documents"
    asked = post(client, ledger, cid, "decision", {
        "action": "request_documents", "documents": ["DIAGNOSIS", "ADMISSION-RECORD"],
        "reason": "诊断证明与入院记录缺少医院盖章，请一并补交"})
    assert asked.status_code == 200, asked.text
    notice = asked.json()
    assert notice["status"] == "awaiting_documents"
    assert sorted(notice["missing"]) == ["ADMISSION-RECORD", "DIAGNOSIS"]
    requested = staff_steps(_mine(client, ledger, cid), ev.DOCUMENTS_REQUESTED)
    assert len(requested) == 1 and sorted(requested[0]["documents"]) == ["ADMISSION-RECORD", "DIAGNOSIS"]
    assert seen(client, ledger, cid)["clocks"]["paused"] is True

    clock.advance(timedelta(days=3))
    supplied = client.post(f"/v1/claims/{cid}/documents", headers=headers(ledger, "customer", OWNER),
                           json={"documents": fresh_uploads(client, ledger, "DIAGNOSIS", "ADMISSION-RECORD")})
    assert supplied.status_code == 200, supplied.text
    view = seen(client, ledger, cid)
    assert view["status"] == "under_review", view["status"]
    clocks = view["clocks"]
    assert clocks["paused"] is False
    assert len(clocks["pauses"]) == 1
    pause = clocks["pauses"][0]
    assert pause["days"] == 3 and pause["open"] is False and pause["seconds"] == 3 * 86400
    decision = clocks["deadlines"]["decision"]
    assert decision["due"] == (complete_day + timedelta(days=5 + 3)).isoformat()
    assert pause["from_index"] in decision["evidence"] and pause["to_index"] in decision["evidence"]


def test_due_soon_lists_a_deadline_due_tomorrow_and_one_breached(hall: tuple[TestClient, Ledger],
                                                                 clock: FixedClock) -> None:
    client, ledger = hall
    late, systems = _under_review(client, ledger, clock)
    day = ledger.claims.today()
    move_to(ledger, clock, day + timedelta(days=2))
    soon = filed(file_claim(client, ledger, late["policy_no"], documents=CUSTOMER_DOCS))
    assert post_invoice(client, ledger, systems, soon, total="15000.00").json()["status"] == "under_review"
    # six days on: the first claim's 5-day decision deadline has passed, the second's falls due tomorrow
    move_to(ledger, clock, day + timedelta(days=6))
    answer = client.get("/v1/claims/due-soon", headers=headers(ledger, "adjuster", "adjuster-1"))
    assert answer.status_code == 200, answer.text
    rows = {(row["claim_id"], row["deadline"]): row for row in answer.json()}
    breached = rows[(late["claim_id"], "decision")]
    assert breached["state"] == "breached" and breached["due"] == (day + timedelta(days=5)).isoformat()
    due = rows[(soon["claim_id"], "decision")]
    assert due["state"] == "due_soon" and due["due"] == (day + timedelta(days=7)).isoformat()
    assert answer.json()[0]["claim_id"] == late["claim_id"]  # most urgent (earliest due) first
    assert (late["claim_id"], "advance") not in rows  # 60 days away: not listed
    customer = client.get("/v1/claims/due-soon", headers=headers(ledger, "customer", OWNER))
    assert customer.status_code == 403
    # a handler sees the deadlines of their own claims only (these two fast-track claims have no handler)
    handler = client.get("/v1/claims/due-soon", headers=headers(ledger, "claims_handler", "h-9"))
    assert handler.status_code == 200 and handler.json() == [], handler.text


def test_an_invoice_picture_waits_for_an_adjuster_to_key_it(hall: tuple[TestClient, Ledger],
                                                            clock: FixedClock) -> None:
    client, ledger = hall
    policy_no = medical_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, documents=CUSTOMER_DOCS + STRUCTURED))
    cid = claim["claim_id"]
    assert claim["status"] == "awaiting_keying" and claim["missing"] == []
    adjuster = headers(ledger, "adjuster", "adjuster-1")
    keying = client.get("/v1/claims/queue", params={"kind": "keying"}, headers=adjuster)
    assert [row["claim_id"] for row in keying.json()] == [cid]
    received = staff_steps(seen(client, ledger, cid), ev.DOCUMENTS_RECEIVED)
    invoice_digest = received[0]["facts"]["uploads"]["INVOICE"]
    body = {"digest": invoice_digest, "invoice_no": "HB-2027-000123", "hospital": "H001",
            "admitted": claim["loss_date"],
            "discharged": (date.fromisoformat(claim["loss_date"]) + timedelta(days=4)).isoformat(),
            "total": "15000.00", "ineligible": "0", "social_insurance_paid": "0", "diagnoses": ["J18.9"],
            "history": []}
    wrong = post(client, ledger, cid, "invoices/keyed", {**body, "digest": "sha256:" + "0" * 64})
    assert refusal(wrong, 422) == "digest"
    keyed = post(client, ledger, cid, "invoices/keyed", body)
    assert keyed.status_code == 200, keyed.text
    view = keyed.json()
    assert view["status"] == "under_review" and view["assessment"]["net"] == "3000.00"
    assert view["invoices"][0]["source"] == "keyed" and view["invoices"][0]["keyed_by"] == "adjuster-1"
    assert client.get("/v1/claims/queue", params={"kind": "keying"}, headers=adjuster).json() == []
