"""The servicing catalog routes: public (no token), the catalog's version with every operation, a 404 problem for
an unknown code. The routes run in a small app holding only the servicing service."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import problems
from api.routes import servicing
from ledger.servicing.catalog import default_catalog_path, load_catalog
from ledger.servicing.service import ServicingService

HIGH_RISK = {"beneficiary_change", "payment_account_change", "owner_change", "surrender", "policy_loan",
             "partial_withdrawal"}


@pytest.fixture(scope="module")
def service() -> ServicingService:
    return ServicingService(load_catalog(default_catalog_path()))


@pytest.fixture(scope="module")
def app(service: ServicingService) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    app.include_router(servicing.router)
    app.state.ledger = SimpleNamespace(servicing=service)
    return app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_the_catalog_is_public_with_its_version_and_every_operation(client: TestClient,
                                                                    service: ServicingService) -> None:
    response = client.get("/v1/servicing/operations")  # no Authorization header
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["catalog"] == {"id": "servicing", "version": 1, "digest": service.catalog.digest}
    assert [op["code"] for op in body["operations"]] == [op.code for op in service.catalog.operations()]
    assert len(body["operations"]) >= 24
    flagged = {op["code"] for op in body["operations"] if op["high_risk"]}
    assert flagged >= HIGH_RISK
    assert all(not op["automatic"] and op["cooling_off_hours"] is not None
               for op in body["operations"] if op["high_risk"])


def test_amounts_and_rates_travel_as_strings(client: TestClient) -> None:
    operations = {op["code"]: op for op in client.get("/v1/servicing/operations").json()["operations"]}
    loan = operations["policy_loan"]["money"]
    assert loan["parameters"]["ratio"] == "0.80" and loan["parameters"]["max_months"] == 6
    fees = operations["partial_withdrawal"]["money"]["parameters"]["fees_by_policy_year"]
    assert all(isinstance(fee, str) for fee in fees)


def test_one_operation_by_code(client: TestClient, service: ServicingService) -> None:
    response = client.get("/v1/servicing/operations/beneficiary_change")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["catalog"]["digest"] == service.catalog.digest
    operation = body["operation"]
    assert operation == service.operation("beneficiary_change")
    assert operation["changes_contract"] is True
    assert [c["party"] for c in operation["consents"]] == ["insured"]


def test_an_unknown_code_is_a_404_problem_naming_it(client: TestClient) -> None:
    response = client.get("/v1/servicing/operations/teleport")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/not-found") and problem["status"] == 404
    assert "'teleport'" in problem["detail"] and problem["field"] == "code"
    assert problem["instance"] == "/v1/servicing/operations/teleport"


def test_the_routes_ask_for_no_token_in_openapi(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path in ("/v1/servicing/operations", "/v1/servicing/operations/{code}"):
        operation = paths[path]["get"]
        assert "security" not in operation, path
        assert operation["tags"] == ["servicing"]
    assert "404" in paths["/v1/servicing/operations/{code}"]["get"]["responses"]

