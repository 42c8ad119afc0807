"""Applications: paperless application, the smart health questionnaire, and the underwriter's queue."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Role
from api.bodies import json_body, request_body
from api.deps import STAFF, ApplicantPrincipal, IdempotencyDep, PoliciesDep, UnderwriterPrincipal, require
from api.idempotent import idempotent
from api.problems import responses
from api.routes.products import PlanIn
from api.routing import Router
from api.waiting import command
from ledger.errors import Forbidden, ValidationFailed
from ledger.log.identifiers import check_subject
from ledger.parties.service import Person
from ledger.policies.service import Actor, ApplicationRequest, Beneficiary, PolicyService, view

router = Router(tags=["applications and underwriting"], responses=responses(401, 403, 404, 409, 422))


class PersonIn(BaseModel):
    """A person: name and resident identity number (the insured's age and sex are read from it)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=1, max_length=32)
    phone: str = Field(default="", max_length=32)
    email: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=200)


class BeneficiaryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person: PersonIn
    share: Decimal = Field(gt=0, le=100, description="percent; the shares of all beneficiaries add up to 100")


class Consent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    terms_read: bool
    insured_consents: bool = Field(description="the insured agrees to the contract and the sum (IL 34)")


class ApplicationCreate(BaseModel):
    """A paperless application. ``beneficiaries`` empty means the legal heirs. ``answers`` may start the health
    declaration; the rest is answered through ``/questionnaire``."""

    model_config = ConfigDict(extra="forbid")
    product_id: str
    plan: PlanIn
    policyholder: PersonIn
    insured: PersonIn | None = Field(default=None, description="omit when the policyholder insures themself")
    relationship: str = Field(default="self", max_length=32)
    beneficiaries: list[BeneficiaryIn] = Field(default_factory=list, max_length=10)
    occupation_class: int = Field(default=1, ge=1, le=6)
    payment_account: str = Field(min_length=4, max_length=64)
    identity_documents: list[str] = Field(default_factory=list, max_length=10)
    consent: Consent
    policyholder_party: str | None = Field(default=None, description="staff applying for an existing customer")
    authorization: str | None = Field(default=None, description="staff only: the sha256 digest of the customer's "
                                                                 "signed authorisation, uploaded first")
    answers: dict[str, Any] = Field(default_factory=dict)


class AnswersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: dict[str, Any]


class ExclusionIn(BaseModel):
    """An exclusion as the e-policy prints it: a code and the condition or body part in both languages."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")
    zh: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class DecisionIn(BaseModel):
    """An underwriter's action on a referred application, with a reason."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["accept", "counter_offer", "request_evidence", "postpone", "decline"]
    reason: str = Field(min_length=1, max_length=500)
    extra_premium_pct: Decimal = Field(default=Decimal(0), ge=0, le=400)
    exclusions: list[ExclusionIn] = Field(default_factory=list, max_length=10)
    postpone_months: int | None = Field(default=None, ge=1, le=60)
    evidence: str = Field(default="", max_length=500)


class OfferAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accept: bool
    reason: str = Field(default="", max_length=500)


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[str] = Field(min_length=1, max_length=10)


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)


def actor_of(principal: Principal) -> Actor:
    return Actor(role=principal.role.value, party=principal.subject)


def check_party(policies: PolicyService, application_id: str, principal: Principal, *,
                roles: tuple[str, ...] = ("policyholder", "insured")) -> set[str]:
    """Object-level authorization: staff see every application; a customer only those they are a party to, in
    one of ``roles``. Anyone else gets 404, so an id tells a stranger nothing."""
    if principal.role != Role.CUSTOMER:
        return {"staff"}
    held = policies.roles(application_id, principal.subject)
    if not held & set(roles):
        from ledger.errors import NotFound

        raise NotFound(f"no application {application_id}", field="application_id")
    return held


def _person(raw: PersonIn, *, field: str, policies: PolicyService) -> Person:
    return Person.parse(raw.model_dump(), field=field, today=policies.today())


@router.post("/v1/applications", status_code=201, openapi_extra=request_body(ApplicationCreate))
async def submit(request: Request, policies: PoliciesDep, idem: IdempotencyDep, principal: ApplicantPrincipal,
           body: Annotated[ApplicationCreate, Depends(json_body(ApplicationCreate))]) -> Response:
    """Apply for a policy: the people are checked (identity numbers, ages) and sealed under their own keys, the
    plan is priced, and any answers given start the declaration. Takes ``Idempotency-Key``."""

    def run() -> dict[str, Any]:
        if principal.role == Role.CUSTOMER:
            if body.policyholder_party not in (None, principal.subject):
                raise Forbidden("a customer applies as the policyholder themself", field="policyholder_party")
            holder_id = principal.subject
        else:
            if body.policyholder_party is None:
                raise ValidationFailed("staff name the customer they act for: policyholder_party (an existing "
                                       "party id, or a new one from GET /v1/parties:new-id), under which the "
                                       "customer's signed authorisation is uploaded", field="policyholder_party")
            holder_id = check_subject(body.policyholder_party, field="policyholder_party")
        request_ = ApplicationRequest(
            product_id=body.product_id, plan=body.plan.model_dump(),
            policyholder=_person(body.policyholder, field="policyholder", policies=policies),
            insured=_person(body.insured, field="insured", policies=policies) if body.insured else None,
            relationship=body.relationship,
            beneficiaries=tuple(Beneficiary(_person(b.person, field=f"beneficiaries[{n}].person", policies=policies),
                                            b.share) for n, b in enumerate(body.beneficiaries)),
            occupation_class=body.occupation_class, payment_account=body.payment_account,
            identity_documents=tuple(body.identity_documents), consent=body.consent.model_dump(),
            answers=body.answers, authorization=body.authorization,
            channel="online" if principal.role == Role.CUSTOMER else "assisted")
        return view(policies.apply(request_, actor=actor_of(principal), policyholder_id=holder_id))

    return await command(idempotent, request, idem, principal, run, body=body, status=201)


@router.get("/v1/parties:new-id")
def new_party_id(policies: PoliciesDep, _: Annotated[Principal, Depends(require(*STAFF))]) -> dict[str, str]:
    """A fresh party id for a customer staff are about to register (the id is theirs once an application names
    it as the policyholder; nothing is recorded now)."""
    return {"party_id": policies.new_party_id()}


@router.get("/v1/applications/{application_id}")
def get_application(policies: PoliciesDep, application_id: str,
                    principal: Principal = Depends(require(Role.CUSTOMER, *STAFF))) -> dict[str, Any]:  # noqa: B008
    """The application (or the policy it became) with its underwriting result and reasons."""
    check_party(policies, application_id, principal)
    return view(policies.get(application_id))


@router.get("/v1/applications/{application_id}/questionnaire")
def get_questionnaire(policies: PoliciesDep, application_id: str,
                      principal: Principal = Depends(require(Role.CUSTOMER, Role.SERVICING, Role.UNDERWRITER)),  # noqa: B008
                      ) -> dict[str, Any]:
    """The next questions to answer, given the answers so far (only those that apply)."""
    check_party(policies, application_id, principal)
    return policies.questionnaire(application_id)


@router.post("/v1/applications/{application_id}/questionnaire", openapi_extra=request_body(AnswersIn))
def answer_questionnaire(request: Request, policies: PoliciesDep, idem: IdempotencyDep, application_id: str,
                         principal: ApplicantPrincipal,
                         body: Annotated[AnswersIn, Depends(json_body(AnswersIn))]) -> Response:
    """Record answers; when the declaration is complete the application is underwritten at once."""
    check_party(policies, application_id, principal)

    def run() -> dict[str, Any]:
        state = policies.answer(application_id, body.answers, actor=actor_of(principal))
        return {**view(state), "questionnaire": policies.questionnaire(application_id)}

    return idempotent(request, idem, principal, run, body=body)


@router.post("/v1/applications/{application_id}/offer", openapi_extra=request_body(OfferAnswer))
def answer_offer(request: Request, policies: PoliciesDep, idem: IdempotencyDep, application_id: str,
                 principal: ApplicantPrincipal,
                 body: Annotated[OfferAnswer, Depends(json_body(OfferAnswer))]) -> Response:
    """Accept or refuse cover on changed terms (an extra premium or an exclusion)."""
    check_party(policies, application_id, principal, roles=("policyholder",))
    return idempotent(request, idem, principal, body=body, run=lambda: view(policies.respond_to_offer(
        application_id, accept=body.accept, reason=body.reason, actor=actor_of(principal))))


@router.post("/v1/applications/{application_id}/evidence", openapi_extra=request_body(EvidenceIn))
def provide_evidence(request: Request, policies: PoliciesDep, idem: IdempotencyDep, application_id: str,
                     principal: ApplicantPrincipal,
                     body: Annotated[EvidenceIn, Depends(json_body(EvidenceIn))]) -> Response:
    """Provide the evidence an underwriter asked for (uploads by digest); the application returns to the queue."""
    check_party(policies, application_id, principal)
    return idempotent(request, idem, principal, body=body, run=lambda: view(policies.provide_evidence(
        application_id, body.documents, actor=actor_of(principal))))


@router.post("/v1/applications/{application_id}/withdraw", openapi_extra=request_body(WithdrawIn))
def withdraw(request: Request, policies: PoliciesDep, idem: IdempotencyDep, application_id: str,
             principal: ApplicantPrincipal,
             body: Annotated[WithdrawIn, Depends(json_body(WithdrawIn))]) -> Response:
    check_party(policies, application_id, principal, roles=("policyholder",))
    return idempotent(request, idem, principal, body=body, run=lambda: view(policies.withdraw(
        application_id, reason=body.reason, actor=actor_of(principal))))


@router.get("/v1/underwriting/queue")
def underwriting_queue(policies: PoliciesDep, _: UnderwriterPrincipal, limit: int = 100) -> list[dict[str, Any]]:
    """Applications referred to an underwriter, and those waiting for evidence, oldest first."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit")
    return policies.queue(limit=limit)


@router.post("/v1/applications/{application_id}/decision", openapi_extra=request_body(DecisionIn))
def decide_application(request: Request, policies: PoliciesDep, idem: IdempotencyDep, application_id: str,
                       principal: UnderwriterPrincipal,
                       body: Annotated[DecisionIn, Depends(json_body(DecisionIn))]) -> Response:
    """Accept, counter-offer (rating or exclusion), request evidence, postpone or decline, with a reason."""
    return idempotent(request, idem, principal, body=body, run=lambda: view(policies.underwrite(
        application_id, action=body.action, reason=body.reason, actor=actor_of(principal),
        extra_premium_pct=body.extra_premium_pct, exclusions=[x.model_dump() for x in body.exclusions],
        postpone_months=body.postpone_months, evidence=body.evidence)))
