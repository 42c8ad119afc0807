"""What the claim rules read, built from the journal: the cover as the policy stream states it, the claim with the
medical facts its entries hold, and the insured's earlier claims and the policy's watched changes.

Reads only: the policy's state and history through the policy service, personal parts through the opener (the
claim's own diagnoses and history, and the health declaration the nondisclosure check compares them with), and
the claims and servicing read models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ledger.claims import projection as proj
from ledger.claims.model import Change, Claim, Cover, History, Interval, Invoice, LoanOwed, Medical, Prior
from ledger.claims.state import UNDECIDED, ClaimState
from ledger.errors import ErasedError
from ledger.log.identifiers import parse_timestamp
from ledger.policies.state import PolicyState

WATCHED = ("beneficiary_change", "owner_change", "payment_account_change", "payout_account_change")
PRIOR_LIMIT = 200  # an insured's, an account's or an invoice's earlier claims the fraud rules look at


def _day(value: Any) -> date | None:
    return None if value in (None, "") else date.fromisoformat(str(value))


def _d(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def cover_of(policy: PolicyState, *, on: date, loss_date: date, calendar_date: Callable[[Any], date]) -> Cover:
    """The cover as the claim rules see it: its dates and periods from the policy's folded history, debts on
    ``on`` (each loan with simple interest, actual/365, and their total) and the premium unpaid on ``loss_date``
    (its due dates and their total)."""
    application_date = calendar_date(policy.submitted_at) if policy.submitted_at is not None else on
    suspensions = tuple(Interval(start, None if back is None else back - timedelta(days=1))
                        for start, back in policy.suspensions)
    reinstated_on = next((back for _, back in reversed(policy.suspensions) if back is not None), None)
    grace = next((Interval(due, last) for due, last in policy.graces if due <= loss_date <= last), None)
    ended = policy.ended_on
    modal = Decimal(policy.premium["modal_premium"]["amount"]) if policy.premium.get("modal_premium") else Decimal(0)
    settled = set(policy.paid_dues) | set(policy.waived_dues)
    unpaid = [due for due in policy.due_dates() if due <= loss_date and due.isoformat() not in settled]
    loans = tuple(LoanOwed.accrued(principal=_d(loan["principal"]["amount"]), rate=_d(loan["rate"]),
                                   start=date.fromisoformat(loan["start"]), as_of=on) for loan in policy.loans)
    end = ended or policy.maturity_date
    return Cover(
        policy_no=policy.policy_no, application_id=policy.application_id, product_id=policy.product["id"],
        product_version=int(policy.product["version"]), kind=str(policy.product.get("kind", "")),
        currency=str(policy.plan["sum_insured"]["currency"]), sum_insured=_d(policy.plan["sum_insured"]["amount"]),
        status=policy.status, effective_date=policy.effective_date or on, issued_on=policy.issued_on or on,
        end_date=end, application_date=application_date, reinstated_on=reinstated_on,
        suspensions=tuple(suspensions), grace=grace, unpaid_premium=modal * len(unpaid), modal_premium=modal,
        paid_dues=tuple(date.fromisoformat(due) for due in policy.paid_dues),
        loans=sum((loan.owed for loan in loans), Decimal(0)), unpaid_dues=tuple(unpaid), loan_details=loans,
        options=tuple(policy.plan.get("options") or ()), exclusions=tuple(policy.decision.get("exclusions") or ()),
        insured=policy.insured, policyholder=policy.policyholder, beneficiaries=policy.beneficiaries,
        questionnaire=dict(policy.questionnaire))


def _opened(open_personal: Callable[[int], Any], index: int) -> dict[str, Any]:
    if not index:
        return {}
    try:
        opened = open_personal(index)
    except ErasedError:
        return {}
    payload = opened.payload if opened is not None else {}
    return payload if isinstance(payload, dict) else {}


def claim_of(state: ClaimState, *, open_personal: Callable[[int], Any]) -> Claim:
    """The claim as the rules see it: its facts, and the medical facts its personal parts hold (an erased part
    reads as empty)."""
    r = state.reported
    invoices = []
    diagnoses: list[str] = []
    history: list[History] = []
    for facts in state.invoices:
        personal = _opened(open_personal, facts["index"])
        codes = tuple(personal.get("diagnoses") or ())
        diagnoses += codes
        history += _history(personal.get("history"), facts["index"])
        invoices.append(Invoice(
            invoice_no=facts["invoice_no"], hospital=facts["hospital"], admitted=_day(facts.get("admitted")),
            discharged=_day(facts.get("discharged")), total=_d(facts["total"]), ineligible=_d(facts["ineligible"]),
            social_insurance_paid=_d(facts["social_insurance_paid"]),
            categories={k: _d(v) for k, v in (facts.get("categories") or {}).items()}, diagnoses=codes,
            source=facts["source"], index=facts["index"], digest=facts.get("digest") or ""))
    m = state.medical
    if m:
        personal = _opened(open_personal, state.medical_index)
        diagnoses += list(personal.get("diagnoses") or ())
        history += _history(personal.get("history"), state.medical_index)
    medical = Medical(diagnoses=tuple(dict.fromkeys(diagnoses)), history=tuple(history),
                      illness_group=m.get("illness_group"), disability_grade=m.get("disability_grade"),
                      death_cause=m.get("death_cause"), death_date=_day(m.get("death_date")))
    return Claim(claim_id=state.claim_id, policy_no=r["policy_no"], claim_type=r["claim_type"], cause=r["cause"],
                 loss_date=date.fromisoformat(r["loss_date"]),
                 reported_at=state.reported_mark.at if state.reported_mark else parse_timestamp(
                     "1970-01-01T00:00:00Z", field="reported_at"),
                 complete_at=state.complete.at if state.complete else None, invoices=tuple(invoices),
                 medical=medical, exclusion_facts=tuple(m.get("exclusion_facts") or ()), payee=r.get("payee", ""),
                 account_digest=state.account_digest)


def _history(raw: Any, index: int) -> list[History]:
    out = []
    for item in raw or ():
        if isinstance(item, dict) and item.get("code") and item.get("since"):
            out.append(History(code=str(item["code"]), since=date.fromisoformat(str(item["since"])),
                               source_index=index))
    return out


def prior_of(rows: Iterable[Mapping[str, Any]], *, claim_id: str, invoices: Mapping[str, list[str]],
             digests: Mapping[str, list[str]], policy_year_start: Callable[[Mapping[str, Any]], date | None],
             assessed: Callable[[str], Mapping[str, Any]],
             paid_out: Callable[[str], Decimal] = lambda claim_id: Decimal(0), policy_no: str | None = None
             ) -> list[Prior]:
    """Earlier claims (read-model rows, any but ``claim_id``) as the rules see them; ``invoices`` and ``digests``
    map each claim id to the invoice numbers and document digests seen in it, ``assessed`` gives a claim's
    latest assessment facts (what it used of a deductible or an allowance year), ``paid_out`` what was
    instructed and not failed on a claim not approved (now): an advance, or a benefit paid before the claim was
    reopened. That money went out of the cover, so it counts while the claim is undecided and after a decline
    too (unless it is recovered); a claim reopened, or still undecided, also counts what its assessment used of
    the coverages, deductible and allowance days, a declined one (never reopened) only the money. ``paid_out``
    is asked about claims on ``policy_no`` only (all when None): only they share the claim's cover."""
    seen: dict[str, Prior] = {}
    for row in rows:
        if row["claim_id"] == claim_id or row["claim_id"] in seen:
            continue
        approved = row.get("outcome") in ("approve", "partial")
        sharing = policy_no is None or row["policy_no"] == policy_no
        out = Decimal(0) if approved or not sharing else paid_out(row["claim_id"])
        counts_cover = approved or (out > 0 and bool(row.get("reopened") or row["status"] in UNDECIDED))
        assessment = assessed(row["claim_id"]) if counts_cover else {}
        # what the claim used of its cover: the benefit as assessed when approved in full (before the debts it
        # settled), the amount approved when a person lowered it, what went out before a decision (advances) or
        # before it was reopened
        paid = out
        if approved:
            paid = _d(assessment.get("benefit")) if row["outcome"] == "approve" and assessment \
                else _d(row["approved_amount"])
        seen[row["claim_id"]] = Prior(
            claim_id=row["claim_id"], policy_no=row["policy_no"], insured=row["insured"],
            claim_type=row["claim_type"], status=row["status"],
            reported_at=parse_timestamp(row["reported_at"], field="reported_at"),
            loss_date=date.fromisoformat(row["loss_date"]), paid=paid,
            coverages=tuple(assessment.get("coverages") or ()) if paid else (),
            policy_year_start=policy_year_start(row),
            deductible_used=_d(assessment.get("deductible_used")),
            days_paid=int(assessment.get("days_paid") or 0) if paid else 0,
            invoice_nos=tuple(invoices.get(row["claim_id"], ())), digests=tuple(digests.get(row["claim_id"], ())),
            account_digest=row.get("account_digest") or "", index=int(row["reported_idx"]))
    return list(seen.values())


def changes_of(rows: Iterable[Mapping[str, Any]]) -> list[Change]:
    """The watched servicing changes of a policy (completed requests) from the servicing read model."""
    out = []
    for row in rows:
        if row["operation"] in WATCHED and row["status"] == "completed":
            out.append(Change(operation=row["operation"], on=parse_timestamp(row["updated_at"], field="updated_at"),
                              index=int(row["updated_idx"]), request_id=row["request_id"]))
    return out


def related_rows(read: Any, *, insured: str, account_digest: str, invoice_nos: Sequence[str],
                 digests: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, list[str]], dict[str, list[str]]]:
    """The claims the fraud rules compare with: the insured's, those paid to the same account, those holding the
    same invoice numbers or document digests; with each one's invoice numbers and digests."""
    rows = read.select(proj.CLAIMS, where={"insured": insured}, order_by=("-reported_idx",), limit=PRIOR_LIMIT)
    if account_digest:
        rows += read.select(proj.CLAIMS, where={"account_digest": account_digest}, limit=PRIOR_LIMIT)
    invoices: dict[str, list[str]] = {}
    digest_map: dict[str, list[str]] = {}
    for number in invoice_nos:
        for hit in read.select(proj.INVOICES, where={"invoice_no": number}, limit=PRIOR_LIMIT):
            invoices.setdefault(hit["claim_id"], []).append(number)
    for digest in digests:
        for hit in read.select(proj.DOCUMENTS, where={"digest": digest}, limit=PRIOR_LIMIT):
            digest_map.setdefault(hit["claim_id"], []).append(digest)
    known = {row["claim_id"] for row in rows}
    for claim_id in set(invoices) | set(digest_map):
        if claim_id not in known:
            row = read.get(proj.CLAIMS, (claim_id,))
            if row is not None:
                rows.append(row)
    return rows, invoices, digest_map
