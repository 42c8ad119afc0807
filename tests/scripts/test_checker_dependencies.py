"""The outside checkers run on a plain Python: without the packages they need they say so in one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bare(*args: str) -> subprocess.CompletedProcess[str]:
    """Run with the standard library only (-S: no site-packages), as on a machine with nothing installed."""
    return subprocess.run([sys.executable, "-I", "-S", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)


def test_check_log_names_the_missing_package(tmp_path: Path) -> None:
    done = run_bare("scripts/check_log.py", "--url", "http://127.0.0.1:9", "--entry", "0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: this check needs the httpx package (pip install httpx cryptography)"]


def test_check_epolicy_names_the_missing_package(tmp_path: Path) -> None:
    pdf = tmp_path / "policy.pdf"
    pdf.write_bytes(b"%PDF-1.4 not really")
    done = run_bare("scripts/check_epolicy.py", str(pdf), "--rpc", "http://127.0.0.1:9", "--registry",
                    "0x" + "00" * 20, "--abi", "ledger/artifacts/DocumentRegistry.json")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: this check needs the web3 package (pip install web3)"]
