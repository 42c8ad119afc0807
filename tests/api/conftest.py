"""API fixtures: the real app over a real SQLite file, with tokens signed by the ledger's token key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, issue_token
from ledger.app import Ledger
from ledger.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def app_ledger(client: TestClient) -> Ledger:
    return client.app.state.ledger  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def auth(app_ledger: Ledger):  # type: ignore[no-untyped-def]
    def headers(role: Role | str, subject: str = "tester") -> dict[str, str]:
        token = issue_token(app_ledger.secrets.token, subject=subject, role=Role(role),
                            issuer=app_ledger.settings.jwt_issuer, ttl=300)
        return {"Authorization": f"Bearer {token}"}

    return headers
