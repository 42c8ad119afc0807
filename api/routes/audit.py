"""The auditor's routes: a claim's or a policy's trail and evidence bundle, and the grants that open payloads.

Every trail and bundle read is recorded in the journal before it is answered (``audit.trail.read`` on the
auditor's stream), so access is itself auditable; administrators record and revoke grants, and read any
auditor's history of grants and reads.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Role
from api.bodies import json_body, request_body
from api.deps import IdempotencyDep, require
from api.idempotent import idempotent
from api.problems import responses
from api.routing import Router
from ledger.errors import Forbidden, ValidationFailed
from ledger.log.identifiers import check_subject
from ledger.verify.trail import Actor, TrailService

router = Router(tags=["audit"], responses=responses(401, 403, 404, 409, 422))

Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
AdminOrAuditor = Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))]
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")
NO_STORE = "no-store"  # trails and bundles may hold medical and personal data: no cache keeps them
SUBJECT_PATTERN = r"^(\*|claim:[A-Za-z0-9._:-]{1,128}|policy:[A-Za-z0-9._:-]{1,128})$"


async def get_trails(request: Request) -> TrailService:
    return request.app.state.ledger.trails  # type: ignore[no-any-return]


TrailsDep = Annotated[TrailService, Depends(get_trails)]


class GrantIn(BaseModel):
    """A grant opening medical and/or personal data of some subjects (or ``*``) to one auditor."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"openings": ["medical"], "subjects": ["claim:C0123456789ABCDEF0123"], "until": "2027-03-31",
         "reason": "CBIRC inspection 2026-17: medical review of death claims"}]})
    openings: list[Literal["medical", "personal"]] = Field(min_length=1, max_length=2)
    subjects: list[Annotated[str, Field(pattern=SUBJECT_PATTERN)]] = Field(
        min_length=1, max_length=100, description="claim:<claim id>, policy:<policy no>, or * for every subject")
    until: date | None = Field(default=None, description="last day the grant holds (inclusive); none: until "
                                                         "revoked")
    reason: str = Field(min_length=1, max_length=500)


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


def _auditor(auditor: str) -> str:
    return check_subject(auditor, field="auditor")


def _actor(principal: Principal) -> Actor:
    return Actor(role=principal.role.value, party=principal.subject)


def _attachment(bundle: dict[str, Any], name: str) -> Response:
    body = json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode()
    filename = _UNSAFE_FILENAME.sub("_", name)
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.bundle.json"',
                             "Cache-Control": NO_STORE})


@router.get("/v1/audit/claims/{claim_id}/trail")
def claim_trail(trails: TrailsDep, principal: Auditor, claim_id: str, response: Response) -> dict[str, Any]:
    """Every entry of the claim and of what touches it (its evidence, documents, the contract changes it caused,
    the e-policy, the insured's record), in log order, each with its index, type, time, signer key, the rule and
    table versions its facts cite, its inclusion proof in the latest checkpoint, and what the caller's grants
    open of its payload. The read is recorded in the journal first."""
    response.headers["Cache-Control"] = NO_STORE
    return trails.claim_trail(claim_id, auditor=principal.subject)


@router.get("/v1/audit/policies/{policy_no}/trail")
def policy_trail(trails: TrailsDep, principal: Auditor, policy_no: str, response: Response) -> dict[str, Any]:
    """As the claim trail, for a policy: its contract, e-policy versions, servicing requests, claims and parties."""
    response.headers["Cache-Control"] = NO_STORE
    return trails.policy_trail(policy_no, auditor=principal.subject)


@router.get("/v1/audit/claims/{claim_id}/bundle")
def claim_bundle(trails: TrailsDep, principal: Auditor, claim_id: str) -> Response:
    """The claim's evidence bundle (format ``lifeledger-evidence-bundle/1``, docs/FORMATS.md): one JSON file that
    ``lifeledger verify-bundle`` (or ``python ledger/verify/offline.py``) checks with no access to this service."""
    return _attachment(trails.claim_bundle(claim_id, auditor=principal.subject), f"claim-{claim_id}")


@router.get("/v1/audit/policies/{policy_no}/bundle")
def policy_bundle(trails: TrailsDep, principal: Auditor, policy_no: str) -> Response:
    """The policy's evidence bundle."""
    return _attachment(trails.policy_bundle(policy_no, auditor=principal.subject), f"policy-{policy_no}")


@router.post("/v1/audit/auditors/{auditor}/grants", status_code=201, openapi_extra=request_body(GrantIn))
def grant(request: Request, trails: TrailsDep, idem: IdempotencyDep, principal: Admin, auditor: str,
          body: Annotated[GrantIn, Depends(json_body(GrantIn))]) -> Response:
    """Open medical and/or personal data of the named subjects to an auditor (recorded in the journal)."""
    name = _auditor(auditor)
    return idempotent(request, idem, principal, body=body, status=201, run=lambda: trails.grant(
        name, openings=body.openings, subjects=body.subjects, until=body.until, reason=body.reason,
        actor=_actor(principal)).to_json())


@router.post("/v1/audit/auditors/{auditor}/grants/{grant_id}/revoke", openapi_extra=request_body(RevokeIn))
def revoke(request: Request, trails: TrailsDep, idem: IdempotencyDep, principal: Admin, auditor: str,
           grant_id: str, body: Annotated[RevokeIn, Depends(json_body(RevokeIn))]) -> Response:
    """End a grant now (recorded in the journal)."""
    name = _auditor(auditor)
    return idempotent(request, idem, principal, body=body, run=lambda: trails.revoke(
        name, grant_id, reason=body.reason, actor=_actor(principal)).to_json())


@router.get("/v1/audit/auditors/{auditor}")
def access(trails: TrailsDep, principal: AdminOrAuditor, auditor: str, limit: int = 100) -> dict[str, Any]:
    """An auditor's grants and their recorded reads, newest first: for administrators, and for the auditor
    themselves."""
    name = _auditor(auditor)
    if principal.role is Role.AUDITOR and principal.subject != name:
        raise Forbidden("an auditor reads only their own grants and reads", field="auditor")
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit")
    state = trails.access(name)
    return {"auditor": name, "grants": [g.to_json() for g in state.grants], "reads_recorded": state.reads,
            "reads": trails.reads(name, limit=limit)}
