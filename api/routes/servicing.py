"""Public routes for the servicing catalog: the operations a customer can request on a policy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.problems import responses
from ledger.servicing.service import ServicingService

router = APIRouter(tags=["servicing"])


async def get_servicing(request: Request) -> ServicingService:
    return request.app.state.ledger.servicing  # type: ignore[no-any-return]


ServicingDep = Annotated[ServicingService, Depends(get_servicing)]


@router.get("/v1/servicing/operations")
def list_operations(servicing: ServicingDep) -> dict[str, Any]:
    """The servicing catalog (no token needed): its id, version and digest, and every operation with who may ask
    for it, consents, documents, eligibility rules, whether it changes the contract, its money and its risk."""
    return {"catalog": servicing.catalog_version(), "operations": servicing.operations()}


@router.get("/v1/servicing/operations/{code}", responses=responses(404))
def get_operation(servicing: ServicingDep, code: str) -> dict[str, Any]:
    """One operation of the catalog (no token needed), with the catalog's id, version and digest; a 404 problem
    names an unknown code."""
    return {"catalog": servicing.catalog_version(), "operation": servicing.operation(code)}
