"""Public routes for the product catalog and quotes."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field

from api.bodies import json_body, request_body
from api.deps import AdminPrincipal, PoliciesDep, ProductsDep
from api.problems import responses
from api.routing import Router

router = Router(tags=["products and quotes"], responses=responses(404, 422))
# The catalog and quotes are read from memory in microseconds (a quote about 30 µs), so those routes are
# coroutines answered on the event loop: a worker thread would cost more than the work.


class PlanIn(BaseModel):
    """A plan: sum insured (decimal string, or {"amount", "currency"}), term and payment term, frequency."""

    model_config = ConfigDict(extra="forbid")
    sum_insured: str | dict[str, str]
    term_years: int | None = Field(default=None, description="years of cover; omit for whole life")
    payment_years: int = Field(description="years of premiums (1 for a single-year product)")
    frequency: str = Field(default="annual", description="annual | semiannual | quarterly | monthly")


class QuoteCreate(BaseModel):
    """What a quote needs: the product, the plan and the insured's profile (no name, no identity number)."""

    model_config = ConfigDict(extra="forbid")
    product_id: str
    product_version: int | None = None
    plan: PlanIn
    age: int = Field(ge=0, le=105, description="the insured's age last birthday")
    sex: str = Field(pattern="^[MF]$")
    occupation_class: int = Field(default=1, ge=1, le=6)
    extra_premium_pct: Decimal = Field(default=Decimal(0), ge=0, le=500)


@router.get("/v1/products")
async def list_products(policies: PoliciesDep) -> list[dict[str, Any]]:
    """The catalog: the current version of every product, with its digest."""
    return [{"id": p.id, "version": p.version, "kind": p.kind, "names": p.definition.names.model_dump(),
             "currency": p.currency, "digest": p.digest, "versions": policies.catalog.versions(p.id)}
            for p in policies.catalog.current()]


@router.get("/v1/products/{product_id}")
async def get_product(policies: PoliciesDep, product_id: str, version: int | None = None) -> dict[str, Any]:
    """One product version as published (its definition, tables cited by id and digest)."""
    return policies.catalog.get(product_id, version).to_json()


@router.post("/v1/quotes", openapi_extra=request_body(QuoteCreate))
async def create_quote(policies: PoliciesDep,
                 body: Annotated[QuoteCreate, Depends(json_body(QuoteCreate, public=True))]) -> dict[str, Any]:
    """The premium for a plan, with the product version, table and rule behind it (nothing is recorded)."""
    return policies.quote(product_id=body.product_id, version=body.product_version,
                          plan=body.plan.model_dump(), age=body.age, sex=body.sex,
                          occupation_class=body.occupation_class, extra_premium_pct=body.extra_premium_pct)


class ProductPublish(BaseModel):
    """A product version as its data file states it (see products/README.md); tables are referenced by id."""

    model_config = ConfigDict(extra="allow")


@router.post("/v1/admin/products", status_code=201, openapi_extra=request_body(ProductPublish),
             tags=["admin: products"], responses=responses(401, 403, 409, 422))
def publish_product(products: ProductsDep, principal: AdminPrincipal,
                    body: Annotated[ProductPublish, Depends(json_body(ProductPublish))]) -> dict[str, Any]:
    """Publish a new product version: validated, content-hashed and recorded in the journal before it is sold."""
    product = products.publish(body.model_dump(), actor={"role": principal.role.value, "party": principal.subject})
    return {"id": product.id, "version": product.version, "digest": product.digest}


@router.get("/v1/admin/products/published", tags=["admin: products"], responses=responses(401, 403))
def published_products(products: ProductsDep, _: AdminPrincipal) -> list[dict[str, Any]]:
    """Every product version recorded in the journal, with the entry that records it."""
    return products.published()
