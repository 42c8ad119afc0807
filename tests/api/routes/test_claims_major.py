"""Major claims over HTTP: the named handler from the roster (least loaded first) who alone decides, keys the
medical facts, keeps the customer informed and pays an advance; the major queue a handler takes from when there is
no roster; and a death claim reported by the beneficiary, who sees the outcome but not the deceased's records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import PAYMENTS, register_systems, settle
from tests.api.routes.claims_more_helpers import (
    CI_DOCS,
    DEATH_DOCS,
    critical_illness_policy,
    file_claim,
    filed,
    post,
    seen,
    staff_steps,
)
from tests.api.routes.servicing_helpers import OWNER, headers, issue, move_to, policy, refusal

LUNG_CANCER = {"diagnoses": ["C34.9"], "history": []}


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


def test_major_claims_go_to_the_least_loaded_handler_who_alone_decides(hall: tuple[TestClient, Ledger],
                                                                      clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    ledger.claims.handlers = ("handler-a", "handler-b")
    # two years and more after issue, premiums paid: past the 2-year early-claim window of critical illness
    policy_no = critical_illness_policy(client, ledger, clock, years=2)
    first = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness", documents=CI_DOCS))
    assert first["status"] == "awaiting_keying" and first["missing"] == []
    keying = client.get("/v1/claims/queue", params={"kind": "keying"}, headers=headers(ledger, "adjuster", "a-1"))
    assert [row["claim_id"] for row in keying.json()] == [first["claim_id"]]

    keyed = post(client, ledger, first["claim_id"], "medical", LUNG_CANCER, role="claims_handler",
                 subject="handler-a")
    assert keyed.status_code == 200, keyed.text
    staff = seen(client, ledger, first["claim_id"], role="claims_handler", subject="handler-a")
    assert staff["status"] == "under_review" and staff["track"] == "major"
    assert staff["medical"]["illness_group"] == "severe"
    assert staff["flags"] == [], staff["flags"]  # issued over two years before the loss: nothing to explain
    assert staff["assessment"]["net"] == "200000.00"  # severe illness: 100% of the sum insured
    # both handlers had no open claim: the tie goes by name, and the assignment says why
    assert staff["handler"] == "handler-a"
    assigned = staff_steps(staff, ev.HANDLER_ASSIGNED)[-1]["facts"]
    assert assigned["reason"]["rule"] == "WORKLOAD" and assigned["reason"]["roster"] == {"handler-a": 0,
                                                                                          "handler-b": 0}

    # a second major claim goes to the handler with fewer open claims
    second = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness",
                              loss_date=ledger.claims.today() - timedelta(days=3), documents=CI_DOCS))
    assert post(client, ledger, second["claim_id"], "medical", LUNG_CANCER, role="claims_handler",
                subject="handler-b").status_code == 200
    assert seen(client, ledger, second["claim_id"])["handler"] == "handler-b"
    mine = client.get("/v1/claims/queue", params={"kind": "mine"}, headers=headers(ledger, "claims_handler",
                                                                                    "handler-b"))
    assert [row["claim_id"] for row in mine.json()] == [second["claim_id"]]

    # only the named handler decides: the other handler does not even see the claim, an adjuster is refused
    other = post(client, ledger, first["claim_id"], "decision", {"action": "approve"}, role="claims_handler",
                 subject="handler-b")
    assert other.status_code == 404, other.text
    adjuster = post(client, ledger, first["claim_id"], "decision", {"action": "approve"})
    assert refusal(adjuster) == "HANDLER-ONLY"

    # the handler's progress note reaches the customer's timeline
    noted = post(client, ledger, first["claim_id"], "notes",
                 {"kind": "progress", "text": "病理报告已核实，将于本周内作出决定", "next_step_by": "2028-12-20"},
                 role="claims_handler", subject="handler-a")
    assert noted.status_code == 200, noted.text
    mine_view = client.get(f"/v1/claims/{first['claim_id']}/timeline", headers=headers(ledger, "customer", OWNER))
    assert mine_view.status_code == 200, mine_view.text
    assert [(n["kind"], n["text"], n["next_step_by"]) for n in mine_view.json()["notes"]] == [
        ("progress", "病理报告已核实，将于本周内作出决定", "2028-12-20")]

    # an advance of the certain part, then the approval: the benefit instruction is what remains
    advanced = post(client, ledger, first["claim_id"], "advance", {"amount": "50000.00", "reason": "治疗费用预付"},
                    role="claims_handler", subject="handler-a")
    assert advanced.status_code == 200, advanced.text
    approved = post(client, ledger, first["claim_id"], "decision", {"action": "approve"}, role="claims_handler",
                    subject="handler-a")
    assert approved.status_code == 200, approved.text
    decided = approved.json()
    assert decided["status"] == "payment_pending"
    assert decided["decision"]["amount"] == _money("200000.00")
    kinds = sorted((p["kind"], p["amount"]["amount"]) for p in decided["payments"])
    assert kinds == [("advance", "50000.00"), ("benefit", "150000.00")]
    pending = client.get("/v1/claims/payments/pending", headers=headers(ledger, "system", PAYMENTS)).json()
    mine_pending = sorted(p["amount"]["amount"] if isinstance(p["amount"], dict) else p["amount"]
                          for p in pending if p["claim_id"] == first["claim_id"])
    assert mine_pending == ["150000.00", "50000.00"]
    settled = settle(client, ledger, systems, first["claim_id"])  # the first instruction pending: the advance
    assert settled.status_code == 200, settled.text

    # an advance is whole cents, as every payment instruction is: a fraction of a fen cannot be paid
    fraction = post(client, ledger, second["claim_id"], "advance", {"amount": "100.005", "reason": "预付"},
                    role="claims_handler", subject="handler-b")
    assert refusal(fraction, 422) == "amount"


def test_without_a_roster_a_major_claim_waits_for_a_handler_to_take_it(hall: tuple[TestClient, Ledger],
                                                                       clock: FixedClock) -> None:
    client, ledger = hall
    assert ledger.claims.handlers == ()
    policy_no = critical_illness_policy(client, ledger, clock)  # 120 days: past the 90-day waiting period
    claim = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness", documents=CI_DOCS))
    assert post(client, ledger, claim["claim_id"], "medical", LUNG_CANCER).status_code == 200
    staff = seen(client, ledger, claim["claim_id"])
    assert staff["status"] == "under_review" and staff["track"] == "major" and staff["handler"] is None
    # within two years of issue: the early-claim flag is raised and explained, and routes (never declines)
    early = [flag for flag in staff["flags"] if flag["rule"] == "EARLY-CLAIM"]
    assert len(early) == 1 and "730" in early[0]["threshold"] and early[0]["en"] and early[0]["zh"]

    handler = headers(ledger, "claims_handler", "handler-c")
    major = client.get("/v1/claims/queue", params={"kind": "major"}, headers=handler)
    assert [row["claim_id"] for row in major.json()] == [claim["claim_id"]]
    review = client.get("/v1/claims/queue", params={"kind": "review"}, headers=handler)
    assert claim["claim_id"] not in [row["claim_id"] for row in review.json()]

    taken = post(client, ledger, claim["claim_id"], "take", role="claims_handler", subject="handler-c")
    assert taken.status_code == 200, taken.text
    assert taken.json()["handler"] == "handler-c"
    assert client.get("/v1/claims/queue", params={"kind": "major"}, headers=handler).json() == []
    # once taken, another handler no longer sees it (a handler sees their own claims and the untaken major ones)
    other = client.get(f"/v1/claims/{claim['claim_id']}", headers=headers(ledger, "claims_handler", "handler-d"))
    assert other.status_code == 404, other.text
    again = post(client, ledger, claim["claim_id"], "take", role="claims_handler", subject="handler-d")
    assert again.status_code == 404, again.text
    assert refusal(post(client, ledger, claim["claim_id"], "decision", {"action": "approve"})) == "HANDLER-ONLY"
    # the handler who took it may decide it
    approved = post(client, ledger, claim["claim_id"], "decision", {"action": "approve"}, role="claims_handler",
                    subject="handler-c")
    assert approved.status_code == 200, approved.text
    assert approved.json()["decision"]["amount"] == _money("200000.00")


def test_a_death_claim_by_the_beneficiary_shows_the_outcome_not_the_records(hall: tuple[TestClient, Ledger],
                                                                           clock: FixedClock) -> None:
    client, ledger = hall
    systems = register_systems(client, ledger)
    policy_no = issue(client, ledger, product="term-life", sum_insured="300000", payment_years=10, term_years=20)
    beneficiary = str(policy(client, ledger, policy_no)["beneficiaries"][0]["party"])
    assert beneficiary != OWNER
    move_to(ledger, clock, ledger.policies.today() + timedelta(days=200))
    claim = filed(file_claim(client, ledger, policy_no, claim_type="death", customer=beneficiary,
                             documents=DEATH_DOCS))
    assert claim["status"] == "awaiting_keying"
    death_day = ledger.claims.today() - timedelta(days=5)
    keyed = post(client, ledger, claim["claim_id"], "medical",
                 {"diagnoses": ["I21.9"], "history": [{"code": "I10", "since": "2027-03-01"}],
                  "death_date": death_day.isoformat(), "death_cause": "illness"})
    assert keyed.status_code == 200, keyed.text
    staff = seen(client, ledger, claim["claim_id"])
    assert staff["status"] == "under_review" and staff["payee"] == beneficiary
    assert staff["medical"] is not None
    # a major claim is decided by a named handler, never by any adjuster
    assert refusal(post(client, ledger, claim["claim_id"], "decision", {"action": "approve"})) == \
        "MAJOR-NEEDS-HANDLER"
    assert post(client, ledger, claim["claim_id"], "take", role="claims_handler", subject="h-1").status_code == 200
    assert post(client, ledger, claim["claim_id"], "decision", {"action": "approve"}, role="claims_handler",
                subject="h-1").status_code == 200
    assert settle(client, ledger, systems, claim["claim_id"]).json()["status"] == "closed"

    mine = client.get(f"/v1/claims/{claim['claim_id']}", headers=headers(ledger, "customer", beneficiary))
    assert mine.status_code == 200, mine.text
    view: dict[str, Any] = mine.json()
    assert view["decision"]["outcome"] == "approve"
    assert view["payments"][0]["status"] == "paid" and view["payments"][0]["amount"] == _money(
        staff["assessment"]["net"])
    for hidden in ("medical", "invoices", "review", "flags", "resolved_flags"):
        assert hidden not in view, hidden
    assert set(view["assessment"]) == {"net", "currency"}
    medical_steps = staff_steps(view, ev.MEDICAL_RECORDED)
    assert medical_steps and all("facts" not in step for step in medical_steps)
    assert "I21" not in mine.text and "I10" not in mine.text
    listed = client.get("/v1/claims", headers=headers(ledger, "customer", beneficiary))
    assert [row["claim_id"] for row in listed.json()] == [claim["claim_id"]]


def test_medical_facts_the_handler_corrects_under_review_are_what_is_assessed(hall: tuple[TestClient, Ledger],
                                                                              clock: FixedClock) -> None:
    client, ledger = hall
    ledger.claims.handlers = ("handler-a",)
    policy_no = critical_illness_policy(client, ledger, clock)
    claim = filed(file_claim(client, ledger, policy_no, claim_type="critical_illness", documents=CI_DOCS))
    first = post(client, ledger, claim["claim_id"], "medical", LUNG_CANCER)  # keyed from the diagnosis
    assert first.status_code == 200 and first.json()["assessment"]["net"] == "200000.00", first.text
    # the handler reads the pathology: a stage the table cannot see, graded mild (30% of the sum insured)
    corrected = post(client, ledger, claim["claim_id"], "medical", {**LUNG_CANCER, "illness_group": "mild"},
                     role="claims_handler", subject="handler-a")
    assert corrected.status_code == 200, corrected.text
    view = corrected.json()
    assert view["medical"]["illness_group"] == "mild"
    # an approval pays the assessed amount: it must be assessed on the facts as they now stand
    assert view["assessment"]["net"] == "60000.00", view["assessment"]
