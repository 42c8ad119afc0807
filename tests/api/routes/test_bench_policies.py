"""scripts/bench_policies.py run for a few seconds against a real ``lifeledger serve``: every figure is in its JSON,
no request failed, every issued policy is listed, the rebuilt tables equal the served ones and the e-policy
renders to its registered digest. The speed targets are not asserted: the figures depend on the machine. The
server runs two worker processes (one journal writer, in the serving process) and wrk loads sections 1 and 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
CORRECTNESS = ("failed requests (all sections, warm-up included)", "issued policies listed by the API",
               "rebuilt tables equal the served ones",
               "e-policy rendered and served over HTTP hash to the registered digest")


def run_bench(tmp_path: Path) -> tuple[dict[str, Any], str]:
    out = tmp_path / "policies.json"
    done = subprocess.run(
        [sys.executable, "scripts/bench_policies.py", "--quick", "--duration", "3", "--phase-seconds", "2",
         "--rebuilds", "1", "--generator", "wrk", "--workers", "2", "--chain-url", "none", "--format", "markdown",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_short_run_reports_every_figure_without_failures(tmp_path: Path) -> None:
    report, table = run_bench(tmp_path)
    assert "errors" not in report, report.get("errors")
    assert report["server"].endswith("LIFELEDGER_CHAIN_URL = none, 2 worker process(es)")  # one writer for both

    quotes = report["quotes"]
    assert quotes["generator"] == report["applications"]["generator"] == "wrk"
    assert quotes["failures"] == 0 and quotes["latency"]["n"] > 0 and quotes["requests_per_second"] > 0
    assert quotes["latency"]["median_ms"] <= quotes["latency"]["p99_ms"]

    applied = report["applications"]
    assert applied["failures"] == 0 and applied["warm_up_failures"] == 0
    assert applied["steps"]["apply"]["n"] > 0 and applied["steps"]["apply"]["p99_ms"] > 0

    issued = report["issue"]
    assert issued["failures"] == 0 and issued["warm_up_failures"] == 0, issued["failure_examples"]
    assert issued["issued"] > 0 and issued["issued_per_second"] > 0
    for step in ("apply", "pay", "apply + pay"):
        assert issued["steps"][step]["n"] == issued["issued"], step
        assert issued["steps"][step]["median_ms"] > 0, step
    accounting = issued["accounting"]
    assert accounting["nothing_lost"] and not accounting["capped"]
    assert accounting["listed"] == accounting["payment_answers"] == issued["issued"] + issued["warm_up_issued"]

    rebuilt = report["rebuild"]
    assert rebuilt["matches_served"] and rebuilt["entries_per_second"] > 0
    assert 0 < rebuilt["policy_events"] < rebuilt["entries"]
    assert rebuilt["rows"]["policy_numbers"] == accounting["listed"]

    render = report["epolicy"]
    assert render["digest_matches"] and render["latency"]["median_ms"] > 0
    assert render["bytes"] == report["sample"]["http_pdf_bytes"] > 0
    assert report["sample"]["http_pdf_digest"] == report["sample"]["registered"]

    checks = {check["name"]: check for check in report["targets"]}
    for name in CORRECTNESS:
        assert checks[name]["met"] is True, checks[name]
    measured = [c for c in report["targets"] if c["name"] not in CORRECTNESS]
    assert len(measured) >= 15 and all(c["value"] is not None for c in measured)
    assert {c["met"] for c in measured if c["target"] != "-"} <= {True, False}  # a verdict for every target
    assert "**Figures and targets**" in table and "quote p99, 16 clients" in table
