"""The embedded chain's state survives the process: reopened by new processes, and after one is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.anchoring import Checkpoint, LedgerAnchorContract, connect, deploy_all
from ledger.errors import AnchorUnavailable
from tests.contracts.helpers import mined

ROOT = Path(__file__).resolve().parents[2]

# Run in a new interpreter: reopen the data dir, report what it finds, anchor the next size, report again.
REOPEN = """
import json, sys
from pathlib import Path
from ledger.anchoring import LedgerAnchorContract, connect
data_dir, address = Path(sys.argv[1]), sys.argv[2]
with connect("embedded", data_dir=data_dir) as chain:
    anchor = LedgerAnchorContract(chain, address)
    found, height = anchor.latest(), chain.block_number()
    tx_hash = anchor.anchor(found.tree_size + 1, (found.tree_size + 1).to_bytes(32, "big"))
    receipt = chain.receipt(tx_hash)
    print(json.dumps({"size": found.tree_size, "root": found.root.hex(), "height": height,
                      "new_block": receipt["blockNumber"], "status": receipt["status"]}))
"""

# Anchor sizes 1, 2, 3 ... forever, printing each size once its transaction is mined.
ANCHOR_FOREVER = """
import sys
from pathlib import Path
from ledger.anchoring import LedgerAnchorContract, connect
chain = connect("embedded", data_dir=Path(sys.argv[1]))
anchor = LedgerAnchorContract(chain, sys.argv[2])
size = anchor.latest().tree_size
while True:
    size += 1
    anchor.anchor(size, size.to_bytes(32, "big"), gas=120_000)
    print(size, flush=True)
"""


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_new_processes_see_and_extend_the_state(tmp_path: Path):
    with connect("embedded", data_dir=tmp_path) as chain:
        address = deploy_all(chain)["LedgerAnchor"]
        mined(chain, LedgerAnchorContract(chain, address).anchor(5, b"\x05" * 32))
        height = chain.block_number()

    first = run_python(REOPEN, str(tmp_path), address)
    assert first.returncode == 0, first.stderr
    seen = json.loads(first.stdout)
    assert (seen["size"], seen["root"], seen["height"]) == (5, "05" * 32, height)
    assert (seen["new_block"], seen["status"]) == (height + 1, 1)

    second = run_python(REOPEN, str(tmp_path), address)
    assert second.returncode == 0, second.stderr
    seen = json.loads(second.stdout)
    assert (seen["size"], seen["root"], seen["height"]) == (6, (6).to_bytes(32, "big").hex(), height + 1)
    assert seen["new_block"] == height + 2

    with connect("embedded", data_dir=tmp_path) as chain:
        anchor = LedgerAnchorContract(chain, address)
        assert anchor.latest() == Checkpoint(7, (7).to_bytes(32, "big"))
        assert chain.block_number() == height + 2
        assert anchor.root_of(5) is not None and anchor.root_of(5).block_number == height


def test_a_killed_process_leaves_every_mined_block(tmp_path: Path):
    with connect("embedded", data_dir=tmp_path) as chain:
        address = deploy_all(chain)["LedgerAnchor"]
        start = chain.block_number()

    child = subprocess.Popen(
        [sys.executable, "-c", ANCHOR_FOREVER, str(tmp_path), address],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        for _ in range(20):
            reported = int(child.stdout.readline())
        with pytest.raises(AnchorUnavailable, match="open in another process"):
            connect("embedded", data_dir=tmp_path)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()

    with connect("embedded", data_dir=tmp_path) as chain:
        anchor = LedgerAnchorContract(chain, address)
        latest = anchor.latest()
        assert latest.tree_size >= reported  # nothing reported as mined was lost
        assert latest.root == latest.tree_size.to_bytes(32, "big")
        assert chain.block_number() == start + latest.tree_size  # one block per anchor, none half-written
        for size in range(1, latest.tree_size + 1):
            assert anchor.root_of(size).root == size.to_bytes(32, "big")
        mined(chain, anchor.anchor(latest.tree_size + 1, b"\x01" * 32))
