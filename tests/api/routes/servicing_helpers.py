"""Helpers shared by the servicing route tests: tokens, issuing a policy over HTTP, uploads, one-time codes,
paying premiums, moving the ledger's clock, and driving a request through its lifecycle to the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.auth import Role, issue_token
from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.policies.rules.samples import CLEAN
from tests.factories import resident_id

OWNER = "P00000000000000000S01"
STRANGER = "P00000000000000000S02"
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
HOLDER_BIRTH = "1986-04-02"  # 40 on START


def headers(ledger: Ledger, role: str, subject: str) -> dict[str, str]:
    """A bearer token of ``role`` for ``subject``."""
    token = issue_token(ledger.secrets.token, subject=subject, role=Role(role), issuer=ledger.settings.jwt_issuer,
                        ttl=300)
    return {"Authorization": f"Bearer {token}"}


def clerk(ledger: Ledger, name: str = "clerk-1") -> dict[str, str]:
    return headers(ledger, "servicing", name)


def issue(client: TestClient, ledger: Ledger, *, product: str = "whole-life", sum_insured: str = "200000",
          payment_years: int = 10, term_years: int | None = None, frequency: str = "annual",
          customer: str = OWNER, birth: str = HOLDER_BIRTH, serial: int = 12) -> str:
    """Apply for a policy whose policyholder is also the insured, pay the first premium, return the policy
    number. Another ``customer`` is another person: give them another ``birth`` or ``serial`` (the identity
    number a customer's party is registered with never changes)."""
    me = headers(ledger, "customer", customer)
    body = {"product_id": product,
            "plan": {"sum_insured": sum_insured, "term_years": term_years, "payment_years": payment_years,
                     "frequency": frequency},
            "policyholder": {"name": "王五", "id_number": resident_id(birth, serial=serial), "phone": "13900001111"},
            "beneficiaries": [{"person": {"name": "赵六", "id_number": resident_id("1988-09-09", sex="F")},
                               "share": "100"}],
            "occupation_class": 1, "payment_account": "6222020200112233445",
            "consent": {"terms_read": True, "insured_consents": True}, "answers": dict(CLEAN)}
    submitted = client.post("/v1/applications", headers=me, json=body)
    assert submitted.status_code == 201, submitted.text
    app = submitted.json()
    assert app["status"] == "accepted", app
    paid = client.post("/v1/payments", headers=headers(ledger, "system", "payments"), json={
        "application_id": app["application_id"], "amount": app["premium"]["modal_premium"]["amount"],
        "payment_ref": f"PAY-{app['application_id']}", "paid_at": "2026-12-01T01:00:00Z"})
    assert paid.status_code == 201, paid.text
    return str(paid.json()["policy"]["policy_no"])


def policy(client: TestClient, ledger: Ledger, policy_no: str, customer: str = OWNER) -> dict[str, Any]:
    answer = client.get(f"/v1/policies/{policy_no}", headers=headers(ledger, "customer", customer))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def documents(client: TestClient, ledger: Ledger, policy_no: str, customer: str = OWNER) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/policies/{policy_no}/documents", headers=headers(ledger, "customer", customer))
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


def upload(client: TestClient, me: dict[str, str], content: bytes, *, subject: str | None = None) -> str:
    """Upload ``content`` as a PDF (staff name the ``subject`` whose file it is); its digest."""
    path = "/v1/uploads" if subject is None else f"/v1/uploads?subject={subject}"
    answer = client.post(path, headers={**me, "Content-Type": "application/pdf"}, content=content)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["digest"])


def uploads(client: TestClient, me: dict[str, str], *codes: str) -> dict[str, str]:
    """One upload per document code (code -> digest)."""
    return {code: upload(client, me, f"%PDF {code}".encode()) for code in codes}


def code_for(client: TestClient, ledger: Ledger, request_id: str) -> str:
    """The one-time code as the messaging system receives it from the outbox."""
    pending = client.get("/v1/staff/servicing/codes", headers=headers(ledger, "system", "messaging")).json()
    message = next(m for m in pending if m["id"] == request_id)
    digits = [word for word in message["message_en"].replace(",", " ").split() if word.isdigit() and len(word) == 6]
    assert len(digits) == 1, message
    return str(digits[0])


def pay_due(client: TestClient, ledger: Ledger, policy_no: str) -> dict[str, Any]:
    """Pay the policy's next premium as the payments system (the due modal premium); the policy after it."""
    shown = policy(client, ledger, policy_no)
    due = shown["next_due"]
    assert due is not None, shown
    paid = client.post("/v1/payments", headers=headers(ledger, "system", "payments"), json={
        "policy_no": policy_no, "amount": shown["premium"]["modal_premium"]["amount"],
        "payment_ref": f"PAY-{policy_no}-{due}", "paid_at": ledger.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert paid.status_code == 201 and paid.json()["outcome"] == "applied", paid.text
    body: dict[str, Any] = paid.json()["policy"]
    return body


def move_to(ledger: Ledger, clock: FixedClock, day: date) -> None:
    """Set the clock to 10:00 (Shanghai) on ``day`` and let the policy clock catch up to it."""
    clock.set(datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC))
    ledger.policies.run_clock(until=ledger.policies.today())


def past_free_look(ledger: Ledger, clock: FixedClock) -> None:
    """Move past the 15-day free-look period and let the policy clock record its end."""
    clock.advance(timedelta(days=16))
    ledger.policies.run_clock(until=ledger.policies.today())


@dataclass
class Driven:
    """A request driven to its end: its last view and every status it passed through."""

    view: dict[str, Any]
    path: list[str] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)

    @property
    def request_id(self) -> str:
        return str(self.view["request_id"])


def submit(client: TestClient, ledger: Ledger, policy_no: str, operation: str, data: dict[str, Any], *,
           docs: dict[str, str] | None = None, customer: str = OWNER) -> dict[str, Any]:
    """Submit a request as ``customer``; the request's view (fails the test unless it was a 201)."""
    made = client.post(f"/v1/policies/{policy_no}/servicing", headers=headers(ledger, "customer", customer),
                       json={"operation": operation, "input": data, "documents": docs or {}})
    assert made.status_code == 201, made.text
    view: dict[str, Any] = made.json()
    return view


def drive(client: TestClient, ledger: Ledger, clock: FixedClock, view: dict[str, Any], *,
          customer: str = OWNER, until: str = "completed") -> Driven:
    """Take a submitted request on as the customer and clerks would: the one-time code if it awaits one, the
    clerk's approval (two different clerks for four eyes), then the cooling-off run out on the servicing clock;
    stops once the request is ``until`` (or can go no further)."""
    me = headers(ledger, "customer", customer)
    rid = view["request_id"]
    driven = Driven(view=view, path=[view["status"]])
    for _ in range(6):
        status = driven.view["status"]
        if status == until or status in ("completed", "rejected", "withdrawn"):
            break
        if status == "awaiting_confirmation":
            answer = client.post(f"/v1/servicing/{rid}/confirm", headers=me,
                                 json={"code": code_for(client, ledger, rid)})
        elif status == "under_review":
            name = f"clerk-{len(driven.approvers) + 1}"
            answer = client.post(f"/v1/servicing/{rid}/decision", headers=clerk(ledger, name),
                                 json={"action": "approve"})
            driven.approvers.append(name)
        elif status == "approved" and driven.view["awaiting"]["from"] == "clock":
            assert ledger.servicing.run_clock() == {}, "nothing completes before its cooling-off ends"
            until_at = datetime.fromisoformat(driven.view["awaiting"]["until"].replace("Z", "+00:00"))
            clock.set(max(clock.now(), until_at) + timedelta(seconds=1))
            assert ledger.servicing.run_clock() == {"completed": 1}
            answer = client.get(f"/v1/servicing/{rid}", headers=me)
        else:
            break
        assert answer.status_code == 200, answer.text
        driven.view = answer.json()
        if driven.view["status"] != driven.path[-1]:
            driven.path.append(driven.view["status"])
    return driven


def refusal(answer: Any, status: int = 409) -> str:
    """The rule (409) or field (422, 404) a problem+json answer names."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    body = answer.json()
    return str(body["rule"] if status == 409 else body["field"])
