"""Document events over HTTP: a system key allowed every type and stream still cannot get a digest anchored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.log.encoding import digest_str
from ledger.log.statements import sign_event
from ledger.projections.documents import stream_of
from tests.api.routes.test_events import assert_problem
from tests.factories import EVERYTHING, register_over_http

LINEAGE = b"\x0c" * 32


@pytest.fixture
def anything_key(client: TestClient, auth) -> SigningKey:  # type: ignore[no-untyped-def]
    signing = SigningKey.generate("integrator-1")
    registered = register_over_http(client, auth("admin"), signing, owner="integrator", scope=EVERYTHING)
    assert registered["key"]["scope"] == {"types": ["*"], "streams": ["*"]}
    return signing


def registration(key: SigningKey, n: int, *, stream: str | None = None) -> dict[str, object]:
    return sign_event(key=key, event_id=f"doc-{n}", type="document.registered", stream=stream or stream_of(LINEAGE),
                      payload={"digest": digest_str(bytes([n]) * 32), "subject": digest_str(LINEAGE), "kind": 1,
                               "version": 1}, data_subject="issuer:acme").to_json()


def test_a_scope_of_everything_cannot_register_documents(client: TestClient, app_ledger: Ledger, auth,  # type: ignore[no-untyped-def]
                                                         anything_key: SigningKey) -> None:
    system = auth("system", "integrator")
    size = app_ledger.log.size()
    refused = assert_problem(client.post("/v1/events", headers=system, json=registration(anything_key, 1)), 422,
                             "statement.type")
    assert "'document.registered' is reserved" in refused["detail"]
    assert "written only by the ledger" in refused["detail"]
    assert_problem(client.post("/v1/events", headers=system, json=registration(anything_key, 2, stream="policy:p1")),
                   422, "statement.type")
    batch = client.post("/v1/events:batch", headers=system, json={"events": [registration(anything_key, 3)]})
    assert batch.status_code == 200, batch.text
    item = batch.json()["results"][0]["problem"]
    assert item["status"] == 422 and item["field"] == "statement.type"
    note = sign_event(key=anything_key, event_id="note-1", type="policy.noted", stream=stream_of(LINEAGE),
                      payload={"note": "x"}, data_subject="customer:c1").to_json()
    on_stream = assert_problem(client.post("/v1/events", headers=system, json=note), 422, "statement.stream")
    assert "written only by the ledger" in on_stream["detail"]
    assert app_ledger.log.size() == size
    assert app_ledger.anchoring.jobs.unassigned_ops(limit=10) == []
    allowed = sign_event(key=anything_key, event_id="p-1", type="policy.issued", stream="policy:p1",
                         payload={"product": "TERM20"}, data_subject="customer:c1").to_json()
    assert client.post("/v1/events", headers=system, json=allowed).status_code == 201  # the key itself works
