"""The public log API checked the way an outsider would: hashlib, cryptography, base64 and HTTP only.

Nothing from ``ledger`` is used to verify here, so these tests prove the formats, not our own helpers.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from ledger.core import Ledger
from ledger.keys import SigningKey
from ledger.statements import sign_event

# -- an independent verifier, straight from RFC 9162 §2.1.3.2 / §2.1.4.2 and C2SP signed-note --------------

def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    fn, sn, r = index, size - 1, h(b"\x00" + leaf)
    for p in path:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = h(b"\x01" + p + r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = h(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return r


def check_consistency(first: int, second: int, root1: bytes, root2: bytes, path: list[bytes]) -> None:
    if first == second:
        assert not path and root1 == root2
        return
    if first & (first - 1) == 0:
        path = [root1, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        assert sn != 0
        if fn & 1 or fn == sn:
            fr, sr = h(b"\x01" + c + fr), h(b"\x01" + c + sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = h(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    assert (fr, sr, sn) == (root1, root2, 0)


def open_note(note: str, vkey: str) -> tuple[str, int, bytes]:
    name, key_hash, key_b64 = vkey.split("+", 2)  # base64 may itself contain "+"
    raw = base64.b64decode(key_b64)
    assert raw[0] == 1 and hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_hash
    body, _, signatures = note.partition("\n\n")
    body += "\n"
    for line in signatures.splitlines():
        dash, signer, sig_b64 = line.split(" ")
        sig = base64.b64decode(sig_b64)
        if dash == "\u2014" and signer == name and sig[:4].hex() == key_hash:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], body.encode())
            origin, size, root = body.splitlines()
            return origin, int(size), base64.b64decode(root)
    raise AssertionError("no signature by the published key")


# -- the tests ------------------------------------------------------------------------------------------------

@pytest.fixture
def grown(client: TestClient, app_ledger: Ledger) -> list[str]:
    """Grow the log to 37 entries, cutting checkpoints at 10, 23 and 37; returns the signed notes."""
    key = SigningKey.generate("crm-1")
    app_ledger.register_key(key_id=key.key_id, owner="crm", public_key=key.public_key)
    notes = []
    for n in range(36):
        app_ledger.append(sign_event(key=key, event_id=f"crm-{n}", type="contact.updated", stream=f"policy:p{n % 5}",
                                     payload={"email": f"person{n}@example.org"}, data_subject=f"customer:{n}"),
                          owner="crm")
        if n + 1 in (9, 22, 36):
            notes.append(app_ledger.checkpoint_now().note)  # type: ignore[union-attr]
    return notes


def test_outsider_checks_every_entry_and_checkpoint(client: TestClient, grown: list[str]) -> None:
    vkey = client.get("/v1/log/key").json()["vkey"]
    latest = client.get("/v1/log/checkpoint")
    assert latest.headers["content-type"].startswith("text/plain")
    origin, size, root = open_note(latest.text, vkey)
    assert (origin, size) == ("test.lifeledger/log", 37)
    for index in range(size):
        entry = client.get(f"/v1/log/entries/{index}").json()
        leaf = base64.b64decode(entry["leaf"])
        assert base64.b64decode(entry["leaf_hash"]) == h(b"\x00" + leaf)
        assert "person" not in leaf.decode() and "example.org" not in leaf.decode()  # payloads stay off the log
        proof = client.get("/v1/log/proofs/inclusion", params={"index": index, "tree_size": size}).json()
        assert root_from_path(index, size, leaf, [base64.b64decode(x) for x in proof["hashes"]]) == root
    checkpoints = [open_note(note, vkey) for note in grown]
    for (_, m, r1), (_, n, r2) in itertools.pairwise(checkpoints):
        proof = client.get("/v1/log/proofs/consistency", params={"first": m, "second": n}).json()
        check_consistency(m, n, r1, r2, [base64.b64decode(x) for x in proof["hashes"]])


def test_outsider_checks_signature_of_an_entry_with_the_key_history(client: TestClient, grown: list[str]) -> None:
    keys = {k["key_id"]: k for k in client.get("/v1/log/key").json()["system_keys"]}
    entry = client.get("/v1/log/entries/5").json()
    record = json.loads(base64.b64decode(entry["leaf"]))
    key = keys[record["key_id"]]
    assert key["registered_index"] < 5
    statement = json.dumps(record["statement"], sort_keys=True, separators=(",", ":")).encode()  # JCS for ASCII
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(
        base64.b64decode(record["signature"]), statement)
    registration = client.get(f"/v1/log/key/events/{key['registered_index']}").json()
    leaf = json.loads(base64.b64decode(client.get(f"/v1/log/entries/{key['registered_index']}").json()["leaf"]))
    salted = base64.b64decode(registration["salt"]) + base64.b64decode(registration["payload_canonical"])
    assert leaf["statement"]["payload_hash"] == "sha256:" + h(salted).hex()
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
