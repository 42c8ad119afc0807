"""The policy demo on a fresh data dir, run as the command line runs it: every underwriting outcome, policies
issued and lapsed in the clock's year, and a ledger that verifies afterwards; and the demo's copies of domain
helpers (which the edges may not import) held equal to the originals."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from api.cli import demo_policies as demo
from ledger.policies.rules.samples import SAMPLES

runner = CliRunner()
OUTCOMES = ("standard", "rated", "exclusion", "postpone", "decline", "refer")


def count(output: str, label: str) -> int:
    """The number in the summary table's row ``label``."""
    found = re.search(rf"^\W*{re.escape(label)}\s*\W\s*(\d+)\s*\W*$", output, flags=re.MULTILINE)
    assert found is not None, f"no row {label!r} in the summary:\n{output}"
    return int(found.group(1))


def test_policy_demo_lives_a_year_and_the_ledger_verifies(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    env = {"LIFELEDGER_CHAIN_URL": "none"}
    result = runner.invoke(app, ["demo", "--policies", "30", "--data-dir", data], env=env)
    assert result.exit_code == 0, result.output
    summary = result.stdout
    assert count(summary, "customers") == 30
    applications = count(summary, "applications")
    assert applications >= 30
    outcomes = {outcome: count(summary, f"outcome: {outcome}") for outcome in OUTCOMES}
    assert all(n >= 1 for n in outcomes.values()), outcomes
    assert sum(outcomes.values()) == applications  # each application was underwritten exactly once
    issued = count(summary, "policies issued")
    assert 0 < issued < applications  # declined and postponed applications are not issued
    assert count(summary, "e-policies registered") >= issued
    assert count(summary, "payments parked") >= 1
    assert count(summary, "payments applied") > issued  # first premiums and renewals
    assert count(summary, "grace periods started") >= count(summary, "policies lapsed") > 0
    assert count(summary, "cancelled in free look") == 1

    verify = runner.invoke(app, ["verify", "--data-dir", data], env=env)
    assert verify.exit_code == 0, verify.output
    assert verify.stdout.startswith("verify ok: ")


def test_the_demo_declares_the_shipped_samples_and_its_showcase_reaches_every_outcome() -> None:
    # Occupation class 6 is a sample no shipped product accepts (an application would be refused, not underwritten).
    assert set(SAMPLES) - set(demo.SAMPLES) == {"occupation_class_6"}
    assert set(demo.DECLARATIONS) == set(demo.SAMPLES)
    assert {SAMPLES[name].outcome for name, _ in demo.SHOWCASE} == set(OUTCOMES)
