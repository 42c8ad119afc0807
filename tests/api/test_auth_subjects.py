"""Token subjects: a customer token names a data subject, and never one the ledger reserves for its own events."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from api.auth import Role, TokenError, check_token_subject, issue_token, read_token
from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import ValidationFailed
from tests.factories import POLICY_ADMIN_SCOPE, register_over_http


def forged(ledger: Ledger, **claims: Any) -> str:
    """A token signed by the ledger's token key with exactly these claims (as a careless issuer might make)."""
    now = int(time.time())
    return jwt.encode({"iss": ledger.settings.jwt_issuer, "iat": now, "exp": now + 600, **claims},
                      ledger.secrets.token.private_key, algorithm="EdDSA")


def test_a_customer_token_cannot_be_issued_for_the_ledger_subject(app_ledger: Ledger) -> None:
    with pytest.raises(ValidationFailed, match="reserved for the ledger's own events") as info:
        issue_token(app_ledger.secrets.token, subject="ledger", role=Role.CUSTOMER,
                    issuer=app_ledger.settings.jwt_issuer, ttl=300)
    assert info.value.field == "subject"
    with pytest.raises(ValidationFailed) as info:
        issue_token(app_ledger.secrets.token, subject="customer c1", role=Role.CUSTOMER,
                    issuer=app_ledger.settings.jwt_issuer, ttl=300)
    assert info.value.field == "subject"
    for fine in ("customer:c1", "ledgers", "c-ledger"):
        assert check_token_subject(fine, role=Role.CUSTOMER) == fine


@pytest.mark.parametrize(("subject", "reason"), [
    ("ledger", "'ledger' is reserved"),
    ("customer c1", "subject must be 1-128 characters"),
    ("customer:c1\n", "subject must be 1-128 characters"),
    (["customer:c1"], "(?i)subject must be"),
])
def test_reading_a_customer_token_refuses_reserved_and_malformed_subjects(app_ledger: Ledger, subject: Any,
                                                                          reason: str) -> None:
    token = forged(app_ledger, sub=subject, role="customer")
    with pytest.raises(TokenError, match=reason):
        read_token(token, public_key=app_ledger.secrets.token_public_key, issuer=app_ledger.settings.jwt_issuer)


def test_a_customer_token_for_the_ledger_subject_gets_a_401(client: TestClient, app_ledger: Ledger, auth) -> None:  # type: ignore[no-untyped-def]
    """The ledger's key history is sealed under its subject: such a token would read every one of its leaves."""
    key = SigningKey.generate("policy-admin-1")
    registered = register_over_http(client, auth("admin"), key, owner="policy-admin", scope=POLICY_ADMIN_SCOPE)
    index = registered["receipt"]["index"]
    assert "ledger" in app_ledger.log.subjects_of(index)
    own = client.get(f"/v1/log/entries/{index}", headers=auth("customer", "customer:c1"))
    assert own.status_code == 200 and "leaf" not in own.json()  # an ordinary customer sees the hash only
    token = {"Authorization": f"Bearer {forged(app_ledger, sub='ledger', role='customer')}"}
    for path in (f"/v1/log/entries/{index}", f"/v1/events/{registered['receipt']['event_id']}/receipt"):
        refused = client.get(path, headers=token)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "'ledger' is reserved" in refused.json()["detail"]
