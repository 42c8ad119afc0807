"""scripts/bench_anchoring.py run small on the embedded chain (and a Hardhat node when the project's npm packages
are installed): it appends through the ledger, anchors, and reports gas and latency for every size asked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_quick_run_anchors_and_reports_gas_and_latency(tmp_path: Path) -> None:
    out = tmp_path / "anchoring.json"
    done = subprocess.run([sys.executable, "scripts/bench_anchoring.py", "--quick", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    embedded = report["embedded"]
    sizes = sorted({row["events"] for row in embedded["gas"]})
    assert sizes == report["parameters"]["sizes"]
    assert all(row["gas"] > 0 and row["tx_hash"].startswith("0x") for row in embedded["gas"])
    assert embedded["latency_rounds"] and embedded["latency_background"]
    assert [target["met"] for target in report["targets"]] == [None, None]  # 10,000 events is not a quick size
