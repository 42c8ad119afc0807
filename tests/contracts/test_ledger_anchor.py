"""LedgerAnchor on the embedded EVM: roles, monotone sizes, zero root, pause, events and custom errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractCustomError

from ledger.anchoring import (
    ANCHORER_ROLE,
    DEFAULT_ADMIN_ROLE,
    PAUSER_ROLE,
    AnchoredRoot,
    Chain,
    Checkpoint,
    ContractRevert,
    LedgerAnchorContract,
    connect,
    deploy_all,
)
from ledger.anchoring.contracts import artifact
from ledger.errors import Conflict, ValidationFailed
from tests.contracts.helpers import custom_error, events, expect_error, mined

ROOT_A = bytes.fromhex("aa" * 32)
ROOT_B = bytes.fromhex("bb" * 32)
ZERO = bytes(32)


def test_deployment_grants_admin_and_operating_roles(anchor: LedgerAnchorContract, operator: str, outsider: str):
    assert anchor.has_role(DEFAULT_ADMIN_ROLE, operator)
    assert anchor.has_role(ANCHORER_ROLE, operator)
    assert anchor.has_role(PAUSER_ROLE, operator)
    for role in (DEFAULT_ADMIN_ROLE, ANCHORER_ROLE, PAUSER_ROLE):
        assert not anchor.has_role(role, outsider)


def test_deploy_all_with_a_separate_admin(chain: Chain, outsider: str):
    addresses = deploy_all(chain, admin=outsider)
    anchor = LedgerAnchorContract(chain, addresses["LedgerAnchor"])
    assert anchor.has_role(DEFAULT_ADMIN_ROLE, outsider)
    assert not anchor.has_role(DEFAULT_ADMIN_ROLE, chain.sender)
    assert anchor.has_role(ANCHORER_ROLE, chain.sender)
    assert not anchor.has_role(ANCHORER_ROLE, outsider)


def test_constructor_refuses_the_zero_address(chain: Chain, anchor: LedgerAnchorContract):
    compiled = artifact("LedgerAnchor")
    factory = chain.web3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
    zero = "0x" + "00" * 20
    with pytest.raises(ContractCustomError) as excinfo:
        factory.constructor(zero, chain.sender).estimate_gas({"from": chain.sender})
    assert custom_error(anchor.contract, excinfo) == ("LedgerAnchorInvalidAccount", zero)
    with pytest.raises(ContractRevert) as raised:
        chain.deploy("LedgerAnchor", chain.sender, zero)
    assert (raised.value.error, raised.value.arguments) == ("LedgerAnchorInvalidAccount", {"account": zero})


def test_nothing_anchored_reads_as_zeros(anchor: LedgerAnchorContract):
    assert anchor.latest() == Checkpoint(0, ZERO)
    assert anchor.contract.functions.rootOf(1).call() == [ZERO, 0]
    assert anchor.root_of(1) is None
    assert anchor.root_of(0) is None


def test_anchor_records_the_checkpoint_and_emits_it(chain: Chain, anchor: LedgerAnchorContract):
    receipt = mined(chain, anchor.anchor(7, ROOT_A))
    assert events(anchor.contract, receipt, "CheckpointAnchored") == [{"treeSize": 7, "root": ROOT_A}]
    assert anchor.anchored_in(receipt) == [Checkpoint(7, ROOT_A)]
    assert anchor.latest() == Checkpoint(7, ROOT_A)
    assert anchor.root_of(7) == AnchoredRoot(ROOT_A, receipt["blockNumber"])
    assert anchor.root_of(6) is None

    later = mined(chain, anchor.anchor(8, ROOT_B))
    assert anchor.latest() == Checkpoint(8, ROOT_B)
    assert anchor.root_of(7) == AnchoredRoot(ROOT_A, receipt["blockNumber"])
    assert anchor.root_of(8) == AnchoredRoot(ROOT_B, later["blockNumber"])


@pytest.mark.parametrize("size", [5, 4, 1])
def test_a_size_not_above_the_latest_is_stale(chain: Chain, anchor: LedgerAnchorContract, size: int):
    mined(chain, anchor.anchor(5, ROOT_A))
    expect_error(
        anchor.contract,
        anchor.contract.functions.anchor(size, ROOT_B),
        chain.sender,
        "LedgerAnchorStaleTreeSize",
        5,
        size,
    )
    with pytest.raises(ContractRevert) as raised:
        anchor.anchor(size, ROOT_B)
    assert isinstance(raised.value, Conflict)
    assert (raised.value.error, raised.value.arguments) == ("LedgerAnchorStaleTreeSize", {"latest": 5, "given": size})
    assert anchor.latest() == Checkpoint(5, ROOT_A)


def test_size_zero_is_stale_before_the_first_anchor(chain: Chain, anchor: LedgerAnchorContract):
    expect_error(
        anchor.contract, anchor.contract.functions.anchor(0, ROOT_A), chain.sender, "LedgerAnchorStaleTreeSize", 0, 0
    )


def test_a_stale_anchor_sent_with_explicit_gas_fails_on_chain(chain: Chain, anchor: LedgerAnchorContract):
    mined(chain, anchor.anchor(5, ROOT_A))
    tx_hash = anchor.anchor(3, ROOT_B, gas=200_000)  # no pre-flight: the chain executes and reverts it
    receipt = chain.receipt(tx_hash)
    assert receipt is not None and receipt["status"] == 0
    assert events(anchor.contract, receipt, "CheckpointAnchored") == []
    assert anchor.latest() == Checkpoint(5, ROOT_A)
    assert anchor.root_of(3) is None


def test_zero_root_is_refused(chain: Chain, anchor: LedgerAnchorContract):
    expect_error(anchor.contract, anchor.contract.functions.anchor(3, ZERO), chain.sender, "LedgerAnchorZeroRoot", 3)
    assert anchor.latest() == Checkpoint(0, ZERO)


def test_only_anchorers_anchor(chain: Chain, anchor: LedgerAnchorContract, outsider: str):
    expect_error(
        anchor.contract,
        anchor.contract.functions.anchor(1, ROOT_A),
        outsider,
        "AccessControlUnauthorizedAccount",
        outsider,
        ANCHORER_ROLE,
    )
    tx_hash = anchor.contract.functions.anchor(1, ROOT_A).transact({"from": outsider, "gas": 200_000})
    assert chain.web3.eth.get_transaction_receipt(tx_hash)["status"] == 0
    assert anchor.latest() == Checkpoint(0, ZERO)


def test_the_admin_grants_and_revokes_the_anchorer_role(chain: Chain, anchor: LedgerAnchorContract, outsider: str):
    granted = mined(chain, anchor.grant_role(ANCHORER_ROLE, outsider))
    assert events(anchor.contract, granted, "RoleGranted") == [
        {"role": ANCHORER_ROLE, "account": outsider, "sender": chain.sender}
    ]
    tx_hash = anchor.contract.functions.anchor(2, ROOT_A).transact({"from": outsider, "gas": 200_000})
    assert chain.web3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    assert anchor.latest() == Checkpoint(2, ROOT_A)

    revoked = mined(chain, anchor.revoke_role(ANCHORER_ROLE, outsider))
    assert events(anchor.contract, revoked, "RoleRevoked") == [
        {"role": ANCHORER_ROLE, "account": outsider, "sender": chain.sender}
    ]
    expect_error(
        anchor.contract,
        anchor.contract.functions.anchor(3, ROOT_B),
        outsider,
        "AccessControlUnauthorizedAccount",
        outsider,
        ANCHORER_ROLE,
    )


def test_only_the_admin_grants_roles(anchor: LedgerAnchorContract, outsider: str):
    expect_error(
        anchor.contract,
        anchor.contract.functions.grantRole(ANCHORER_ROLE, outsider),
        outsider,
        "AccessControlUnauthorizedAccount",
        outsider,
        DEFAULT_ADMIN_ROLE,
    )


def test_pause_stops_anchoring_until_unpaused(chain: Chain, anchor: LedgerAnchorContract, operator: str):
    paused = mined(chain, anchor.pause())
    assert events(anchor.contract, paused, "Paused") == [{"account": operator}]
    assert anchor.paused()
    expect_error(anchor.contract, anchor.contract.functions.anchor(1, ROOT_A), operator, "EnforcedPause")
    expect_error(anchor.contract, anchor.contract.functions.pause(), operator, "EnforcedPause")

    unpaused = mined(chain, anchor.unpause())
    assert events(anchor.contract, unpaused, "Unpaused") == [{"account": operator}]
    assert not anchor.paused()
    expect_error(anchor.contract, anchor.contract.functions.unpause(), operator, "ExpectedPause")
    mined(chain, anchor.anchor(1, ROOT_A))
    assert anchor.latest() == Checkpoint(1, ROOT_A)


def test_only_pausers_pause(anchor: LedgerAnchorContract, outsider: str):
    expect_error(
        anchor.contract,
        anchor.contract.functions.pause(),
        outsider,
        "AccessControlUnauthorizedAccount",
        outsider,
        PAUSER_ROLE,
    )


def test_supports_its_interfaces(anchor: LedgerAnchorContract):
    supports = anchor.contract.functions.supportsInterface
    assert supports(bytes.fromhex("01ffc9a7")).call()  # ERC-165
    assert supports(bytes.fromhex("7965db0b")).call()  # IAccessControl
    own = 0
    for name in ("anchor(uint64,bytes32)", "latest()", "rootOf(uint64)"):
        own ^= int.from_bytes(keccak(text=name)[:4], "big")
    assert supports(own.to_bytes(4, "big")).call()
    assert not supports(bytes.fromhex("ffffffff")).call()


@pytest.mark.parametrize(
    ("tree_size", "root", "field"),
    [(-1, ROOT_A, "tree_size"), (2**64, ROOT_A, "tree_size"), (1, b"\x01" * 31, "root"), (1, "aa" * 32, "root")],
)
def test_the_wrapper_rejects_malformed_arguments(anchor: LedgerAnchorContract, tree_size, root, field):
    with pytest.raises(ValidationFailed) as raised:
        anchor.anchor(tree_size, root)
    assert raised.value.field == field


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=8))
def test_accepted_sizes_are_exactly_the_strictly_increasing_ones(sizes: list[int]):
    with tempfile.TemporaryDirectory() as directory, connect("embedded", data_dir=Path(directory)) as chain:
        anchor = LedgerAnchorContract(chain, deploy_all(chain)["LedgerAnchor"])
        latest = 0
        for size in sizes:
            root = size.to_bytes(32, "big") if size else ROOT_A
            if size > latest:
                mined(chain, anchor.anchor(size, root))
                latest = size
            else:
                with pytest.raises(ContractRevert) as raised:
                    anchor.anchor(size, root)
                assert raised.value.arguments == {"latest": latest, "given": size}
            assert anchor.latest().tree_size == latest
