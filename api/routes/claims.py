"""Claims: report and follow a claim (customers, on their own policies), the staff queues and decisions, signed
e-invoices from hospitals and settlements from the payments system, receipts, and the KPIs from the journal."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Role
from api.bodies import json_body, parsed_body, request_body
from api.deps import AnchoringDep, IdempotencyDep, LogDep, listed_system, require
from api.idempotent import idempotent
from api.problems import responses
from api.receipts import anchor_proof, entry_receipts
from api.routing import Router
from api.schemas import EventCreate
from ledger.claims.service import Caller, ClaimsService
from ledger.errors import NotFound, ValidationFailed
from ledger.log.encoding import b64
from ledger.log.statements import SignedEvent
from ledger.money import Money

router = Router(tags=["claims"], responses=responses(401, 403, 404, 409, 422))


async def get_claims(request: Request) -> ClaimsService:
    return request.app.state.ledger.claims  # type: ignore[no-any-return]


ClaimsDep = Annotated[ClaimsService, Depends(get_claims)]
Reporter = Annotated[Principal, Depends(require(Role.CUSTOMER, Role.ADJUSTER, Role.CLAIMS_HANDLER))]
# Auditors read claims through /v1/audit/claims/{id}/trail, where their grant decides what opens and the read is
# recorded; the KPIs (figures and entry indexes, no payloads) are open to them here.
Reader = Annotated[Principal, Depends(require(Role.CUSTOMER, Role.ADJUSTER, Role.CLAIMS_HANDLER))]
Customer = Annotated[Principal, Depends(require(Role.CUSTOMER))]
Staff = Annotated[Principal, Depends(require(Role.ADJUSTER, Role.CLAIMS_HANDLER))]
Handler = Annotated[Principal, Depends(require(Role.CLAIMS_HANDLER))]
System = Annotated[Principal, Depends(require(Role.SYSTEM))]
KpiReader = Annotated[Principal, Depends(require(Role.ADJUSTER, Role.CLAIMS_HANDLER, Role.AUDITOR))]


def caller(principal: Principal) -> Caller:
    return Caller(role=principal.role.value, subject=principal.subject)


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bank: str = Field(min_length=1, max_length=64)
    number: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)


class ClaimCreate(BaseModel):
    """First notice of loss. Staff name the customer they report for (``on_behalf_of``)."""

    model_config = ConfigDict(extra="forbid")
    policy_no: str = Field(min_length=1, max_length=32)
    claim_type: str = Field(description="medical | hospital_allowance | critical_illness | death | disability | "
                                        "accident")
    cause: str | None = Field(default=None, description="illness | accident (default by claim type)")
    loss_date: str = Field(description="YYYY-MM-DD")
    description: str = Field(default="", max_length=2000)
    account: Account | None = None
    documents: dict[str, str] = Field(default_factory=dict, max_length=20, description="code -> upload digest")
    on_behalf_of: str | None = Field(default=None, max_length=64)


class DocumentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: dict[str, str] = Field(min_length=1, max_length=20)


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=3, max_length=8)
    since: str


class InvoiceIn(BaseModel):
    """An invoice keyed by staff from an uploaded picture (``digest``)."""

    model_config = ConfigDict(extra="forbid")
    digest: str
    invoice_no: str = Field(min_length=1, max_length=64)
    hospital: str = Field(min_length=1, max_length=64)
    admitted: str | None = None
    discharged: str | None = None
    total: str
    ineligible: str = "0"
    social_insurance_paid: str = "0"
    categories: dict[str, str] = Field(default_factory=dict, max_length=30)
    currency: str = "CNY"
    diagnoses: list[str] = Field(default_factory=list, max_length=20)
    history: list[HistoryItem] = Field(default_factory=list, max_length=20)


class MedicalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    diagnoses: list[str] = Field(default_factory=list, max_length=20)
    history: list[HistoryItem] = Field(default_factory=list, max_length=20)
    illness_group: str | None = None
    disability_grade: int | None = None
    death_date: str | None = None
    death_cause: str | None = None
    exclusion_facts: list[str] = Field(default_factory=list, max_length=10)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(pattern=r"^(approve|adjust|decline|request_documents)$")
    reason: str = Field(default="", max_length=1000)
    reason_zh: str = Field(default="", max_length=1000)
    clause: str = Field(default="", max_length=200, description="the clause a decline or adjustment quotes")
    amount: str | None = None
    documents: list[str] = Field(default_factory=list, max_length=20)
    assessment_entry: int | None = Field(default=None, ge=0, description="the assessment entry decided on (the "
                                         "claim's assessment.entry); refused if the claim was assessed again since")


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: str
    reason: str = Field(min_length=1, max_length=500)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern=r"^(contact|progress|assistance)$")
    text: str = Field(min_length=1, max_length=2000)
    next_step_by: str | None = None


class FlagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: str = Field(min_length=1, max_length=64)
    confirmed: bool
    note: str = Field(default="", max_length=1000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
    documents: list[str] = Field(default_factory=list, max_length=20)


class SignedFingerprint(BaseModel):
    """What an idempotent retry of a signed posting is compared on."""

    event_id: str
    payload_hash: str


def _fingerprint(event: SignedEvent) -> SignedFingerprint:
    return SignedFingerprint(event_id=event.statement.event_id, payload_hash=b64(event.statement.payload_hash))


@router.post("/v1/claims", status_code=201, openapi_extra=request_body(ClaimCreate))
def report(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Reporter,
           body: Annotated[ClaimCreate, Depends(json_body(ClaimCreate))]) -> Response:
    """Report a claim (first notice of loss) on a policy where the caller holds a role; the answer carries the
    whole document checklist at once. Documents given with the report are taken in the same call."""
    raw = body.model_dump(exclude_none=True)
    raw["account"] = body.account.model_dump() if body.account else None

    def run() -> dict[str, Any]:
        state = claims.report(body.policy_no, raw, caller(principal), on_behalf_of=body.on_behalf_of)
        try:
            return claims.view(state.claim_id, caller(principal))
        except NotFound:  # recorded, but not the reporter's to follow (a handler's report of a claim not major)
            return claims.summary(state)

    return idempotent(request, idem, principal, run, body=body, status=201)


@router.post("/v1/claims/notices", status_code=201, openapi_extra=request_body(EventCreate))
def notice(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: System,
           event: Annotated[SignedEvent, Depends(parsed_body(EventCreate, SignedEvent.from_json))]) -> Response:
    """A hospital or medical-data platform's first notice of loss: its signed ``medical.claim.notified`` event
    (policy_no, claim_type, cause, loss_date, hospital; the description as a personal field), recorded as signed
    and reported for the insured. The answer is the claim's status and checklist."""
    return idempotent(request, idem, principal, body=_fingerprint(event), status=201, run=lambda: _view(
        claims, claims.report_signed(event, system=principal.subject).claim_id, principal))


@router.get("/v1/claims")
def list_claims(claims: ClaimsDep, principal: Reader, policy_no: str | None = None) -> list[dict[str, Any]]:
    """Claims on a policy (``?policy_no=``), or a customer's own claims (as insured or reporter)."""
    if policy_no is not None:
        return claims.list_for_policy(policy_no, caller(principal))
    if principal.role != Role.CUSTOMER:
        raise ValidationFailed("policy_no is required for staff (or use /v1/claims/queue)", field="policy_no")
    return claims.list_for_party(principal.subject)


@router.get("/v1/claims/queue")
def queue(claims: ClaimsDep, principal: Staff, kind: str = "review") -> list[dict[str, Any]]:
    """Staff work, oldest clock first: ``review`` (fast-track and standard claims under review), ``major`` (major
    claims waiting for a handler), ``mine`` (a handler's own claims), ``keying`` (invoices and medical facts to
    key), ``payments`` (failed payments)."""
    return claims.queue(caller(principal), kind=kind)


@router.get("/v1/claims/due-soon")
def due_soon(claims: ClaimsDep, principal: Staff) -> list[dict[str, Any]]:
    """Open claims whose statutory or service deadline is due soon or already breached, most urgent first (a
    handler's: their own claims and the major claims no handler has taken)."""
    return claims.due_soon(caller(principal))


@router.get("/v1/claims/payments/pending")
def pending_payments(request: Request, claims: ClaimsDep, principal: System, limit: int = 100) -> list[dict[str, Any]]:
    """Payment instructions for the payments system (with the account to pay), oldest first."""
    _payments_system(request, principal)
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit")
    return claims.pending_payments(limit=limit)


@router.get("/v1/claims/{claim_id}")
def get_claim(claims: ClaimsDep, principal: Reader, claim_id: str) -> dict[str, Any]:
    """The claim as the caller may see it: status, what comes next and from whom, the clocks with their
    deadlines, the assessment and decision with reasons, the payments, and the timeline."""
    return claims.view(claim_id, caller(principal))


@router.get("/v1/claims/{claim_id}/timeline")
def timeline(claims: ClaimsDep, principal: Reader, claim_id: str) -> dict[str, Any]:
    """The claim's timeline in plain language (Chinese and English) and what comes next."""
    view = claims.view(claim_id, caller(principal))
    return {"claim_id": claim_id, "status": view["status"], "next": view["next"], "timeline": view["timeline"],
            "notes": view.get("notes", [])}


@router.get("/v1/claims/{claim_id}/receipt")
def receipt(claims: ClaimsDep, log: LogDep, anchoring: AnchoringDep, principal: Reader,
            claim_id: str) -> dict[str, Any]:
    """Every event of the claim with its inclusion proof, and the anchor proof of the latest once anchored;
    ``scripts/check_log.py --receipt`` checks it with RFC 9162 and C2SP alone."""
    state, _ = claims.visible(claim_id, caller(principal))
    receipts = entry_receipts(log, claims.event_ids(claim_id))
    return {"format": "lifeledger-claim-receipt/1", "claim_id": claim_id,
            "claim_type": state.reported["claim_type"], "status": state.status,
            "origin": log.origin, "vkey": log.vkey, "receipts": receipts,
            "anchor": anchor_proof(anchoring, receipts[-1]["entry"]["index"])}


@router.post("/v1/claims/{claim_id}/documents", openapi_extra=request_body(DocumentsIn))
def documents(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Reporter, claim_id: str,
              body: Annotated[DocumentsIn, Depends(json_body(DocumentsIn))]) -> Response:
    """Documents on the checklist (code -> upload digest); a complete claim is assessed at once."""
    return idempotent(request, idem, principal, body=body, run=lambda: _view(
        claims, claims.give_documents(claim_id, body.documents, caller(principal)).claim_id, principal))


@router.post("/v1/claims/{claim_id}/invoices", openapi_extra=request_body(EventCreate))
def hospital_invoice(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: System, claim_id: str,
                     event: Annotated[SignedEvent, Depends(parsed_body(EventCreate, SignedEvent.from_json))]
                     ) -> Response:
    """A hospital's signed e-invoice with its discharge summary (``medical.invoice.issued``, signed with the
    hospital system's registered key): recorded as signed, then taken into the claim."""
    return idempotent(request, idem, principal, body=_fingerprint(event), run=lambda: _view(
        claims, claims.receive_invoice(claim_id, event, system=principal.subject).claim_id, principal))


@router.post("/v1/claims/{claim_id}/invoices/keyed", openapi_extra=request_body(InvoiceIn))
def keyed_invoice(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Staff, claim_id: str,
                  body: Annotated[InvoiceIn, Depends(json_body(InvoiceIn))]) -> Response:
    """An adjuster keys an uploaded invoice picture: the numbers come from a person, never from the picture."""
    raw = body.model_dump()
    return idempotent(request, idem, principal, body=body, run=lambda: _view(
        claims, claims.key_invoice(claim_id, raw, caller(principal)).claim_id, principal))


@router.post("/v1/claims/{claim_id}/medical", openapi_extra=request_body(MedicalIn))
def medical(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Staff, claim_id: str,
            body: Annotated[MedicalIn, Depends(json_body(MedicalIn))]) -> Response:
    """The medical facts keyed from the documents (diagnoses, history, disability grade, death)."""
    raw = body.model_dump(exclude_none=True)
    return idempotent(request, idem, principal, body=body, run=lambda: _view(
        claims, claims.key_medical(claim_id, raw, caller(principal)).claim_id, principal))


@router.post("/v1/claims/{claim_id}/decision", openapi_extra=request_body(DecisionIn))
def decision(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Staff, claim_id: str,
             body: Annotated[DecisionIn, Depends(json_body(DecisionIn))]) -> Response:
    """Approve the assessed amount, adjust it (reason), decline (reason, clause), or request documents (every
    missing item in one notice)."""
    amount = Money.of(body.amount, "CNY", field="amount") if body.amount is not None else None
    return idempotent(request, idem, principal, body=body, run=lambda: _view(claims, claims.decide(
        claim_id, action=body.action, caller=caller(principal), reason=body.reason, reason_zh=body.reason_zh,
        clause=body.clause, amount=amount, documents=body.documents, seen=body.assessment_entry).claim_id,
        principal))


@router.post("/v1/claims/{claim_id}/advance", openapi_extra=request_body(AdvanceIn))
def advance(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Staff, claim_id: str,
            body: Annotated[AdvanceIn, Depends(json_body(AdvanceIn))]) -> Response:
    """An advance payment of the part already certain (IL 25)."""
    amount = Money.of(body.amount, "CNY", field="amount")
    return idempotent(request, idem, principal, body=body, run=lambda: _view(claims, claims.advance(
        claim_id, amount, reason=body.reason, caller=caller(principal)).claim_id, principal))


@router.post("/v1/claims/{claim_id}/payments", openapi_extra=request_body(EventCreate))
def settlement(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: System, claim_id: str,
               event: Annotated[SignedEvent, Depends(parsed_body(EventCreate, SignedEvent.from_json))]) -> Response:
    """The payments system's signed settlement (``payments.claim.settled``: paid, or failed with the reason)."""
    _payments_system(request, principal)
    return idempotent(request, idem, principal, body=_fingerprint(event), run=lambda: _view(
        claims, claims.settle(claim_id, event, system=principal.subject).claim_id, principal))


@router.post("/v1/claims/{claim_id}/account", openapi_extra=request_body(Account))
def account(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Customer, claim_id: str,
            body: Annotated[Account, Depends(json_body(Account))]) -> Response:
    """The payee's new account (a failed payment is instructed again to it)."""
    return idempotent(request, idem, principal, body=body, run=lambda: _view(
        claims, claims.change_account(claim_id, body.model_dump(), caller(principal)).claim_id, principal))


@router.post("/v1/claims/{claim_id}/notes", openapi_extra=request_body(NoteIn))
def note(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Staff, claim_id: str,
         body: Annotated[NoteIn, Depends(json_body(NoteIn))]) -> Response:
    """A contact, a progress note (what was done, what is next, by when) or assistance given; the customer sees
    it in the timeline."""
    return idempotent(request, idem, principal, body=body, run=lambda: _view(claims, claims.note(
        claim_id, kind=body.kind, text=body.text, next_step_by=body.next_step_by, caller=caller(principal)
    ).claim_id, principal))


@router.post("/v1/claims/{claim_id}/flags", openapi_extra=request_body(FlagIn))
def resolve_flag(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Staff, claim_id: str,
                 body: Annotated[FlagIn, Depends(json_body(FlagIn))]) -> Response:
    """An investigator's finding on a flag: confirmed or cleared."""
    return idempotent(request, idem, principal, body=body, run=lambda: _view(claims, claims.resolve_flag(
        claim_id, rule=body.rule, confirmed=body.confirmed, note=body.note, caller=caller(principal)).claim_id,
        principal))


@router.post("/v1/claims/{claim_id}/take")
def take(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Handler, claim_id: str) -> Response:
    """A handler takes a major claim that has none."""
    return idempotent(request, idem, principal, run=lambda: _view(
        claims, claims.take(claim_id, caller(principal)).claim_id, principal))


@router.post("/v1/claims/{claim_id}/reopen", openapi_extra=request_body(ReasonIn))
def reopen(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Staff, claim_id: str,
           body: Annotated[ReasonIn, Depends(json_body(ReasonIn))]) -> Response:
    """Reopen a decided claim (new documents named in ``documents`` are asked for)."""
    return idempotent(request, idem, principal, body=body, run=lambda: _view(claims, claims.reopen(
        claim_id, reason=body.reason, documents=body.documents, caller=caller(principal)).claim_id, principal))


@router.post("/v1/claims/{claim_id}/appeal", openapi_extra=request_body(ReasonIn))
def appeal(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Customer, claim_id: str,
           body: Annotated[ReasonIn, Depends(json_body(ReasonIn))]) -> Response:
    """Appeal a decline: a handler who did not decide it reviews it again."""
    return idempotent(request, idem, principal, body=body, run=lambda: _view(claims, claims.appeal(
        claim_id, reason=body.reason, caller=caller(principal)).claim_id, principal))


@router.post("/v1/claims/{claim_id}/close", openapi_extra=request_body(ReasonIn))
def close(request: Request, claims: ClaimsDep, idem: IdempotencyDep, principal: Staff, claim_id: str,
          body: Annotated[ReasonIn, Depends(json_body(ReasonIn))]) -> Response:
    """Close a declined claim (or one abandoned before its documents came)."""
    return idempotent(request, idem, principal, body=body, run=lambda: _view(claims, claims.close(
        claim_id, reason=body.reason, caller=caller(principal)).claim_id, principal))


@router.get("/v1/kpis")
def kpis(claims: ClaimsDep, _: KpiReader, from_: Annotated[str, Query(alias="from")] = "",
         to: str = "") -> dict[str, Any]:
    """Service KPIs from the journal for claims completed in [from, to] (YYYY-MM-DD): each figure names the
    entries it was computed from, so an auditor can recompute it."""
    start = _day(from_, "from")
    end = _day(to, "to")
    if end < start:
        raise ValidationFailed("to is before from", field="to")
    return claims.kpis(start=start, end=end)


def _day(value: str, name: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date YYYY-MM-DD, got {value!r}", field=name) from None
    if not KPI_YEARS[0] <= day.year <= KPI_YEARS[1]:
        raise ValidationFailed(f"{name} must be a date in the years {KPI_YEARS[0]}-{KPI_YEARS[1]}, got {value!r}",
                               field=name)
    return day


KPI_YEARS = (1970, 9998)  # the journal's times are after 1970; the period's bounds must stay representable


def _view(claims: ClaimsService, claim_id: str, principal: Principal) -> dict[str, Any]:
    return claims.view(claim_id, caller(principal))


def _payments_system(request: Request, principal: Principal) -> None:
    listed_system(request, principal, listed="payment_systems", does="settle payments")
