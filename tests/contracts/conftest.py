"""Fixtures for the contract tests: a fresh embedded (eth-tester) chain with both contracts deployed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.anchoring import Chain, DocumentRegistryContract, LedgerAnchorContract, connect, deploy_all

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    """A new embedded chain in a temporary data dir, sending from its first development account."""
    opened = connect("embedded", data_dir=tmp_path / "data")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def addresses(chain: Chain) -> dict[str, str]:
    return deploy_all(chain)


@pytest.fixture
def anchor(chain: Chain, addresses: dict[str, str]) -> LedgerAnchorContract:
    return LedgerAnchorContract(chain, addresses["LedgerAnchor"])


@pytest.fixture
def registry(chain: Chain, addresses: dict[str, str]) -> DocumentRegistryContract:
    return DocumentRegistryContract(chain, addresses["DocumentRegistry"])


@pytest.fixture
def operator(chain: Chain) -> str:
    """The account that deployed the contracts and holds every role."""
    return chain.sender


@pytest.fixture
def outsider(chain: Chain) -> str:
    """A funded development account that holds no role."""
    return str(chain.web3.eth.accounts[1])
