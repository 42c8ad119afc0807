"""Bundles and receipts under a root anchored on chain: the embedded chain offline, and a Hardhat node read over
JSON-RPC by the verifier itself (``--rpc``); the verifier's hard-coded selectors against the compiled ABI."""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.anchoring.contracts import artifact
from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.crypto.keys import SigningKey
from ledger.errors import NotFound
from ledger.log.encoding import digest_str
from ledger.log.statements import sign_event
from ledger.services.documents import Registration
from ledger.settings import Settings
from ledger.verify import offline
from ledger.verify.bundle import Selected, Subject
from tests.api.routes.servicing_helpers import START, headers
from tests.factories import POLICY_ADMIN_SCOPE
from tests.ledger.verify.bundle_helpers import builder, claim_bundle, failure, reseal, work_claim


def test_the_hard_coded_selectors_are_the_compiled_abis() -> None:
    def selector(contract: str, name: str) -> str:
        item = next(i for i in artifact(contract)["abi"] if i.get("name") == name)
        signature = f"{name}({','.join(arg['type'] for arg in item['inputs'])})"
        return keccak(text=signature).hex()

    assert selector("LedgerAnchor", "rootOf")[:8] == offline.ROOT_OF_SELECTOR
    assert selector("DocumentRegistry", "documentStatus")[:8] == offline.DOCUMENT_STATUS_SELECTOR
    assert "0x" + selector("LedgerAnchor", "CheckpointAnchored") == offline.CHECKPOINT_ANCHORED_TOPIC


def _wait_anchored(ledger: Ledger, size: int) -> None:
    for _ in range(300):
        if ledger.anchoring.status().anchored_tree_size >= size:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing anchored up to {size} in 15 s: {ledger.anchoring.status()}")


@pytest.fixture
def chained_hall(tmp_path: Path) -> Iterator[tuple[TestClient, Ledger, FixedClock]]:
    """The real app over a ledger anchoring to the embedded chain in the background."""
    clock = FixedClock(START)
    settings = Settings(data_dir=tmp_path / "data", checkpoint_interval=0.2, anchor_interval=0.01,
                        chain_url="embedded", origin="test.lifeledger/log", render_workers=0)
    ledger = Ledger.open(settings, clock=clock)
    try:
        with TestClient(create_app(ledger=ledger)) as client:
            yield client, ledger, clock
    finally:
        ledger.close()


def test_an_anchored_claim_bundle_and_receipt_verify_and_a_swapped_anchor_does_not(
        chained_hall: tuple[TestClient, Ledger, FixedClock]) -> None:
    client, ledger, clock = chained_hall
    worked = work_claim(client, ledger, clock)
    checkpoint = ledger.log.checkpoint_now()
    assert checkpoint is not None
    _wait_anchored(ledger, checkpoint.tree_size)
    bundle = claim_bundle(ledger, worked.claim_id)
    anchor = bundle["anchor"]
    assert anchor["status"] == "anchored" and anchor["contract"].startswith("0x")
    assert anchor["tx_hash"].startswith("0x") and isinstance(anchor["block_number"], int)
    assert [item["name"] for item in anchor["abi"]] == ["rootOf", "CheckpointAnchored"]
    report = offline.verify(copy.deepcopy(bundle), vkey=ledger.log.vkey)
    assert report.ok, report.text()
    assert {c.name: c.status for c in report.checks}["anchor"] == "ok"
    assert {c.name: c.status for c in report.checks}["anchor on chain"] == "not checked"

    # the anchored checkpoint swapped for another the ledger signed: it is not the anchored tree size and root
    swapped = copy.deepcopy(bundle)
    swapped["anchor"]["checkpoint"] = bundle["checkpoint"]["note"] if anchor["tree_size"] != bundle[
        "checkpoint"]["tree_size"] else _older_note(ledger, anchor["tree_size"])
    found = failure(reseal(swapped), vkey=ledger.log.vkey)
    assert found.name == "anchor" and "not the tree size and root the anchor names" in found.detail
    # a forged root beside it: the note's signature no longer covers it
    forged = copy.deepcopy(bundle)
    forged["anchor"]["root"] = base64.b64encode(bytes(32)).decode()
    assert failure(reseal(forged), vkey=ledger.log.vkey).name == "anchor"
    if anchor["consistency"]["hashes"]:
        bent = copy.deepcopy(bundle)
        bent["anchor"]["consistency"]["hashes"][0] = base64.b64encode(bytes(32)).decode()
        found = failure(reseal(bent), vkey=ledger.log.vkey)
        assert found.name == "anchor" and "does not extend" in found.detail

    receipt = client.get(f"/v1/claims/{worked.claim_id}/receipt", headers=headers(ledger, "adjuster", "a-1")).json()
    assert receipt["anchor"]["status"] == "anchored"
    report = offline.verify(copy.deepcopy(receipt), vkey=ledger.log.vkey)
    assert report.ok, report.text()
    assert {c.name: c.status for c in report.checks}["anchor"] == "ok"
    anchored_size = receipt["anchor"]["anchor"]["tree_size"]
    receipt["anchor"]["anchored_checkpoint"] = _older_note(ledger, anchored_size)  # signed, but not the anchored
    assert failure(receipt, vkey=ledger.log.vkey).name == "anchor"


def _older_note(ledger: Ledger, size: int) -> str:
    for smaller in range(size - 1, 0, -1):
        try:
            return ledger.log.checkpoint(smaller).note
        except NotFound:  # not every size has a checkpoint
            continue
    raise AssertionError("no older checkpoint")


# --- against a real JSON-RPC node ---------------------------------------------------------------------------

HARDHAT_CHAIN_ID = 31337
KEY = SigningKey.from_seed("policy-admin-7", bytes(range(1, 33)))


@pytest.fixture
def hardhat_ledger(tmp_path: Path, hardhat_url: str) -> Iterator[Ledger]:
    settings = Settings(data_dir=tmp_path / "data", checkpoint_interval=0.2, anchor_interval=0.01,
                        origin="test.lifeledger/log", chain_url=hardhat_url, chain_id=HARDHAT_CHAIN_ID)
    ledger = Ledger.open(settings)
    ledger.start(anchoring=False)
    assert ledger.anchoring.anchorer is not None
    ledger.anchoring.anchorer.deploy()  # each test gets its own contracts on the shared node
    try:
        yield ledger
    finally:
        ledger.close()


def _policy_events_and_a_document(ledger: Ledger) -> tuple[Subject, list[Selected]]:
    """A policy stream of three events signed by the policy administration's key, and an e-policy registered."""
    ledger.keys.register(key_id=KEY.key_id, owner="policy-admin", public_key=KEY.public_key, scope=POLICY_ADMIN_SCOPE)
    receipts = [ledger.intake.append(sign_event(key=KEY, event_id=f"p-{n}", type="policy.issued",
                                                stream="policy:p-77", payload={"n": n}, data_subject="customer:c-77"),
                                     owner="policy-admin") for n in range(3)]
    digest = keccak(text="e-policy p-77 v1")
    document = ledger.documents.register([Registration(digest=digest, subject=keccak(text="p-77 lineage"), kind=1)])
    chosen = [Selected(index=r.index, reason="the policy's own stream", open_facts=True, open_personal=False)
              for r in receipts]
    chosen.append(Selected(index=document[0].index, reason="e-policy registration", open_facts=True,
                           open_personal=False))
    return Subject(kind="policy", id="p-77", streams=("policy:p-77",)), chosen


@pytest.mark.hardhat
def test_the_verifier_reads_the_anchor_and_the_document_from_a_hardhat_node(hardhat_ledger: Ledger,
                                                                            hardhat_url: str) -> None:
    ledger = hardhat_ledger
    subject, chosen = _policy_events_and_a_document(ledger)
    ledger.log.checkpoint_now()
    assert ledger.anchoring.anchorer is not None
    for _ in range(3):  # queue and send, then follow the receipts
        ledger.anchoring.anchorer.run_once()
    bundle = builder(ledger).build(subject, chosen, grant={}, generated_for="auditor-1")
    assert bundle["anchor"]["status"] == "anchored", bundle["anchor"]
    item = bundle["documents"]["items"][0]
    assert [r["status"] for r in item["registrations"]] == ["confirmed"], item
    report = offline.verify(copy.deepcopy(bundle), vkey=ledger.log.vkey, rpc=hardhat_url)
    assert report.ok, report.text()
    statuses = {c.name: (c.status, c.detail) for c in report.checks}
    assert statuses["anchor on chain"][0] == "ok"
    assert statuses["documents on chain"] == ("ok", f"{item['digest']}: valid")

    def chain_failure(change: dict[str, Any]) -> offline.Check:
        changed = copy.deepcopy(bundle)
        changed["anchor"].update(change)
        found = offline.verify(reseal(changed), vkey=ledger.log.vkey, rpc=hardhat_url).failure
        assert found is not None
        return found

    found = chain_failure({"block_number": bundle["anchor"]["block_number"] + 1})
    assert found.name == "anchor on chain" and "block" in found.detail
    found = chain_failure({"tx_hash": "0x" + "11" * 32})
    assert found.name == "anchor on chain" and "no transaction" in found.detail
    found = chain_failure({"chain_id": 1})
    assert found.name == "anchor on chain" and "chain 31337" in found.detail
    unknown = copy.deepcopy(bundle)
    unknown["documents"]["items"][0]["digest"] = digest_str(keccak(text="never registered"))
    unnamed = offline.verify(reseal(unknown), vkey=ledger.log.vkey, rpc=hardhat_url).failure
    assert unnamed is not None and unnamed.name == "documents"  # no opened entry names that digest
    with pytest.raises(offline.Unusable, match="cannot be reached"):
        offline.verify(copy.deepcopy(bundle), vkey=ledger.log.vkey, rpc="http://127.0.0.1:9")
