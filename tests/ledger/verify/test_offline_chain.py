"""Bundles and receipts under a root anchored on chain: the embedded chain offline, the contract addresses held to
the ones given, a node answering nonsense, and a Hardhat node read over JSON-RPC by the verifier itself
(``--rpc``); the verifier's hard-coded selectors against the compiled ABI."""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

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
from tests.ledger.verify.bundle_helpers import (
    claim_bundle,
    failure,
    odd_outcomes,
    places,
    recorded_bundle,
    reseal,
    work_claim,
)


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


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], str]]:
    """A claim's bundle, taken the real way, under a root anchored on the embedded chain, with its documents'
    registrations confirmed there; and the ledger's vkey."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("anchored") / "data", checkpoint_interval=0.2,
                        anchor_interval=0.01, chain_url="embedded", origin="test.lifeledger/log")
    clock = FixedClock(START)
    ledger = Ledger.open(settings, clock=clock)
    try:
        with TestClient(create_app(ledger=ledger)) as client:
            worked = work_claim(client, ledger, clock)
            checkpoint = ledger.log.checkpoint_now()
            assert checkpoint is not None
            _wait_anchored(ledger, checkpoint.tree_size)
            for _ in range(300):
                bundle = claim_bundle(ledger, worked.claim_id)
                registrations = [r for item in bundle["documents"]["items"] for r in item["registrations"]]
                if registrations and all(r["status"] == "confirmed" for r in registrations):
                    break
                time.sleep(0.05)
            assert bundle["anchor"]["status"] == "anchored" and registrations, bundle["documents"]
            yield bundle, ledger.log.vkey
    finally:
        ledger.close()


def test_the_contract_addresses_are_held_to_the_ones_given(anchored: tuple[dict[str, Any], str]) -> None:
    bundle, vkey = anchored
    contract = bundle["anchor"]["contract"]
    registry = bundle["documents"]["items"][0]["registrations"][0]["contract"]
    assert contract != registry
    report = offline.verify(copy.deepcopy(bundle), vkey=vkey, anchor_contract=contract.lower(),
                            registry=registry.upper().replace("0X", "0x"))  # the case does not matter
    assert report.ok, report.text()
    statuses = {c.name: c.detail for c in report.checks}
    assert statuses["anchor"].endswith("(the contract you trust)")
    assert statuses["documents"].endswith("(registrations to the registry you trust)")
    other = "0x" + "ab" * 20
    found = failure(bundle, vkey=vkey, anchor_contract=other)
    assert found.name == "anchor" and f"not on the anchor contract you trust ({other})" in found.detail
    found = failure(bundle, vkey=vkey, registry=other)
    assert found.name == "documents" and f"not to the document registry you trust ({other})" in found.detail


class _Node(BaseHTTPRequestHandler):
    """A JSON-RPC node whose answer to each method is whatever bytes the test sets (``answers``)."""

    answers: ClassVar[dict[str, bytes]] = {}

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = self.answers.get(request["method"], b'{"jsonrpc": "2.0", "id": 1, "result": null}')
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def node() -> Iterator[tuple[str, Callable[[dict[str, bytes]], None]]]:
    """A stub node on a free loopback port, and how to set its answers."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Node)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def answer(answers: dict[str, bytes]) -> None:
        _Node.answers = answers

    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answer
    finally:
        server.shutdown()
        server.server_close()
        _Node.answers = {}


def _result(value: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": value}).encode()


def test_a_node_answering_nonsense_leaves_nothing_to_decide_naming_the_call(
        anchored: tuple[dict[str, Any], str], node: tuple[str, Callable[[dict[str, bytes]], None]]) -> None:
    bundle, vkey = anchored
    url, answer = node
    chain_id = _result(hex(bundle["anchor"]["chain_id"]))
    root = base64.b64decode(bundle["anchor"]["root"])
    words = _result("0x" + root.hex() + bundle["anchor"]["block_number"].to_bytes(32, "big").hex())
    nonsense: list[tuple[dict[str, bytes], str]] = [
        ({"eth_chainId": b"<html>bad gateway</html>"}, "did not answer eth_chainId with JSON"),
        ({"eth_chainId": b"[1, 2]"}, "answered eth_chainId with list, not a JSON-RPC object"),
        ({"eth_chainId": _result("0xzz")}, 'eth_chainId answered "0xzz", not a hex quantity'),
        ({"eth_chainId": _result(12)}, "eth_chainId answered 12, not a hex quantity"),
        ({"eth_chainId": b'{"jsonrpc": "2.0", "id": 1}'}, "answered eth_chainId with neither a result nor an error"),
        ({"eth_chainId": chain_id, "eth_call": _result(["0x00"])}, "eth_call of 0x9d7384d9 at"),
        ({"eth_chainId": chain_id, "eth_call": _result("0xabc")}, "not hex data"),
        ({"eth_chainId": chain_id, "eth_call": words, "eth_getTransactionReceipt": _result("a receipt")},
         'eth_getTransactionReceipt answered "a receipt", not a receipt object'),
        ({"eth_chainId": chain_id, "eth_call": words, "eth_getTransactionReceipt": _result(
            {"status": "0x1", "blockNumber": "0x5", "to": bundle["anchor"]["contract"], "logs": "none"})},
         "eth_getTransactionReceipt answered a receipt whose logs are not a list"),
        ({"eth_chainId": chain_id, "eth_call": words, "eth_getTransactionReceipt": _result(
            {"status": True, "blockNumber": "0x5", "to": bundle["anchor"]["contract"], "logs": []})},
         "eth_getTransactionReceipt (status) answered true, not a hex quantity"),
    ]
    for answers, words_said in nonsense:
        answer(answers)
        with pytest.raises(offline.Unusable) as caught:
            offline.verify(copy.deepcopy(bundle), vkey=vkey, rpc=url)
        assert words_said in str(caught.value), (answers, str(caught.value))
    answer({"eth_chainId": chain_id, "eth_call": words})  # knows no such transaction: an answer, and a failure
    found = failure(bundle, vkey=vkey, rpc=url)
    assert found.name == "anchor on chain" and "knows no transaction" in found.detail


def _downgraded(bundle: dict[str, Any]) -> dict[str, Any]:
    """The anchored bundle with its anchor said to be pending and its documents' registrations said to be queued,
    re-sealed: nothing signed is touched."""
    changed = copy.deepcopy(bundle)
    changed["anchor"] = {"status": "pending"}
    for item in changed["documents"]["items"]:
        for registration in item["registrations"]:
            registration.update(status="queued", contract=None, chain_id=None, tx_hash=None, block_number=None,
                                confirmations=0)
    return reseal(changed)


def _words(*values: int) -> bytes:
    return _result("0x" + "".join(value.to_bytes(32, "big").hex() for value in values))


def test_a_downgraded_anchor_and_documents_are_never_ok_and_fail_where_an_address_was_given(
        anchored: tuple[dict[str, Any], str], node: tuple[str, Callable[[dict[str, bytes]], None]]) -> None:
    bundle, vkey = anchored
    url, answer = node
    contract = bundle["anchor"]["contract"]
    registry = bundle["documents"]["items"][0]["registrations"][0]["contract"]
    answer({"eth_chainId": _result(hex(bundle["anchor"]["chain_id"])), "eth_call": _words(0, 0, 0, 0, 0, 0)})
    downgraded = _downgraded(bundle)
    report = offline.verify(copy.deepcopy(downgraded), vkey=vkey, rpc=url)  # the node is never asked anything
    assert report.ok, report.text()
    statuses = {c.name: (c.status, c.detail) for c in report.checks}
    assert statuses["anchor"][0] == "not checked" and "anchor on chain" not in statuses
    assert statuses["documents on chain"][0] == "not checked"
    assert statuses["documents on chain"][1].endswith("no confirmed registration, no --registry: not read")
    assert report.not_checked == ["anchor", "documents on chain"]

    found = failure(downgraded, vkey=vkey, rpc=url, anchor_contract=contract)
    assert (found.name, found.detail) == ("anchor", f"you asked to check the anchor at {contract}; the bundle "
                                                    f"carries none (its anchor is 'pending')")
    found = failure(downgraded, vkey=vkey, rpc=url, registry=registry)
    first = bundle["documents"]["items"][0]["digest"]
    assert (found.name, found.detail) == ("documents", f"you asked to check the documents at {registry}; document "
                                                       f"{first}'s \"register\" names no contract")
    emptied = copy.deepcopy(bundle)  # no registration at all left to hold to the registry
    emptied["documents"]["items"][0]["registrations"] = []
    found = failure(reseal(emptied), vkey=vkey, registry=registry)
    assert (found.name, found.detail) == ("documents", f"you asked to check the documents at {registry}; document "
                                                       f"{first} carries no registration")
    elsewhere = copy.deepcopy(bundle)  # a registration said to have gone to another contract than the one given
    elsewhere["documents"]["items"][-1]["registrations"][0]["contract"] = "0x" + "cd" * 20
    found = failure(reseal(elsewhere), vkey=vkey, registry=registry)
    assert found.name == "documents" and f"not to the document registry you trust ({registry})" in found.detail


def test_a_document_the_chain_does_not_know_fails_only_where_the_bundle_says_it_was_confirmed(
        anchored: tuple[dict[str, Any], str], node: tuple[str, Callable[[dict[str, bytes]], None]]) -> None:
    bundle, vkey = anchored
    url, answer = node
    registry = bundle["documents"]["items"][0]["registrations"][0]["contract"]
    answer({"eth_call": _words(0, 0, 0, 0, 0, 0)})  # documentStatus: unknown, whatever is asked
    sent = copy.deepcopy(bundle)  # sent to the registry, not confirmed yet
    sent["anchor"] = {"status": "pending"}
    for item in sent["documents"]["items"]:
        item["registrations"][0]["status"] = "sent"
    report = offline.verify(reseal(sent), vkey=vkey, rpc=url, registry=registry)
    assert report.ok, report.text()
    status, detail = {c.name: (c.status, c.detail) for c in report.checks}["documents on chain"]
    assert status == "not checked" and detail.count(f"not registered at {registry} yet") == len(sent["documents"][
        "items"])
    found = failure(_without_anchor(bundle), vkey=vkey, rpc=url, registry=registry)  # said to be confirmed
    first = bundle["documents"]["items"][0]["digest"]
    assert (found.name, found.detail) == ("documents on chain", f"document {first} is not registered at {registry}")


def _without_anchor(bundle: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(bundle)
    changed["anchor"] = {"status": "pending"}
    return reseal(changed)


def test_the_anchor_abi_is_exactly_the_calls_the_verifier_reads(anchored: tuple[dict[str, Any], str]) -> None:
    bundle, vkey = anchored
    changes: list[tuple[Callable[[list[dict[str, Any]]], None], str]] = [
        (lambda abi: abi.append(copy.deepcopy(abi[0])), "not the fragment of rootOf"),
        (lambda abi: abi.reverse(), "not the fragment of rootOf"),
        (lambda abi: abi[0].__setitem__("type", "event"), "does not describe the function rootOf"),
        (lambda abi: abi[1]["inputs"][0].__setitem__("indexed", False), "CheckpointAnchored")]
    for change, words in changes:
        changed = copy.deepcopy(bundle)
        change(changed["anchor"]["abi"])
        found = failure(reseal(changed), vkey=vkey)
        assert found.name == "anchor" and words in found.detail, found


def test_no_odd_value_in_the_anchor_or_the_documents_makes_an_unexpected_error(
        anchored: tuple[dict[str, Any], str], tmp_path: Path) -> None:
    """The anchored bundle's anchor and documents sections, every value replaced by each odd value in turn (the
    bundle re-sealed): a failed check or undecidable, one line; it verifies only where the bundle does not prove
    what was changed (the confirmations, the documents' recorded state and registrations, ABI parameter names)."""
    bundle, vkey = anchored
    paths = [path for path in places(bundle) if path[0] in ("anchor", "documents")]
    assert ("anchor", "consistency", "hashes", 0) in paths or bundle["anchor"]["consistency"]["hashes"] == []

    def unproved(path: tuple[Any, ...]) -> bool:
        return (path == ("anchor", "confirmations")
                or (path[:2] == ("documents", "items") and len(path) > 3 and path[3] in ("recorded", "registrations"))
                or (path[1:2] == ("abi",) and len(path) > 4 and path[-1] in ("name", "internalType")))

    seen = odd_outcomes(bundle, paths, vkey=vkey, work=tmp_path, unproved=unproved)
    assert seen[1] > 20 and seen[2] > 50, seen


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
    bundle = recorded_bundle(ledger, subject, chosen)
    assert bundle["anchor"]["status"] == "anchored", bundle["anchor"]
    item = bundle["documents"]["items"][0]
    assert [r["status"] for r in item["registrations"]] == ["confirmed"], item
    report = offline.verify(copy.deepcopy(bundle), vkey=ledger.log.vkey, rpc=hardhat_url)
    assert report.ok, report.text()
    statuses = {c.name: (c.status, c.detail) for c in report.checks}
    assert statuses["anchor on chain"][0] == "ok"
    assert statuses["documents on chain"] == ("ok", f"{item['digest']}: valid")
    assert any(note.startswith(f"the anchor contract ({bundle['anchor']['contract']}) and the document registry came "
                               f"from the bundle itself") for note in report.notes), report.notes
    _, addresses, _ = ledger.anchoring.anchorer.deploy()  # what the insurer publishes
    trusted = {"anchor_contract": addresses["LedgerAnchor"], "registry": addresses["DocumentRegistry"]}
    report = offline.verify(copy.deepcopy(bundle), vkey=ledger.log.vkey, rpc=hardhat_url, **trusted)
    assert report.ok and not any("came from the bundle itself" in note for note in report.notes), report.text()
    elsewhere = "0x" + "12" * 20  # a contract the insurer does not publish
    assert failure(bundle, vkey=ledger.log.vkey, rpc=hardhat_url, registry=elsewhere).name == "documents"
    assert failure(bundle, vkey=ledger.log.vkey, rpc=hardhat_url, anchor_contract=elsewhere).name == "anchor"

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
