"""The public log API checked the way an outsider would: hashlib, cryptography, base64 and HTTP only.

Nothing from ``ledger`` is used to verify here, so these tests prove the formats, not our own helpers.
"""

from __future__ import annotations

import base64
import itertools
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.log.statements import sign_event
from ledger.projections.scopes import KeyScope
from tests.conftest import load_script

# The verifier is scripts/check_log.py, which imports nothing from lifeledger: RFC 9162 and C2SP only.
check_log = load_script("check_log")
h = check_log._h
root_from_path = check_log.root_from_inclusion
check_consistency = check_log.check_consistency
open_note = check_log.open_checkpoint


# -- the tests ------------------------------------------------------------------------------------------------

@pytest.fixture
def grown(client: TestClient, app_ledger: Ledger) -> list[str]:
    """Grow the log to 37 entries, cutting checkpoints at 10, 23 and 37; returns the signed notes."""
    key = SigningKey.generate("crm-1")
    app_ledger.keys.register(key_id=key.key_id, owner="crm", public_key=key.public_key,
                             scope=KeyScope.from_json({"types": ["contact.*"], "streams": ["policy"]}))
    notes = []
    for n in range(36):
        event = sign_event(key=key, event_id=f"crm-{n}", type="contact.updated", stream=f"policy:p{n % 5}",
                           payload={"email": f"person{n}@example.org"}, data_subject=f"customer:{n}")
        app_ledger.intake.append(event, owner="crm")
        if n + 1 in (9, 22, 36):
            notes.append(app_ledger.log.checkpoint_now().note)  # type: ignore[union-attr]
    return notes


def test_outsider_checks_every_entry_and_checkpoint(client: TestClient, grown: list[str]) -> None:
    vkey = client.get("/v1/log/key").json()["vkey"]
    latest = client.get("/v1/log/checkpoint")
    assert latest.headers["content-type"].startswith("text/plain")
    origin, size, root = open_note(latest.text, vkey)
    assert (origin, size) == ("test.lifeledger/log", 37)
    for index in range(size):
        entry = client.get(f"/v1/log/entries/{index}").json()
        assert set(entry) == {"index", "leaf_hash"}  # an anonymous reader learns hashes and proofs, nothing else
        proof = client.get("/v1/log/proofs/inclusion", params={"index": index, "tree_size": size}).json()
        digest = base64.b64decode(entry["leaf_hash"])
        assert root_from_path(index, size, digest, [base64.b64decode(x) for x in proof["hashes"]]) == root
    checkpoints = [open_note(note, vkey) for note in grown]
    for (_, m, r1), (_, n, r2) in itertools.pairwise(checkpoints):
        proof = client.get("/v1/log/proofs/consistency", params={"first": m, "second": n}).json()
        check_consistency(m, n, r1, r2, [base64.b64decode(x) for x in proof["hashes"]])


@pytest.mark.parametrize(("role", "subject", "sees_leaf"), [
    ("system", "crm", True),  # the system whose key signed it
    ("auditor", "acme-audit", True),
    ("customer", "customer:5", True),  # the customer whose event it is
    ("customer", "customer:6", False),
    ("system", "claims-core", False),
    ("admin", "ops", False),
    ("servicing", "clerk-7", False),
])
def test_leaves_go_only_to_those_entitled(client: TestClient, grown: list[str], auth, role: str,  # type: ignore[no-untyped-def]
                                          subject: str, sees_leaf: bool) -> None:
    entry = client.get("/v1/log/entries/6", headers=auth(role, subject)).json()  # the event of customer:5
    if not sees_leaf:
        assert set(entry) == {"index", "leaf_hash"}
        return
    leaf = base64.b64decode(entry["leaf"])
    assert base64.b64decode(entry["leaf_hash"]) == h(b"\x00" + leaf)
    assert (entry["event_id"], entry["type"], entry["stream"]) == ("crm-5", "contact.updated", "policy:p0")
    assert "person" not in leaf.decode() and "example.org" not in leaf.decode()  # payloads stay off the log
    assert client.get("/v1/log/entries/6", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_a_receipt_is_checked_with_the_outside_checker(client: TestClient, grown: list[str], auth,  # type: ignore[no-untyped-def]
                                                       tmp_path) -> None:
    receipt = client.get("/v1/events/crm-5/receipt", headers=auth("customer", "customer:5")).json()
    vkey = client.get("/v1/log/key").json()["vkey"]
    _, size, root = open_note(client.get("/v1/log/checkpoint").text, vkey)
    assert check_log.check_receipt(client, receipt, vkey, (size, root)) == 6
    forged = json.loads(json.dumps(receipt))
    forged["leaf"] = base64.b64encode(base64.b64decode(receipt["leaf"]).replace(b"crm-5", b"crm-6")).decode()
    with pytest.raises(check_log.CheckFailed, match="does not hash to its leaf_hash"):
        check_log.check_receipt(client, forged, vkey, (size, root))
    other = json.loads(json.dumps(receipt))
    other["inclusion"]["hashes"] = other["inclusion"]["hashes"][::-1]
    with pytest.raises(check_log.CheckFailed, match="not in the tree its checkpoint signs"):
        check_log.check_receipt(client, other, vkey, (size, root))


def test_outsider_checks_signature_of_an_entry_with_the_key_history(client: TestClient, grown: list[str],  # type: ignore[no-untyped-def]
                                                                    auth) -> None:
    keys = {k["key_id"]: k for k in client.get("/v1/log/key").json()["system_keys"]}
    entry = client.get("/v1/log/entries/5", headers=auth("auditor", "acme-audit")).json()
    record = json.loads(base64.b64decode(entry["leaf"]))
    key = keys[record["key_id"]]
    assert key["registered_index"] < 5
    assert key["scope"] == {"types": ["contact.*"], "streams": ["policy"]}
    statement = json.dumps(record["statement"], sort_keys=True, separators=(",", ":")).encode()  # JCS for ASCII
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(
        base64.b64decode(record["signature"]), statement)
    registration = client.get(f"/v1/log/key/events/{key['registered_index']}").json()
    leaf = json.loads(base64.b64decode(registration["leaf"]))
    assert registration["data_subject"] == "ledger"
    committed = (b'{"data_subject":' + json.dumps(registration["data_subject"]).encode() + b',"payload":'
                 + base64.b64decode(registration["payload_canonical"]) + b"}")
    assert leaf["statement"]["payload_hash"] == "sha256:" + h(base64.b64decode(registration["salt"]) + committed).hex()
    assert registration["payload"]["public_key"] == key["public_key"]


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/v1/log/proofs/inclusion", {"index": 40, "tree_size": 37}, "index"),
    ("/v1/log/proofs/inclusion", {"index": 1, "tree_size": 99}, "tree_size"),
    ("/v1/log/proofs/consistency", {"first": 20, "second": 10}, "first"),
    ("/v1/log/proofs/consistency", {"first": 1, "second": 500}, "second"),
])
def test_bad_proof_requests_are_named(client: TestClient, grown: list[str], path: str, params: dict[str, int],
                                      field: str) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422 and response.json()["field"] == field, response.text


def test_missing_things_are_404_problems(client: TestClient) -> None:
    for path in ("/v1/log/checkpoint", "/v1/log/entries/0", "/v1/log/entries/123"):
        response = client.get(path)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/log/proofs/inclusion", params={"index": -1, "tree_size": 1}).status_code == 422


def test_anchors_say_when_anchoring_is_off(client: TestClient, grown: list[str]) -> None:
    state = client.get("/v1/log/anchors").json()
    assert (state["status"], state["chain"], state["anchored_tree_size"], state["lag"]) == ("not_configured", None,
                                                                                           0, 37)
    proof = client.get("/v1/log/anchors/proof", params={"index": 3})
    assert proof.status_code == 404 and "not yet covered by a confirmed anchor" in proof.json()["detail"]
