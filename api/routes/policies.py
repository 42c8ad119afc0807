"""Policies: a customer's policies, one policy, its e-policy versions and PDFs, premiums, free-look cancellation;
and the public status of a document digest."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Role
from api.bodies import json_body, request_body
from api.deps import STAFF, IdempotencyDep, PoliciesDep, PolicyReader, SystemPrincipal, listed_system, require
from api.idempotent import idempotent
from api.problems import responses
from api.routes.applications import actor_of, check_party
from api.routes.verify import DocumentProofsDep
from api.routing import Router
from api.waiting import command
from ledger.errors import NotFound, ValidationFailed
from ledger.log.identifiers import parse_timestamp, utc_timestamp
from ledger.money import Money
from ledger.policies.service import view

router = Router(tags=["policies"], responses=responses(401, 403, 404, 409, 422))
public = Router(tags=["public verification"], responses=responses(404, 422))


class PaymentIn(BaseModel):
    """A payment confirmed by the payments system, for an application or a policy."""

    model_config = ConfigDict(extra="forbid")
    application_id: str | None = None
    policy_no: str | None = None
    amount: str = Field(description="decimal string, e.g. \"1234.50\"")
    currency: str = "CNY"
    payment_ref: str = Field(min_length=1, max_length=64)
    paid_at: str = Field(min_length=20, max_length=32, description="RFC 3339 UTC time, e.g. 2026-12-01T08:00:00Z")


class ReinstatementIn(BaseModel):
    """A new, complete health declaration (the same questionnaire as at application)."""

    model_config = ConfigDict(extra="forbid")
    answers: dict[str, Any]


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="free_look", max_length=200)


@router.get("/v1/policies")
def list_policies(policies: PoliciesDep, principal: PolicyReader, status: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """A customer's policies and applications (where they are policyholder, insured or beneficiary, with their
    role); staff see all, newest first, optionally by status."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit")
    if principal.role == Role.CUSTOMER:
        rows = policies.list_for(principal.subject)
        return [_listed(row) for row in rows if status is None or row["status"] == status][:limit]
    return [_listed(row) for row in policies.list_all(status=status, limit=limit)]


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    keep: tuple[str, ...] = ("application_id", "policy_no", "status", "product_id", "product_version", "role",
                             "sum_insured",
            "currency", "modal_premium", "frequency", "next_due", "effective_date", "maturity_date",
            "epolicy_version")
    if row.get("role") == "beneficiary":
        keep = ("application_id", "policy_no", "status", "product_id", "product_version", "role")
    return {name: row.get(name) for name in keep}


def _application(policies: PoliciesDep, policy_no: str, principal: Principal, *,
                 roles: tuple[str, ...] = ("policyholder", "insured", "beneficiary")) -> tuple[str, set[str]]:
    """The application behind ``policy_no`` if the caller may see it; otherwise the same 404 as for a number
    that does not exist, so a stranger learns nothing."""
    application_id = policies.application_of(policy_no)
    try:
        held = check_party(policies, application_id, principal, roles=roles)
    except NotFound:
        raise NotFound(f"no policy {policy_no}", field="policy_no") from None
    return application_id, held


@router.get("/v1/policies/{policy_no}")
def get_policy(policies: PoliciesDep, principal: PolicyReader, policy_no: str) -> dict[str, Any]:
    """One policy: schedule, status, dates, premium, underwriting result, e-policy versions. A beneficiary sees
    only which policy it is, its product and status."""
    application_id, held = _application(policies, policy_no, principal)
    full = "staff" in held or bool(held & {"policyholder", "insured"})
    return view(policies.get(application_id), full=full)


@router.get("/v1/policies/{policy_no}/documents")
def list_documents(policies: PoliciesDep, principal: PolicyReader, policy_no: str) -> list[dict[str, Any]]:
    """The e-policy versions with digest, status (genuine / superseded / revoked) and on-chain state."""
    application_id, _ = _application(policies, policy_no, principal, roles=("policyholder", "insured"))
    return policies.documents_of(application_id)


@router.get("/v1/policies/{policy_no}/documents/{version}", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def download_document(policies: PoliciesDep, principal: PolicyReader, policy_no: str, version: int) -> Response:
    """The e-policy PDF of one version: its SHA-256 is the digest registered on chain."""
    application_id, _ = _application(policies, policy_no, principal, roles=("policyholder", "insured"))
    pdf = policies.document_pdf(application_id, version)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{policy_no}-v{version}.pdf"'})


@router.post("/v1/policies/{policy_no}/cancel", openapi_extra=request_body(CancelIn))
def cancel(request: Request, policies: PoliciesDep, idem: IdempotencyDep, policy_no: str,
           principal: Annotated[Principal, Depends(require(Role.CUSTOMER, Role.SERVICING))],
           body: Annotated[CancelIn, Depends(json_body(CancelIn))]) -> Response:
    """Cancel in the free-look period: the premium is refunded in full and the e-policy revoked on chain."""
    application_id, _ = _application(policies, policy_no, principal, roles=("policyholder",))
    return idempotent(request, idem, principal, body=body, run=lambda: view(policies.cancel_in_free_look(
        application_id, actor=actor_of(principal))))


@router.post("/v1/policies/{policy_no}/reinstatement", openapi_extra=request_body(ReinstatementIn))
def reinstatement(request: Request, policies: PoliciesDep, idem: IdempotencyDep, policy_no: str,
                  principal: Annotated[Principal, Depends(require(Role.CUSTOMER, Role.SERVICING))],
                  body: Annotated[ReinstatementIn, Depends(json_body(ReinstatementIn))]) -> Response:
    """Ask to reinstate a suspended policy within two years (IL 37). The declaration is underwritten at once;
    if accepted, ``reinstatement.total`` (premiums overdue plus interest) is due through the payments system,
    and its payment puts the policy back in force with a new e-policy version."""
    application_id, _ = _application(policies, policy_no, principal, roles=("policyholder",))

    def run() -> dict[str, Any]:
        state = policies.request_reinstatement(application_id, body.answers, actor=actor_of(principal))
        return {**view(state), "reinstatement": state.reinstatement or None}

    return idempotent(request, idem, principal, run, body=body)


@router.post("/v1/payments", status_code=201, openapi_extra=request_body(PaymentIn))
async def confirm_payment(request: Request, policies: PoliciesDep, idem: IdempotencyDep, principal: SystemPrincipal,
                    body: Annotated[PaymentIn, Depends(json_body(PaymentIn))]) -> Response:
    """A payment the payments system confirms: applied to the premium due (a first premium issues the policy)
    or parked for review with its reason; never lost."""
    listed_system(request, principal, listed="payment_systems", does="confirm payments")
    if (body.application_id is None) == (body.policy_no is None):
        raise ValidationFailed("name exactly one of application_id and policy_no", field="application_id")
    amount = Money.of(body.amount, body.currency)
    if amount.amount <= 0:
        raise ValidationFailed("amount must be more than zero", field="amount")
    paid_at = utc_timestamp(parse_timestamp(body.paid_at, field="paid_at"))
    reference = body.application_id or body.policy_no or ""

    def run() -> dict[str, Any]:
        try:
            application_id = body.application_id or policies.application_of(body.policy_no or "")
            policies.get(application_id)
        except NotFound:
            reason = f"no application or policy {reference}"
            policies.park_unmatched(reference=reference, amount=amount, payment_ref=body.payment_ref,
                                    paid_at=paid_at, actor=actor_of(principal), reason=reason)
            return {"outcome": "parked", "reason": reason, "policy": None}
        state, outcome = policies.pay(application_id, amount=amount, payment_ref=body.payment_ref,
                                      paid_at=paid_at, actor=actor_of(principal))
        return {"outcome": outcome, "policy": view(state)}

    return await command(idempotent, request, idem, principal, run, body=body, status=201)


@router.get("/v1/staff/notices", tags=["policies"])
def notices(request: Request, principal: Annotated[Principal, Depends(require(*STAFF, Role.SYSTEM))],
            limit: int = 100) -> list[dict[str, Any]]:
    """Notices waiting for the messaging system (renewal, grace, suspension), oldest first: for staff and the
    messaging systems (``LIFELEDGER_MESSAGING_SYSTEMS``), no other system."""
    if principal.role == Role.SYSTEM:
        listed_system(request, principal, listed="messaging_systems", does="deliver messages")
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit")
    return request.app.state.ledger.notices.pending(limit=limit)  # type: ignore[no-any-return]


@router.get("/v1/staff/payments/parked", tags=["policies"])
def parked_payments(policies: PoliciesDep, _: Annotated[Principal, Depends(require(*STAFF))],
                    limit: int = 100) -> list[dict[str, Any]]:
    """Payments parked for review, newest first: each with its reason (wrong amount, nothing due, a reference
    recorded before, no such application or policy)."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit")
    return policies.parked_payments(limit=limit)


@public.get("/v1/documents/{digest}")
def document_status(proofs: DocumentProofsDep, digest: str) -> dict[str, Any]:
    """Public: is this document genuine, superseded (by which version, since when), revoked (why) or unknown, what
    it is (an e-policy: product, version, issue date, the policy number starred but for its last four) and where
    it is registered on chain. No personal data; nothing is answered by policy number. ``/proof`` adds the
    material to check this without trusting the service (docs/VERIFY.md)."""
    try:
        return proofs.status(digest)
    except NotFound:
        return {"digest": digest, "status": "unknown", "chain": []}
