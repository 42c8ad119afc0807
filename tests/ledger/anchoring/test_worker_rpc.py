"""The anchoring worker against real JSON-RPC nodes: Hardhat (deploy, re-org, dropped tx, killed worker) and
anvil (stopped and started again with its state kept)."""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from api.app import create_app
from ledger.anchoring.contracts import artifact
from ledger.app import Ledger
from ledger.errors import AnchorUnavailable
from ledger.services.documents import Registration
from ledger.settings import Settings
from ledger.store.anchors import CHECKPOINT, CONFIRMED
from tests.chain_nodes import NodeProcess, rpc
from tests.conftest import free_port, load_script
from tests.ledger.anchoring.test_worker_embedded import grow

pytestmark = pytest.mark.hardhat
HARDHAT_CHAIN_ID = 31337
check_log = load_script("check_log")


def rpc_settings(tmp_path: Path, url: str, **changes: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path / "data", "checkpoint_interval": 0.2, "anchor_interval": 0.01,
                                 "origin": "test.lifeledger/log", "chain_url": url, "chain_id": HARDHAT_CHAIN_ID}
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def hardhat_ledger(tmp_path: Path, hardhat_url: str) -> Iterator[Ledger]:
    ledger = Ledger.open(rpc_settings(tmp_path, hardhat_url))
    ledger.start(anchoring=False)
    assert ledger.anchoring.anchorer is not None
    ledger.anchoring.anchorer.deploy()  # each test gets its own contracts on the shared node
    try:
        yield ledger
    finally:
        ledger.close()


def test_outsider_checks_an_entry_against_the_root_on_chain(hardhat_ledger: Ledger, hardhat_url: str) -> None:
    """With only the contract address, its ABI and the public log API, an entry is shown to be anchored."""
    grow(hardhat_ledger, 30)
    assert hardhat_ledger.anchoring.anchorer is not None
    hardhat_ledger.anchoring.anchorer.run_once()
    hardhat_ledger.anchoring.anchorer.run_once()
    with TestClient(create_app(ledger=hardhat_ledger)) as client:
        status = client.get("/v1/log/anchors").json()
        assert status["status"] == "configured" and status["chain_id"] == HARDHAT_CHAIN_ID
        assert status["anchors"][0]["status"] == "confirmed" and status["anchors"][0]["tx_hash"].startswith("0x")
        address = status["contracts"]["LedgerAnchor"]
        proof = client.get("/v1/log/anchors/proof", params={"index": 17}).json()
        vkey = client.get("/v1/log/key").json()["vkey"]
    _, size, root = check_log.open_checkpoint(proof["anchored_checkpoint"], vkey)
    assert proof["leaf"] is None  # an anonymous outsider gets the leaf hash, which is all the proof needs
    leaf_hash = base64.b64decode(proof["leaf_hash"])
    path = [base64.b64decode(h) for h in proof["anchored_inclusion"]["hashes"]]
    assert check_log.root_from_inclusion(17, size, leaf_hash, path) == root
    _, first_size, first_root = check_log.open_checkpoint(proof["checkpoint"], vkey)
    check_log.check_consistency(first_size, size, first_root, root,
                                [base64.b64decode(h) for h in proof["consistency"]["hashes"]])
    web3 = Web3(Web3.HTTPProvider(hardhat_url))
    contract = web3.eth.contract(address=address, abi=artifact("LedgerAnchor")["abi"])
    on_chain_root, block = contract.functions.rootOf(size).call()
    assert on_chain_root == root and block == proof["anchor"]["block_number"]


def test_reorg_that_removes_an_anchor_is_noticed_and_sent_again(hardhat_ledger: Ledger, hardhat_url: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    assert hardhat_ledger.anchoring.anchorer is not None
    grow(hardhat_ledger, 5)
    snapshot = rpc(hardhat_url, "evm_snapshot")
    hardhat_ledger.anchoring.anchorer.run_once()
    hardhat_ledger.anchoring.anchorer.run_once()
    job = hardhat_ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT)[0]
    assert job.status == CONFIRMED
    rpc(hardhat_url, "evm_revert", snapshot)  # the block holding the anchor is gone, as after a re-org
    hardhat_ledger.anchoring.anchorer.run_once()  # notices the anchor vanished, and sends it again
    assert f"job {job.id} (checkpoint) vanished from chain {HARDHAT_CHAIN_ID}" in caplog.text
    hardhat_ledger.anchoring.anchorer.run_once()
    again = hardhat_ledger.anchoring.jobs.job(job.id)
    assert again.status == CONFIRMED and again.sent_at != job.sent_at  # sent again (same nonce: maybe same hash)
    assert hardhat_ledger.anchoring.status().anchored_tree_size == 6


def test_reorg_that_removes_a_document_registration_is_noticed(hardhat_ledger: Ledger, hardhat_url: str,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    from ledger.anchoring import DocumentRegistryContract, DocumentStatus

    assert hardhat_ledger.anchoring.anchorer is not None
    hardhat_ledger.anchoring.anchorer.run_once()  # binds to the contracts (nothing to do yet)
    snapshot = rpc(hardhat_url, "evm_snapshot")
    digest = b"\x11" * 32
    hardhat_ledger.documents.register([Registration(digest=digest, subject=b"\x12" * 32, kind=1, version=1)])
    hardhat_ledger.anchoring.anchorer.run_once()
    hardhat_ledger.anchoring.anchorer.run_once()
    job = hardhat_ledger.anchoring.jobs.recent_jobs(kind="documents")[0]
    assert job.status == CONFIRMED
    rpc(hardhat_url, "evm_revert", snapshot)
    hardhat_ledger.anchoring.anchorer.run_once()
    assert f"job {job.id} (documents) vanished" in caplog.text
    hardhat_ledger.anchoring.anchorer.run_once()
    assert hardhat_ledger.anchoring.jobs.job(job.id).status == CONFIRMED
    chain = hardhat_ledger.anchoring.anchorer._chain
    assert chain is not None
    registry = DocumentRegistryContract(chain, hardhat_ledger.anchoring.anchorer.addresses()["DocumentRegistry"])
    assert registry.document_status(digest).status == DocumentStatus.VALID


def test_dropped_transaction_is_sent_again(hardhat_ledger: Ledger, hardhat_url: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    assert hardhat_ledger.anchoring.anchorer is not None
    grow(hardhat_ledger, 4)
    hardhat_ledger.anchoring.anchorer.run_once()  # queues and sends the anchor of size 5
    hardhat_ledger.anchoring.anchorer.run_once()
    grow(hardhat_ledger, 4, start=4)
    rpc(hardhat_url, "evm_setAutomine", False)
    try:
        hardhat_ledger.anchoring.anchorer.run_once()  # sends the anchor of size 9; it sits in the mempool
        job = hardhat_ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT)[0]
        assert job.tree_size == 9 and job.status == "sent" and job.tx_hash is not None
        assert rpc(hardhat_url, "hardhat_dropTransaction", "0x" + job.tx_hash.hex()) is True
        hardhat_ledger.anchoring.anchorer.run_once()  # the node no longer knows it: the worker sends it again
        assert f"transaction 0x{job.tx_hash.hex()} of job {job.id} vanished" in caplog.text
        assert hardhat_ledger.anchoring.jobs.job(job.id).status == "sent"
    finally:
        rpc(hardhat_url, "evm_setAutomine", True)
    rpc(hardhat_url, "evm_mine")
    hardhat_ledger.anchoring.anchorer.run_once()
    again = hardhat_ledger.anchoring.jobs.job(job.id)
    assert again.status == CONFIRMED and again.sent_at != job.sent_at  # sent again (same nonce: maybe same hash)


def _count_anchor_events(url: str, address: str) -> dict[int, int]:
    web3 = Web3(Web3.HTTPProvider(url))
    contract = web3.eth.contract(address=address, abi=artifact("LedgerAnchor")["abi"])
    counts: dict[int, int] = {}
    for log in contract.events.CheckpointAnchored().get_logs(from_block=0):
        size = int(log["args"]["treeSize"])
        counts[size] = counts.get(size, 0) + 1
    return counts


def test_worker_killed_mid_way_catches_up_without_repeats(tmp_path: Path, hardhat_url: str) -> None:
    """`lifeledger chain run` is SIGKILLed at random moments while the log grows; restarted, it catches up."""
    settings = rpc_settings(tmp_path, hardhat_url)
    ledger = Ledger.open(settings)
    ledger.start(anchoring=False)
    assert ledger.anchoring.anchorer is not None
    ledger.anchoring.anchorer.deploy()
    env = {**os.environ, "LIFELEDGER_CHAIN_URL": hardhat_url, "LIFELEDGER_CHAIN_ID": str(HARDHAT_CHAIN_ID),
           "LIFELEDGER_ANCHOR_INTERVAL": "0.05", "LIFELEDGER_ORIGIN": settings.origin}
    command = [sys.executable, "-m", "api.cli", "chain", "run", "--data-dir", str(settings.data_dir)]
    rng = random.Random(7)
    try:
        for round_ in range(6):
            worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for step in range(3):
                grow(ledger, 5, start=round_ * 15 + step * 5)
                time.sleep(rng.uniform(0.05, 0.4))
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        final = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            target = ledger.log.latest_checkpoint().tree_size  # type: ignore[union-attr]
            deadline = time.monotonic() + 120
            while ledger.anchoring.status().anchored_tree_size < target:
                assert time.monotonic() < deadline, ledger.anchoring.status()
                time.sleep(0.2)
        finally:
            final.send_signal(signal.SIGINT)
            final.wait(timeout=30)
        status = ledger.anchoring.status()
        events = _count_anchor_events(hardhat_url, status.contracts["LedgerAnchor"])
        assert events and all(count == 1 for count in events.values()), events  # nothing anchored twice
        assert max(events) == target
        web3 = Web3(Web3.HTTPProvider(hardhat_url))
        contract = web3.eth.contract(address=status.contracts["LedgerAnchor"], abi=artifact("LedgerAnchor")["abi"])
        for size in events:  # every root on chain is the root of our signed checkpoint of that size
            assert contract.functions.rootOf(size).call()[0] == ledger.store.checkpoint(size).root
        jobs = ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT, limit=500)
        assert {j.tree_size for j in jobs if j.status == CONFIRMED} == set(events)
    finally:
        ledger.close()


@contextmanager
def own_node(kind: str, tmp_path: Path, first_events: int) -> Iterator[tuple[NodeProcess, Ledger]]:
    """A node of its own (so the test may stop it) and a ledger that has anchored its first checkpoint there."""
    node = NodeProcess(kind, free_port(), tmp_path)
    node.start()
    ledger = Ledger.open(rpc_settings(tmp_path, node.url))
    ledger.start(anchoring=False)
    try:
        assert ledger.anchoring.anchorer is not None
        ledger.anchoring.anchorer.deploy()
        grow(ledger, first_events)
        ledger.anchoring.anchorer.run_once()
        ledger.anchoring.anchorer.run_once()
        assert ledger.anchoring.status().anchored_tree_size == first_events + 1
        yield node, ledger
    finally:
        ledger.close()
        node.stop()


def test_node_stopped_and_started_again_worker_catches_up(tmp_path: Path) -> None:
    """anvil keeps its chain in a state file, so this is the same chain coming back after an outage."""
    with own_node("anvil", tmp_path, 6) as (node, ledger):
        assert ledger.anchoring.anchorer is not None
        node.stop()
        grow(ledger, 6, start=6)  # appends go on while the chain is away
        with pytest.raises(AnchorUnavailable):
            ledger.anchoring.anchorer.run_once()
        assert ledger.log.size() == 13 and ledger.anchoring.status().lag == 6
        node.start()
        deadline = time.monotonic() + 60
        while ledger.anchoring.status().anchored_tree_size < 13:
            assert time.monotonic() < deadline, ledger.anchoring.status()
            try:
                ledger.anchoring.anchorer.run_once()
            except AnchorUnavailable:
                time.sleep(0.2)
        events = _count_anchor_events(node.url, ledger.anchoring.status().contracts["LedgerAnchor"])
        assert events == {7: 1, 13: 1}


def test_a_reset_hardhat_chain_is_named_and_redeploy_starts_anchoring_anew(tmp_path: Path) -> None:
    """Hardhat keeps its chain in memory: a restarted node is a new, empty chain with the same id."""
    with own_node("hardhat", tmp_path, 5) as (node, ledger):
        assert ledger.anchoring.anchorer is not None
        old_contract = ledger.anchoring.status().contracts["LedgerAnchor"]
        node.stop()
        node.start()
        grow(ledger, 5, start=5)
        with pytest.raises(AnchorUnavailable, match="the chain was reset") as info:
            ledger.anchoring.anchorer.run_once()
        assert "chain deploy --redeploy" in info.value.message
        _, addresses, new = ledger.anchoring.anchorer.deploy(redeploy=True)
        assert new and set(addresses) == {"LedgerAnchor", "DocumentRegistry"}
        retired = ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT)[0]  # its transaction went with the old chain
        assert (retired.tree_size, retired.status, retired.contract) == (6, "skipped", old_contract)
        ledger.anchoring.anchorer.run_once()
        ledger.anchoring.anchorer.run_once()
        status = ledger.anchoring.status()
        assert status.anchored_tree_size == 11 and status.lag == 0
        proof = ledger.anchoring.proof(2)
        assert proof.anchored.contract == status.contracts["LedgerAnchor"] and proof.anchored.tree_size == 11


def test_a_transaction_stuck_in_the_mempool_is_replaced_with_higher_fees(tmp_path: Path, hardhat_url: str,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger.open(rpc_settings(tmp_path, hardhat_url, anchor_stuck_after=0.3))
    ledger.start(anchoring=False)
    try:
        assert ledger.anchoring.anchorer is not None
        ledger.anchoring.anchorer.deploy()
        grow(ledger, 3)
        rpc(hardhat_url, "evm_setAutomine", False)
        try:
            ledger.anchoring.anchorer.run_once()  # sends; nothing mines it
            stuck = ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT)[0]
            assert stuck.status == "sent" and stuck.tx_hash is not None
            old = Web3(Web3.HTTPProvider(hardhat_url)).eth.get_transaction(stuck.tx_hash)
            time.sleep(0.4)
            ledger.anchoring.anchorer.run_once()  # still unmined after anchor_stuck_after: replaced
        finally:
            rpc(hardhat_url, "evm_setAutomine", True)
        replaced = ledger.anchoring.jobs.job(stuck.id)
        assert replaced.tx_hash != stuck.tx_hash and "with higher fees" in (replaced.last_error or "")
        new = Web3(Web3.HTTPProvider(hardhat_url)).eth.get_transaction(replaced.tx_hash)
        assert new["nonce"] == old["nonce"] and new["maxFeePerGas"] > old["maxFeePerGas"]
        rpc(hardhat_url, "evm_mine")
        ledger.anchoring.anchorer.run_once()
        assert ledger.anchoring.jobs.job(stuck.id).status == CONFIRMED
        assert _count_anchor_events(hardhat_url, ledger.anchoring.status().contracts["LedgerAnchor"]) == {4: 1}
    finally:
        ledger.close()


def test_a_broadcast_whose_reply_is_lost_is_not_sent_twice(tmp_path: Path, hardhat_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """With a local key the hash is recorded before the broadcast; a lost reply is then followed, not resent."""
    import requests

    from ledger.errors import AnchorUnavailable as Unavailable

    second_key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # Hardhat test account 1
    ledger = Ledger.open(rpc_settings(tmp_path, hardhat_url, chain_private_key=second_key))
    ledger.start(anchoring=False)
    try:
        assert ledger.anchoring.anchorer is not None
        ledger.anchoring.anchorer.deploy()
        ledger.anchoring.anchorer.run_once()  # binds to the contracts; nothing to anchor yet
        chain = ledger.anchoring.anchorer._chain
        assert chain is not None
        real_send = chain.web3.eth.send_raw_transaction

        def send_then_lose_reply(raw):  # type: ignore[no-untyped-def]
            real_send(raw)
            raise requests.exceptions.ConnectionError("connection reset by peer")

        monkeypatch.setattr(chain.web3.eth, "send_raw_transaction", send_then_lose_reply)
        nonce_before = chain.web3.eth.get_transaction_count(chain.sender)
        grow(ledger, 4)
        with pytest.raises(Unavailable, match="failed in transit"):
            ledger.anchoring.anchorer.run_once()
        job = ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT)[0]
        assert job.status == "sent" and job.tx_hash is not None  # recorded before the broadcast
        monkeypatch.undo()
        ledger.anchoring.anchorer.run_once()  # reconnects and follows the recorded hash
        assert ledger.anchoring.jobs.job(job.id).status == CONFIRMED
        web3 = Web3(Web3.HTTPProvider(hardhat_url))
        assert web3.eth.get_transaction_count(web3.eth.account.from_key(second_key).address) == nonce_before + 1
        assert _count_anchor_events(hardhat_url, ledger.anchoring.status().contracts["LedgerAnchor"]) == {5: 1}
    finally:
        ledger.close()


def test_a_job_taken_up_elsewhere_while_its_transaction_was_signed_is_not_broadcast(
        tmp_path: Path, hardhat_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a local key the job is marked sent before the broadcast only if it is still this attempt's: when the
    process that took the lease over has taken the job up in between, the signed transaction is dropped."""
    second_key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # Hardhat test account 1
    ledger = Ledger.open(rpc_settings(tmp_path, hardhat_url, chain_private_key=second_key))
    ledger.start(anchoring=False)
    try:
        anchorer = ledger.anchoring.anchorer
        assert anchorer is not None
        anchorer.deploy()
        anchorer.run_once()  # binds to the contracts; nothing to anchor yet
        chain = anchorer._chain
        assert chain is not None
        theirs = b"\x5a" * 32
        build = anchorer._sender._call

        def taken_up_meanwhile(job):  # type: ignore[no-untyped-def]
            assert anchorer.jobs.update_job(job.id, status="sent", attempts=2, tx_hash=theirs)
            return build(job)

        monkeypatch.setattr(anchorer._sender, "_call", taken_up_meanwhile)
        nonce_before = chain.web3.eth.get_transaction_count(chain.sender)
        grow(ledger, 4)
        anchorer.run_once()
        [job] = ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT)
        assert (job.status, job.attempts, job.tx_hash) == ("sent", 2, theirs)
        assert chain.web3.eth.get_transaction_count(chain.sender) == nonce_before  # signed, never broadcast
    finally:
        ledger.close()
