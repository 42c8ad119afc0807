"""Helpers shared by the claims route tests: the hospital and payments systems with their registered keys, a
medical policy past its waiting period, reporting a claim with its documents, and settling its payment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.claims import events as ev
from ledger.clock import FixedClock
from ledger.crypto.keys import SigningKey
from ledger.log.statements import sign_event
from ledger.projections.scopes import KeyScope
from tests.api.routes.servicing_helpers import OWNER, headers, issue, move_to, uploads
from tests.factories import register_over_http

HOSPITAL = "hospital-h001"
PAYMENTS = "payments"
ACCOUNT = {"bank": "ICBC", "number": "6222020200112233445", "name": "王五"}


@dataclass
class Systems:
    hospital: SigningKey
    payments: SigningKey


def register_systems(client: TestClient, ledger: Ledger) -> Systems:
    """Register the hospital's and the payments system's signing keys (as an administrator would)."""
    admin = headers(ledger, "admin", "admin-1")
    hospital = SigningKey.generate(key_id="hospital-h001-k1")
    payments = SigningKey.generate(key_id="payments-k1")
    register_over_http(client, admin, hospital, owner=HOSPITAL,
                       scope=KeyScope.from_json({"types": ["medical.*"], "streams": ["hospital"]}))
    register_over_http(client, admin, payments, owner=PAYMENTS,
                       scope=KeyScope.from_json({"types": ["payments.*"], "streams": ["payments"]}))
    return Systems(hospital=hospital, payments=payments)


def medical_policy(client: TestClient, ledger: Ledger, clock: FixedClock, *, customer: str = OWNER,
                   days_after: int = 120) -> str:
    """A one-year medical policy (annual limit 1,000,000, deductible 10,000), the clock ``days_after`` its issue
    (past the 30-day waiting period and the 90-day early-claim window of the fraud rules)."""
    policy_no = issue(client, ledger, product="medical", sum_insured="1000000", payment_years=1, term_years=1,
                      customer=customer)
    move_to(ledger, clock, ledger.policies.today() + timedelta(days=days_after))
    return policy_no


def report(client: TestClient, ledger: Ledger, policy_no: str, *, claim_type: str = "medical",
           loss_date: date | None = None, customer: str = OWNER, documents: tuple[str, ...] = (),
           **extra: Any) -> Any:
    me = headers(ledger, "customer", customer)
    body: dict[str, Any] = {"policy_no": policy_no, "claim_type": claim_type,
                            "loss_date": (loss_date or ledger.claims.today() - timedelta(days=5)).isoformat(),
                            "description": "住院治疗", "account": ACCOUNT, **extra}
    if documents:
        body["documents"] = uploads(client, me, *documents)
    return client.post("/v1/claims", headers=me, json=body)


def invoice_event(systems: Systems, claim: dict[str, Any], *, invoice_no: str | None = None,
                  total: str = "11500.00", ineligible: str = "0.00", social: str = "0.00",
                  admitted: date | None = None, days: int = 4, diagnoses: tuple[str, ...] = ("J18.9",),
                  history: tuple[dict[str, str], ...] = (), subject: str = "P00000000000000000S01") -> dict[str, Any]:
    """The hospital's signed e-invoice with its discharge summary for ``claim`` (wire form)."""
    admitted = admitted or date.fromisoformat(claim["loss_date"])
    signed = sign_event(
        key=systems.hospital, event_id=f"inv-{uuid.uuid4().hex[:12]}", type=ev.HOSPITAL_INVOICE,
        stream="hospital:h001", data_subject="hospital-h001",
        payload={"claim_id": claim["claim_id"], "policy_no": claim["policy_no"],
                 "invoice_no": invoice_no or f"INV-{uuid.uuid4().hex[:10]}", "hospital": "H001",
                 "admitted": admitted.isoformat(), "discharged": (admitted + timedelta(days=days)).isoformat(),
                 "total": total, "ineligible": ineligible, "social_insurance_paid": social,
                 "categories": {"drugs": str(Decimal(total) / 2), "beds": str(Decimal(total) / 2)},
                 "currency": "CNY"},
        personal={"diagnoses": list(diagnoses), "history": list(history)}, personal_subject=subject)
    return signed.to_json()


def post_invoice(client: TestClient, ledger: Ledger, systems: Systems, claim: dict[str, Any],
                 **kwargs: Any) -> Any:
    return client.post(f"/v1/claims/{claim['claim_id']}/invoices", headers=headers(ledger, "system", HOSPITAL),
                       json=invoice_event(systems, claim, **kwargs))


def settlement(systems: Systems, claim_id: str, payment: dict[str, Any], *, status: str = "paid",
               paid_at: str = "2026-12-01T08:00:00Z", reason: str = "") -> dict[str, Any]:
    signed = sign_event(
        key=systems.payments, event_id=f"pay-{uuid.uuid4().hex[:12]}", type=ev.PAYMENT_SETTLEMENT,
        stream="payments:claims", data_subject="payments",
        payload={"claim_id": claim_id, "payment_id": payment["payment_id"], "status": status,
                 "amount": payment["amount"]["amount"] if isinstance(payment["amount"], dict) else payment["amount"],
                 "currency": "CNY", "paid_at": paid_at, "reason": reason})
    return signed.to_json()


def settle(client: TestClient, ledger: Ledger, systems: Systems, claim_id: str, **kwargs: Any) -> Any:
    """The payments system pulls the claim's pending instruction and settles it."""
    pending = client.get("/v1/claims/payments/pending", headers=headers(ledger, "system", PAYMENTS))
    assert pending.status_code == 200, pending.text
    payment = next(p for p in pending.json() if p["claim_id"] == claim_id)
    return client.post(f"/v1/claims/{claim_id}/payments", headers=headers(ledger, "system", PAYMENTS),
                       json=settlement(systems, claim_id, payment, **kwargs))


def instructed(ledger: Ledger, claim_id: str) -> list[str]:
    """The amounts of every payment instruction the claim recorded, in order."""
    return [event.facts["amount"]["amount"] for event in ledger.workflow.history(ev.stream_of(claim_id))
            if event.type == ev.PAYMENT_INSTRUCTED]


def no_sample(ledger: Ledger, rate: str = "0") -> None:
    """Set the review sample's rate (0: no automatic approval is drawn for review; 1: every one is)."""
    rules = ledger.claims.rules
    ledger.claims.rules = rules.model_copy(update={"triage": rules.triage.model_copy(
        update={"sample_rate": Decimal(rate)})})


CUSTOMER_DOCS = ("CLAIM-FORM", "INSURED-ID", "ADMISSION-RECORD", "DIAGNOSIS")
