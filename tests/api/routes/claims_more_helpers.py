"""Helpers of the claims route tests beyond the fast track: uploads whose content is unique to one claim, policies
kept in force for years, reading a claim as a given role, and the staff decisions the tests repeat."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.clock import FixedClock
from tests.api.routes.claims_helpers import ACCOUNT
from tests.api.routes.servicing_helpers import OWNER, headers, issue, move_to, pay_due, upload

CI_DOCS = ("CLAIM-FORM", "INSURED-ID", "DIAGNOSIS", "PATHOLOGY")
DEATH_DOCS = ("CLAIM-FORM", "POLICY", "BENEFICIARY-ID", "DEATH-CERTIFICATE", "HOUSEHOLD-CANCELLATION")
STRUCTURED = ("DISCHARGE-SUMMARY", "INVOICE", "SOCIAL-INSURANCE-SETTLEMENT")


def fresh_uploads(client: TestClient, ledger: Ledger, *codes: str, customer: str = OWNER) -> dict[str, str]:
    """One upload per document code as ``customer``, each with content no other call uploads (code -> digest)."""
    me = headers(ledger, "customer", customer)
    tag = uuid.uuid4().hex
    return {code: upload(client, me, f"%PDF {code} {tag}".encode()) for code in codes}


def file_claim(client: TestClient, ledger: Ledger, policy_no: str, *, claim_type: str = "medical",
               loss_date: date | None = None, customer: str = OWNER, documents: tuple[str, ...] = (),
               extra_headers: dict[str, str] | None = None, **extra: Any) -> Any:
    """Report a claim as ``customer`` with fresh uploads of ``documents``; the HTTP answer."""
    body: dict[str, Any] = {
        "policy_no": policy_no, "claim_type": claim_type,
        "loss_date": (loss_date or ledger.claims.today() - timedelta(days=5)).isoformat(),
        "description": "理赔报案", "account": ACCOUNT, **extra}
    if documents:
        body["documents"] = fresh_uploads(client, ledger, *documents, customer=customer)
    return client.post("/v1/claims", headers={**headers(ledger, "customer", customer), **(extra_headers or {})},
                       json=body)


def filed(answer: Any) -> dict[str, Any]:
    """The claim view of a 201 report (fails the test otherwise)."""
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def seen(client: TestClient, ledger: Ledger, claim_id: str, *, role: str = "adjuster",
         subject: str = "adjuster-1") -> dict[str, Any]:
    """The claim as ``role`` ``subject`` sees it (fails the test unless 200)."""
    answer = client.get(f"/v1/claims/{claim_id}", headers=headers(ledger, role, subject))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def post(client: TestClient, ledger: Ledger, claim_id: str, action: str, body: dict[str, Any] | None = None, *,
         role: str = "adjuster", subject: str = "adjuster-1") -> Any:
    """POST ``/v1/claims/{claim_id}/{action}`` as ``role`` ``subject``; the HTTP answer."""
    return client.post(f"/v1/claims/{claim_id}/{action}", headers=headers(ledger, role, subject), json=body)


def critical_illness_policy(client: TestClient, ledger: Ledger, clock: FixedClock, *, years: int = 0,
                            customer: str = OWNER, sum_insured: str = "200000") -> str:
    """A whole-life critical-illness policy (10 annual premiums) issued on the clock's day. With ``years`` 0 the
    clock ends 120 days after issue (past the 90-day waiting period); otherwise each yearly premium is paid
    before its grace ends and the clock ends ``years`` years and 8 days after the issue date (past the 2-year
    early-claim window of critical illness when ``years`` >= 2)."""
    policy_no = issue(client, ledger, product="critical-illness", sum_insured=sum_insured, payment_years=10,
                      customer=customer)
    start = ledger.policies.today()
    if years == 0:
        move_to(ledger, clock, start + timedelta(days=120))
        return policy_no
    for year in range(1, years + 1):
        move_to(ledger, clock, start.replace(year=start.year + year) - timedelta(days=10))
        pay_due(client, ledger, policy_no)
    move_to(ledger, clock, start.replace(year=start.year + years) + timedelta(days=8))
    return policy_no


def staff_steps(view: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The timeline steps of type ``kind`` in a view."""
    return [step for step in view["timeline"] if step["type"] == kind]


@dataclass(frozen=True)
class DeathClaim:
    policy_no: str
    claim: dict[str, Any]  # the claim as reported
    epolicy: str  # the digest of the e-policy in force at the death
    beneficiary: str
    heir: dict[str, str]  # the beneficiary's headers


def paid_death_claim(client: TestClient, ledger: Ledger, clock: FixedClock) -> DeathClaim:
    """A 20-year term life policy 100 days old (past its waiting period), a death claim by its beneficiary keyed,
    assessed, approved by the handler and paid: the contract ends and its e-policy is revoked."""
    from tests.api.routes.claims_helpers import register_systems, settle
    from tests.api.routes.servicing_helpers import documents, uploads

    systems = register_systems(client, ledger)
    ledger.claims.handlers = ("handler-a",)
    policy_no = issue(client, ledger, product="term-life", sum_insured="500000", payment_years=10, term_years=20)
    move_to(ledger, clock, ledger.policies.today() + timedelta(days=100))  # past the 90-day waiting period
    state = ledger.policies.get(ledger.policies.application_of(policy_no))
    beneficiary = state.beneficiaries[0]["party"]
    epolicy = documents(client, ledger, policy_no)[-1]["digest"]

    heir = headers(ledger, "customer", beneficiary)
    death = (ledger.claims.today() - timedelta(days=3)).isoformat()
    reported = client.post("/v1/claims", headers=heir, json={
        "policy_no": policy_no, "claim_type": "death", "loss_date": death, "account": ACCOUNT,
        "documents": uploads(client, heir, "CLAIM-FORM", "POLICY", "BENEFICIARY-ID", "DEATH-CERTIFICATE",
                             "HOUSEHOLD-CANCELLATION")})
    assert reported.status_code == 201, reported.text
    claim = reported.json()
    assert claim["status"] == "awaiting_keying"  # the cause and date of death wait for a person
    handler = headers(ledger, "claims_handler", "handler-a")
    keyed = client.post(f"/v1/claims/{claim['claim_id']}/medical", headers=handler,
                        json={"diagnoses": ["I21.9"], "death_date": death, "death_cause": "illness"})
    assert keyed.status_code == 200, keyed.text
    view = keyed.json()
    assert view["status"] == "under_review" and view["track"] == "major" and view["handler"] == "handler-a"
    # 500,000 x 1, and the premium paid for no due date after the death: nothing to refund, nothing owed
    assert view["assessment"]["net"] == "500000.00", view["assessment"]
    decided = client.post(f"/v1/claims/{claim['claim_id']}/decision", headers=handler, json={"action": "approve"})
    assert decided.status_code == 200, decided.text
    settled = settle(client, ledger, systems, claim["claim_id"])
    assert settled.status_code == 200, settled.text
    return DeathClaim(policy_no=policy_no, claim=claim, epolicy=epolicy, beneficiary=beneficiary, heir=heir)
