"""The policy demo on a fresh data dir, run as the command line runs it: every underwriting outcome, policies
issued and lapsed in the clock's year, and a ledger that verifies afterwards; and the demo's copies of domain
helpers (which the edges may not import) held equal to the originals."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from api.cli import demo_policies as demo
from ledger.parties.identity import resident_id_check_char
from ledger.policies.rules.samples import SAMPLES
from ledger.policies.state import add_months

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


def test_the_demo_declares_the_shipped_samples() -> None:
    for name, answers in demo.SAMPLES.items():
        assert dict(answers) == dict(SAMPLES[name].answers), name
        assert SAMPLES[name].occupation_class == 1, name
    # Occupation class 6 is a sample no shipped product accepts (an application would be refused, not underwritten).
    assert set(SAMPLES) - set(demo.SAMPLES) == {"occupation_class_6"}
    assert set(demo.DECLARATIONS) == set(demo.SAMPLES)
    assert {SAMPLES[name].outcome for name, _ in demo.SHOWCASE} == set(OUTCOMES)


def test_identity_check_characters_and_months_step_as_the_ledger_does() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        assert demo.check_char(first17) == resident_id_check_char(first17), first17
    day = date(2027, 1, 1)
    while day < date(2029, 1, 1):
        for months in (-24, -1, 0, 1, 11, 12, 13):
            assert demo.add_months(day, months) == add_months(day, months), (day, months)
        day += timedelta(days=1)
