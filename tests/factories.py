"""Shared test data: key scopes, signed events and registered keys, so tests do not repeat their set-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger.crypto.keys import SigningKey
from ledger.log.encoding import b64
from ledger.log.statements import SignedEvent, sign_event
from ledger.projections.scopes import KeyScope

VECTORS = Path(__file__).resolve().parent / "vectors"  # the project's own copy of the known-answer vectors

# What the policy administration system may write in these tests: policy and premium events on policy streams.
POLICY_ADMIN_SCOPE = KeyScope.from_json({"types": ["policy.*", "premium.*"], "streams": ["policy"]})
EVERYTHING = KeyScope.from_json({"types": ["*"], "streams": ["*"]})


def policy_event(key: SigningKey, n: int, *, stream: str = "policy:p1", subject: str = "customer:c1",
                 type: str = "policy.issued", **payload: Any) -> SignedEvent:
    """A signed ``policy.issued``-like event number ``n`` with a small payload."""
    return sign_event(key=key, event_id=f"evt-{n}", type=type, stream=stream,
                      payload={"product": "TERM20", "n": n, **payload}, data_subject=subject)


def register_over_http(client: Any, headers: dict[str, str], key: SigningKey, *, owner: str,
                       scope: KeyScope) -> dict[str, Any]:
    """Register ``key`` for ``owner`` through ``POST /v1/admin/keys`` (``headers``: an admin's) and return the
    answer's body; fails the test unless it is a 201."""
    response = client.post("/v1/admin/keys", headers=headers, json={
        "key_id": key.key_id, "owner": owner, "public_key": b64(key.public_key), "scope": scope.to_json()})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def resident_id(birth: str, *, sex: str = "M", area: str = "110105", serial: int = 12) -> str:
    """A well-formed resident identity number for a birth date (YYYY-MM-DD) and sex (odd 17th digit: male)."""
    from ledger.parties.identity import resident_id_check_char

    digit = 1 if sex == "M" else 2
    first17 = f"{area}{birth.replace('-', '')}{serial:02d}{digit}"
    return first17 + resident_id_check_char(first17)
