"""Shared plumbing of the benchmark scripts: progress lines, percentiles, machine facts, table printing."""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def log(message: str) -> None:
    """A timestamped progress line on stderr (tables go to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latency_ms(samples: Sequence[float]) -> dict[str, float | int]:
    """Count, median, p90, p99, mean and max of durations in seconds, reported in milliseconds."""
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "median_ms": statistics.median(samples) * 1e3,
            "p90_ms": percentile(samples, 90) * 1e3, "p99_ms": percentile(samples, 99) * 1e3,
            "mean_ms": statistics.fmean(samples) * 1e3, "max_ms": max(samples) * 1e3}


def _run(*command: str) -> str | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def commit() -> str | None:
    """The short hash of the checked-out commit (``git rev-parse --short HEAD``), or None outside a git tree."""
    return _run("git", "rev-parse", "--short", "HEAD")


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write a report as indented JSON, creating the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"wrote {path}")


def machine(packages: Iterable[str], *, node: bool = False) -> dict[str, Any]:
    """CPU, memory, platform, versions of Python, SQLite and the named packages, and the git revision."""
    model, memory = platform.processor() or None, None
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    if Path("/proc/meminfo").exists():
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2, 1)  # MemTotal, in kB
    versions = {name: metadata.version(name) for name in packages}
    facts: dict[str, Any] = {"cpu_count": os.cpu_count(), "cpu_model": model, "memory_gib": memory,
                             "platform": platform.platform(), "python": platform.python_version(),
                             "sqlite": sqlite3.sqlite_version, "packages": versions,
                             "revision": _run("git", "describe", "--always", "--dirty")}
    if node:
        facts["node"] = _run("node", "--version")
        hardhat = ROOT / "node_modules" / "hardhat" / "package.json"
        if hardhat.exists():
            versions["hardhat"] = json.loads(hardhat.read_text())["version"]
    return facts


def after_load_lines(report: dict[str, Any]) -> list[str]:
    """The closing notes every server benchmark prints: the journal and its anchoring after the load (from the
    report's ``healthz_after``), and each section that failed."""
    lines = []
    if "healthz_after" in report:
        health = report["healthz_after"]
        lag = health.get("anchor_lag")
        anchoring = "off" if lag is None else f"{health['anchoring']}, {lag:,} entries not yet anchored"
        lines.append(f"After the load: {health['tree_size']:,} journal entries, anchoring {anchoring}.")
    return lines + [f"Section {name} FAILED: {error}" for name, error in report.get("errors", {}).items()]


def targets_table(checks: Iterable[dict[str, Any]], *, decimal_units: Iterable[str] = ()) -> Table:
    """The "Figures and targets" table: each check's name, measured value (one decimal for ``decimal_units``,
    none otherwise), target and whether it is met (yes / NO / n/a)."""
    decimals = set(decimal_units)

    def value(check: dict[str, Any]) -> str:
        if check["value"] is None:
            return "-"
        number = float(check["value"])
        return f"{number:,.1f} {check['unit']}" if check["unit"] in decimals \
            else f"{number:,.0f} {check['unit']}".strip()

    verdict = {True: "yes", False: "NO", None: "n/a"}
    return ("Figures and targets", ["figure", "measured", "target", "met"],
            [[c["name"], value(c), c["target"], verdict[c["met"]]] for c in checks])


def print_tables(tables: Iterable[Table], *, style: str = "markdown") -> None:
    """Print tables as Markdown (for docs) or with rich (for a terminal); first column left, others right."""
    if style == "rich":
        from rich.console import Console
        from rich.table import Table as RichTable

        console = Console()
        for title, header, rows in tables:
            table = RichTable(title=title, title_justify="left")
            for number, name in enumerate(header):
                table.add_column(name, justify="left" if number == 0 else "right")
            for row in rows:
                table.add_row(*row)
            console.print(table)
        return
    for title, header, rows in tables:
        print(f"\n**{title}**\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")


# A monotonic clock for wrk's Lua scripts (LuaJIT's FFI): ``now()`` in seconds, for latencies timed in the script.
LUA_MONOTONIC_CLOCK = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end
"""


# A common start for a wrk script's threads (after LUA_MONOTONIC_CLOCK; the script defines ``SLACK``): ``setup``
# numbers each thread (``thread_id``) and gives all of them one start time ``t0``, SLACK seconds after the first
# thread's setup, for ``delay()`` to wait for; PARK_MS is how long ``delay()`` parks a connection once done.
LUA_COMMON_START = r"""
local PARK_MS = 3600000
local threads = {}

function setup(thread)
  if #threads == 0 then start_at = now() + SLACK end
  thread:set("thread_id", #threads)
  thread:set("t0", start_at)
  table.insert(threads, thread)
end
"""


def wrk_available() -> bool:
    """True if ``wrk`` is on the PATH."""
    return shutil.which("wrk") is not None


def run_wrk(command: Sequence[str], results: Path) -> tuple[str, float]:
    """Run a wrk command whose Lua script writes ``results`` in its ``done``; returns that text and the CPU seconds
    wrk used. Raises ``RuntimeError`` if wrk fails or writes no results."""
    results.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or not results.exists():
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return results.read_text(encoding="utf-8"), cpu


def finish(report: dict[str, Any], *, tables: Callable[[dict[str, Any]], Iterable[Table]],
           notes: Callable[[dict[str, Any]], Iterable[str]], load_before: tuple[float, float, float],
           json_path: Path | None, style: str) -> int:
    """Record the load averages, print a benchmark's tables, notes and closing line, and write its JSON. Returns
    0: a missed target is a finding to read in the table, not a failed command."""
    report["machine"]["load_average_before"] = load_before
    report["machine"]["load_average_after"] = os.getloadavg()
    print_tables(tables(report), style=style)
    print()
    for line in notes(report):
        print(line)
    print(f"\ncommit {report['commit']}; total {report['seconds']:.0f} s; load average before {load_before[0]:.2f}, "
          f"after {report['machine']['load_average_after'][0]:.2f}")
    if json_path:
        write_json(json_path, report)
    return 0
