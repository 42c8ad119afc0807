"""scripts/bench_servicing.py run for a few seconds against a real ``lifeledger serve``: every figure is in its JSON,
no request failed, every automatic request completed and is listed by its policy, and every watched high-risk
request's change arrived on its event stream, which ended when the request was withdrawn. The speed targets are
not asserted: the figures depend on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.settings import default_workers

ROOT = Path(__file__).resolve().parents[3]
CORRECTNESS = ("completed requests listed by the API", "SSE samples delivered",
               "SSE streams ended after the withdrawal", "failed requests (all sections, set-up and warm-up included)")
SAMPLES = 16


def run_bench(tmp_path: Path, generator: str) -> tuple[dict[str, Any], str]:
    out = tmp_path / "servicing.json"
    done = subprocess.run(
        [sys.executable, "scripts/bench_servicing.py", "--phase-seconds", "2", "--sse-samples", str(SAMPLES),
         "--policies-per-client", "1", "--generator", generator, "--format", "markdown", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


@pytest.mark.parametrize("generator", ["wrk", "python"])
def test_short_run_reports_every_figure_without_failures(tmp_path: Path, generator: str) -> None:
    report, table = run_bench(tmp_path, generator)
    assert "errors" not in report, report.get("errors")
    assert report["server"].endswith(f"LIFELEDGER_CHAIN_URL = embedded, {default_workers()} worker process(es)")
    assert report["issued"] == {"policies": 16, "failures": 0, "failure_examples": []}

    automatic = report["automatic"]
    assert automatic["generator"].startswith(generator)
    assert automatic["failures"] == 0 and automatic["warm_up_failures"] == 0, automatic["failure_examples"]
    submit = automatic["steps"]["submit"]
    assert submit["n"] == automatic["completed"] > 0 and automatic["completed_per_second"] > 0
    assert 0 < submit["median_ms"] <= submit["p99_ms"] <= submit["max_ms"]
    accounting = automatic["accounting"]
    assert accounting["nothing_lost"] and not accounting["capped"]
    assert accounting["listed"] == accounting["answers"] == automatic["completed"] + automatic["warm_up_completed"]

    sse = report["sse"]
    assert sse["failures"] == 0, sse["failure_examples"]
    assert sse["samples"] == sse["delivered"] == sse["streams_ended"] == SAMPLES
    for step in ("high-risk submit", "stream: open -> first event", "confirm (the change)"):
        assert sse["steps"][step]["n"] == SAMPLES, step
    assert sse["delivery_after_answer"]["n"] == sse["delivery_after_sent"]["n"] == SAMPLES
    # the event cannot arrive before the change was sent; timed from the sending, the wait is the longer one
    assert sse["delivery_after_sent"]["median_ms"] > 0
    assert sse["delivery_after_answer"]["max_ms"] <= sse["delivery_after_sent"]["max_ms"]

    checks = {check["name"]: check for check in report["targets"]}
    for name in CORRECTNESS:
        assert checks[name]["met"] is True, checks[name]
    measured = [c for c in report["targets"] if c["name"] not in CORRECTNESS]
    assert len(measured) == 6 and all(c["value"] is not None for c in measured)
    assert {c["met"] for c in measured if c["target"] != "-"} <= {True, False}  # a verdict for every target
    assert "**Figures and targets**" in table and "automatic request submit p99, 16 clients" in table
