"""Event intake and admin routes through the real app: auth, roles, signatures, idempotency, problems."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import Role, issue_token
from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.log.encoding import b64
from ledger.log.statements import sign_event
from tests.factories import POLICY_ADMIN_SCOPE, register_over_http


@pytest.fixture
def key(client: TestClient, auth) -> SigningKey:  # type: ignore[no-untyped-def]
    signing = SigningKey.generate("policy-admin-1")
    registered = register_over_http(client, auth("admin"), signing, owner="policy-admin", scope=POLICY_ADMIN_SCOPE)
    assert registered["key"]["status"] == "active"
    return signing


def body(key: SigningKey, n: int, **changes: Any) -> dict[str, Any]:
    data = sign_event(key=key, event_id=f"evt-{n}", type="policy.issued", stream="policy:p1",
                      payload={"product": "TERM20", "n": n}, data_subject="customer:c1").to_json()
    data.update(changes)
    return data


def assert_problem(response, status: int, field: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and problem["type"].startswith("https://") and problem["detail"]
    if field is not None:
        assert problem.get("field") == field, problem
    return problem  # type: ignore[no-any-return]


def test_post_event_records_and_is_idempotent(client: TestClient, auth, key: SigningKey) -> None:  # type: ignore[no-untyped-def]
    event = body(key, 1)
    first = client.post("/v1/events", headers=auth("system", "policy-admin"), json=event)
    assert first.status_code == 201, first.text
    again = client.post("/v1/events", headers=auth("system", "policy-admin"), json=event)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["index"] == first.json()["index"] == 1
    changed = sign_event(key=key, event_id="evt-1", type="policy.issued", stream="policy:p1",
                         payload={"product": "OTHER"}, data_subject="customer:c1").to_json()
    assert_problem(client.post("/v1/events", headers=auth("system", "policy-admin"), json=changed), 409,
                   "statement.event_id")


def test_routes_need_a_token_and_the_right_role(client: TestClient, auth, key: SigningKey) -> None:  # type: ignore[no-untyped-def]
    assert_problem(client.post("/v1/events", json=body(key, 1)), 401)
    assert_problem(client.post("/v1/events", headers={"Authorization": "Bearer nonsense"}, json=body(key, 1)), 401)
    assert_problem(client.post("/v1/events", headers=auth("customer"), json=body(key, 1)), 403)
    assert_problem(client.get("/v1/admin/keys", headers=auth("system", "policy-admin")), 403)
    assert client.get("/v1/admin/keys", headers=auth("admin")).status_code == 200


def test_bad_input_gets_named_problems_and_records_nothing(client: TestClient, app_ledger: Ledger, auth,  # type: ignore[no-untyped-def]
                                                           key: SigningKey) -> None:
    headers = auth("system", "policy-admin")
    size = app_ledger.log.size()
    bad_sig = body(key, 1, signature=b64(bytes(64)))
    assert_problem(client.post("/v1/events", headers=headers, json=bad_sig), 422, "signature")
    wrong_owner = auth("system", "claims-core")
    assert_problem(client.post("/v1/events", headers=wrong_owner, json=body(key, 2)), 422, "key_id")
    unknown = body(SigningKey.generate("nobody-1"), 3)
    assert_problem(client.post("/v1/events", headers=headers, json=unknown), 422, "key_id")
    missing = body(key, 4)
    del missing["statement"]["occurred_at"]
    assert_problem(client.post("/v1/events", headers=headers, json=missing), 422, "statement.occurred_at")
    assert_problem(client.post("/v1/events", headers=headers, json={"statement": "x"}), 422)
    assert_problem(client.post("/v1/events", headers=headers, content=b"{not json",
                               ), 422)
    assert_problem(client.post("/v1/events", headers=headers, json=body(key, 5, salt="***")), 422, "salt")
    assert app_ledger.log.size() == size


def test_batch_reports_each_item(client: TestClient, auth, key: SigningKey) -> None:  # type: ignore[no-untyped-def]
    events = [body(key, n) for n in range(5)]
    events[2] = body(key, 2, signature=b64(bytes(64)))
    events.append(dict(events[0]))  # the same event again: a duplicate, not a conflict
    response = client.post("/v1/events:batch", headers=auth("system", "policy-admin"), json={"events": events})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["recorded"], result["duplicates"], result["rejected"]) == (4, 1, 1)
    assert [r["status"] for r in result["results"]] == ["recorded"] * 2 + ["rejected"] + ["recorded"] * 2 + [
        "duplicate"]
    assert result["results"][2]["problem"]["field"] == "signature"


def test_receipt_waits_for_checkpoint_and_is_private_to_its_system(client: TestClient, auth,  # type: ignore[no-untyped-def]
                                                                    key: SigningKey) -> None:
    client.post("/v1/events", headers=auth("system", "policy-admin"), json=body(key, 1))
    receipt = client.get("/v1/events/evt-1/receipt", params={"wait": 5}, headers=auth("system", "policy-admin"))
    assert receipt.status_code == 200, receipt.text
    data = receipt.json()
    assert data["status"] == "checkpointed" and data["inclusion"]["index"] == 1
    assert data["checkpoint"].startswith("test.lifeledger/log\n")
    assert_problem(client.get("/v1/events/evt-1/receipt", headers=auth("system", "claims-core")), 404)
    assert client.get("/v1/events/evt-1/receipt", headers=auth("auditor")).status_code == 200
    assert client.get("/v1/events/evt-1/receipt", headers=auth("customer", "customer:c1")).json() == data
    assert_problem(client.get("/v1/events/evt-1/receipt", headers=auth("customer", "customer:c2")), 404)
    assert_problem(client.get("/v1/events/evt-1/receipt", headers=auth("admin")), 403)


def test_key_rotation_and_revocation_over_http(client: TestClient, auth, key: SigningKey) -> None:  # type: ignore[no-untyped-def]
    admin = auth("admin")
    new = SigningKey.generate("policy-admin-2")
    rotated = client.post(f"/v1/admin/keys/{key.key_id}:rotate", headers=admin,
                          json={"key_id": new.key_id, "public_key": b64(new.public_key)})
    assert rotated.status_code == 201, rotated.text
    assert_problem(client.post("/v1/events", headers=auth("system", "policy-admin"), json=body(key, 1)), 422,
                   "key_id")
    assert client.post("/v1/events", headers=auth("system", "policy-admin"), json=body(new, 2)).status_code == 201
    revoked = client.post(f"/v1/admin/keys/{new.key_id}:revoke", headers=admin, json={"reason": "seed leaked"})
    assert revoked.json()["key"]["status"] == "revoked"
    assert_problem(client.post(f"/v1/admin/keys/{new.key_id}:revoke", headers=admin, json={"reason": "again"}), 409)
    assert_problem(client.post("/v1/admin/keys/nobody-9:revoke", headers=admin, json={"reason": "x"}), 404, "key_id")
    statuses = {k["key_id"]: k["status"] for k in client.get("/v1/log/key").json()["system_keys"]}
    assert statuses == {"policy-admin-1": "retired", "policy-admin-2": "revoked"}


def test_health_and_metrics(client: TestClient, auth, key: SigningKey) -> None:  # type: ignore[no-untyped-def]
    client.post("/v1/events", headers=auth("system", "policy-admin"), json=body(key, 1))
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["tree_size"] == 2
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "lifeledger_tree_size 2.0" in metrics.text
    assert 'lifeledger_http_requests_total{method="POST",route="/v1/events",status="201"}' in metrics.text


def test_openapi_documents_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/log/checkpoint", "/v1/log/key", "/v1/log/entries/{index}", "/v1/log/proofs/inclusion",
                 "/v1/log/proofs/consistency", "/v1/log/anchors", "/v1/events", "/v1/events:batch",
                 "/v1/admin/keys", "/healthz", "/metrics"):
        assert path in spec["paths"], path
    assert spec["components"]["schemas"]["EventCreate"]["examples"]


def test_oversized_bodies_are_refused_before_anything_else(settings, auth) -> None:  # type: ignore[no-untyped-def]
    from api.app import create_app

    small = settings.model_copy(update={"max_body_bytes": 8192, "anonymous_body_bytes": 2048})
    with TestClient(create_app(small)) as client:
        headers = {"Content-Type": "application/json"}
        anonymous = client.post("/v1/events", content=b"x" * 3000, headers=headers)
        assert_problem(anonymous, 413)
        assert "without a valid bearer token may carry at most 2048 bytes" in anonymous.json()["detail"]
        assert_problem(client.post("/v1/events", content=b"x" * 1000, headers=headers), 401)  # small: 401 first
        token = issue_token(client.app.state.ledger.secrets.token, subject="policy-admin",  # type: ignore[attr-defined]
                            role=Role.SYSTEM, issuer="lifeledger", ttl=60)
        signed_in = {**headers, "Authorization": f"Bearer {token}"}
        assert_problem(client.post("/v1/events", content=b"x" * 3000, headers=signed_in), 422, "body")
        declared = client.post("/v1/events", content=b"x" * 9000, headers=signed_in)
        assert_problem(declared, 413)
        assert "at most 8192 bytes" in declared.json()["detail"]

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(9):
                yield b"x" * 1024

        streamed = client.post("/v1/events", content=chunks(), headers=signed_in)  # no Content-Length
        assert_problem(streamed, 413)
        assert_problem(client.post("/v1/events", content=chunks(), headers=headers), 401)  # never read at all


def test_405_keeps_its_allow_header_and_huge_indexes_are_422(client: TestClient) -> None:
    response = client.put("/v1/events")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"
    assert_problem(client.get("/v1/log/entries/99999999999999999999"), 422, None)


def test_openapi_documents_problem_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/events"]["post"]["responses"]
    for status in ("401", "403", "409", "422", "503"):
        assert "application/problem+json" in post[status]["content"], status
