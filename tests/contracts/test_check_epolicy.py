"""scripts/check_epolicy.py against a real ``hardhat node``: a file's digest looked up with only the contract's
address and ABI (no lifeledger code), valid, superseded, unknown, and a clear error for a wrong node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ledger.anchoring import DocumentRegistryContract, Registration, connect, deploy_all
from tests.conftest import free_port
from tests.contracts.helpers import mined

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_epolicy.py"
ABI = ROOT / "ledger" / "artifacts" / "DocumentRegistry.json"

pytestmark = [pytest.mark.hardhat]


def check(path: Path, rpc: str, registry: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(path), "--rpc", rpc, "--registry", registry,
                           "--abi", str(ABI)], capture_output=True, text=True, timeout=60, check=False)


def test_a_file_is_checked_with_only_address_and_abi(hardhat_url: str, tmp_path: Path) -> None:
    import hashlib

    first, second, stranger = (tmp_path / name for name in ("v1.pdf", "v2.pdf", "other.pdf"))
    first.write_bytes(b"%PDF-1.4 version one")
    second.write_bytes(b"%PDF-1.4 version two")
    stranger.write_bytes(b"%PDF-1.4 never registered")
    d1, d2 = (hashlib.sha256(p.read_bytes()).digest() for p in (first, second))
    with connect(hardhat_url, data_dir=tmp_path) as chain:
        address = deploy_all(chain)["DocumentRegistry"]
        registry = DocumentRegistryContract(chain, address)
        mined(chain, registry.register_batch([Registration(d1, b"\x05" * 32, 1, 1)], gas=500_000))
        valid = check(first, hardhat_url, address)
        assert valid.returncode == 0, valid.stderr
        assert "status      valid" in valid.stdout and "kind        e-policy" in valid.stdout
        assert f"sha256:{d1.hex()}" in valid.stdout
        mined(chain, registry.supersede(d1, d2, 2, gas=500_000))
    superseded = check(first, hardhat_url, address)
    assert superseded.returncode == 1 and f"superseded  by sha256:{d2.hex()}" in superseded.stdout
    assert superseded.stderr == f"not valid: this version was replaced by sha256:{d2.hex()}\n"
    assert "version     2" in check(second, hardhat_url, address).stdout
    unknown = check(stranger, hardhat_url, address)
    assert unknown.returncode == 1 and "status      unknown" in unknown.stdout
    assert unknown.stderr.startswith("not valid: this file is not registered")
    down = check(first, f"http://127.0.0.1:{free_port()}", address)
    assert down.returncode == 2 and down.stderr.startswith("error: cannot read documentStatus")
