"""scripts/bench_journal.py's in-process append workloads run small: every workload ran and reported a rate and
latencies, and every target got a verdict. The speed targets are not asserted: the figures depend on the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ("ledger_single", "ledger_concurrent", "ledger_group", "ledger_batched", "es_single")


def test_the_append_workloads_run_and_report_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "journal.json"
    done = subprocess.run([sys.executable, "scripts/bench_journal.py", "--quick", "--sections", "appends",
                           "--no-gc-defaults", "--format", "markdown", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert "errors" not in report and "FAILED" not in done.stdout, done.stdout[-3000:]
    results = report["appends"]["results"]
    for name in WORKLOADS:
        assert results[name]["events_per_second"]["median"] > 0, name
    for name in ("ledger_single", "ledger_concurrent", "ledger_group"):
        latency = results[name]["latency"]
        assert latency["n"] > 0 and 0 < latency["median_ms"] <= latency["p99_ms"] <= latency["max_ms"], name
    for name in ("ledger_concurrent", "es_concurrent"):  # what a threaded run cost the process, per event
        if name.startswith("es") and "error" in results[name]:
            continue  # a peer may fail to run; the report names its error
        assert results[name]["cpu_us_per_event"] > 0 and 0 < results[name]["cores"] <= 2 * (os.cpu_count() or 1)
    assert "CPU us/event" in done.stdout
    targets = report["targets"]
    assert len(targets) >= 6 and all(t["met"] in (True, False) for t in targets)
    assert not [t for t in targets if "ran" in t["name"] and t["met"] is not True]  # no section failed
