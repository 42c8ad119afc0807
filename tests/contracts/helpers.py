"""Helpers for the contract tests: decode custom errors and events with the contract's ABI, independently of
``ledger.anchoring.contracts``."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.anchoring import Chain


def custom_error(contract: Contract, excinfo: pytest.ExceptionInfo[ContractCustomError]) -> tuple[Any, ...]:
    """``(error name, *arguments)`` decoded from a ContractCustomError's data with ``contract``'s ABI."""
    data = bytes.fromhex(str(excinfo.value.data).removeprefix("0x"))
    for entry in contract.abi:
        if entry["type"] != "error":
            continue
        types = [item["type"] for item in entry["inputs"]]
        if keccak(text=f"{entry['name']}({','.join(types)})")[:4] == data[:4]:
            values = abi_decode(types, data[4:])
            shown = [Web3.to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)]
            return (entry["name"], *shown)
    raise AssertionError(f"revert data 0x{data.hex()} matches no error of the contract")


def expect_error(contract: Contract, fn_call: Any, sender: str, *expected: Any) -> None:
    """Simulate ``fn_call`` from ``sender`` and require the custom error ``expected`` (name, *arguments)."""
    with pytest.raises(ContractCustomError) as excinfo:
        fn_call.call({"from": sender})
    assert custom_error(contract, excinfo) == expected
    with pytest.raises(ContractCustomError) as excinfo:  # the pre-flight of a real send agrees with the call
        fn_call.estimate_gas({"from": sender})
    assert custom_error(contract, excinfo) == expected


def events(contract: Contract, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
    """The ``name`` events ``contract`` emitted in ``receipt``, as argument dicts (bytes kept as bytes)."""
    return [dict(event["args"]) for event in contract.events[name]().process_receipt(receipt, errors=DISCARD)]


def mined(chain: Chain, tx_hash: bytes) -> TxReceipt:
    """The receipt of a transaction the embedded chain mined at once; it must have succeeded."""
    receipt = chain.receipt(tx_hash)
    assert receipt is not None
    assert receipt["status"] == 1
    return receipt


def digest(label: str) -> bytes:
    """A deterministic 32-byte test digest."""
    return keccak(text=f"document:{label}")


def subject(label: str) -> bytes:
    """A deterministic 32-byte salted subject commitment."""
    return keccak(text=f"salt:{label}")
