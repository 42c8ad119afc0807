"""The chain client over JSON-RPC against a real ``hardhat node``, and Hardhat's offline compile."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ledger.anchoring import (
    ANCHORER_ROLE,
    AnchoredRoot,
    Checkpoint,
    ContractRevert,
    DocumentRegistryContract,
    DocumentStatus,
    LedgerAnchorContract,
    Registration,
    connect,
    deploy_all,
)
from ledger.errors import AnchorUnavailable
from tests.contracts.helpers import digest, events, mined, subject

ROOT = Path(__file__).resolve().parents[2]
HARDHAT = ROOT / "node_modules" / ".bin" / "hardhat"
HARDHAT_CHAIN_ID = 31337
# Hardhat's second well-known development account (public test key, funded by `hardhat node`).
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"

pytestmark = [
    pytest.mark.hardhat,
]


def test_deploy_anchor_and_read_back(hardhat_url: str, tmp_path: Path):
    with connect(hardhat_url, data_dir=tmp_path, expected_chain_id=HARDHAT_CHAIN_ID) as chain:
        assert chain.chain_id == HARDHAT_CHAIN_ID
        addresses = deploy_all(chain)
        anchor = LedgerAnchorContract(chain, addresses["LedgerAnchor"])
        root = digest("hardhat-root")
        receipt = mined(chain, anchor.anchor(3, root))
        assert events(anchor.contract, receipt, "CheckpointAnchored") == [{"treeSize": 3, "root": root}]
        assert anchor.latest() == Checkpoint(3, root)
        assert anchor.root_of(3) == AnchoredRoot(root, receipt["blockNumber"])
        assert chain.confirmations(receipt["transactionHash"]) == chain.block_number() - receipt["blockNumber"] + 1

        with pytest.raises(ContractRevert) as raised:
            anchor.anchor(2, root)
        assert (raised.value.error, raised.value.arguments) == ("LedgerAnchorStaleTreeSize", {"latest": 3, "given": 2})
        with pytest.raises(ContractRevert) as raised:  # Hardhat executes at submission, even with explicit gas
            anchor.anchor(3, root, gas=120_000)
        assert raised.value.arguments == {"latest": 3, "given": 3}
        mined(chain, anchor.anchor(4, root, gas=120_000))  # the nonce is still right afterwards

        registry = DocumentRegistryContract(chain, addresses["DocumentRegistry"])
        batch = [Registration(digest(f"hh-{i}"), subject("hh"), 1, 1) for i in range(10)]
        mined(chain, registry.register_batch(batch, gas=1_000_000))
        mined(chain, registry.supersede(digest("hh-0"), digest("hh-0b"), 2))
        assert registry.document_status(digest("hh-0")).status is DocumentStatus.SUPERSEDED
        assert registry.document_status(digest("hh-0b")).superseded_by == bytes(32)


def test_locally_signed_transactions_and_roles(hardhat_url: str, tmp_path: Path):
    with connect(hardhat_url, data_dir=tmp_path) as admin_chain:
        address = deploy_all(admin_chain)["LedgerAnchor"]
        admin_anchor = LedgerAnchorContract(admin_chain, address)
        with connect(hardhat_url, data_dir=tmp_path, private_key=SECOND_KEY) as chain:
            anchor = LedgerAnchorContract(chain, address)
            with pytest.raises(ContractRevert) as raised:
                anchor.anchor(1, digest("x"))
            assert raised.value.error == "AccessControlUnauthorizedAccount"
            assert raised.value.arguments == {"account": chain.sender, "neededRole": ANCHORER_ROLE}

            mined(admin_chain, admin_anchor.grant_role(ANCHORER_ROLE, chain.sender))
            hashes = [anchor.anchor(size, digest(f"r{size}"), gas=120_000) for size in range(1, 21)]
            receipts = [chain.web3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
            assert all(r["status"] == 1 and r["from"] == chain.sender for r in receipts)
            assert anchor.latest() == Checkpoint(20, digest("r20"))


def test_chain_id_mismatch_is_a_clear_error(hardhat_url: str, tmp_path: Path):
    with pytest.raises(AnchorUnavailable, match=f"has chain id {HARDHAT_CHAIN_ID}, expected 1$"):
        connect(hardhat_url, data_dir=tmp_path, expected_chain_id=1)


def test_hardhat_compiles_the_committed_bytecode():
    done = subprocess.run(
        [str(HARDHAT), "compile", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"},
    )
    assert done.returncode == 0, done.stderr
    built = ROOT / "node_modules" / ".cache" / "hardhat" / "artifacts" / "contracts"
    for name in ("LedgerAnchor", "DocumentRegistry"):
        ours = json.loads((ROOT / "ledger" / "artifacts" / f"{name}.json").read_text())
        theirs = json.loads((built / f"{name}.sol" / f"{name}.json").read_text())
        assert (theirs["abi"], theirs["bytecode"], theirs["deployedBytecode"]) == (
            ours["abi"],
            ours["bytecode"],
            ours["deployedBytecode"],
        )
