"""The claims demo on a fresh data dir, run as the command line runs it: every claim type reported and ended, small
claims paid with no person and others after a reviewer's decision, major claims with a named handler and notes,
the showcase's paths (an appeal, a reopening, an advance, a failed payment, a resubmitted invoice), the month's
KPIs printed, and a ledger that verifies afterwards."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from api.cli import demo_claims as demo

runner = CliRunner()
ENV = {"LIFELEDGER_CHAIN_URL": "none"}
CLAIM_TYPES = ("medical", "hospital_allowance", "critical_illness", "death", "disability", "accident")


def table(output: str, title: str) -> dict[str, list[str]]:
    """The rows of the summary table whose title starts with ``title``: first cell -> the other cells."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(title))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1:]:
        if line.startswith("└"):
            return rows
        if line.startswith("│"):
            cells = [cell.strip() for cell in line.strip("│").split("│")]
            if cells[0]:
                rows[cells[0]] = cells[1:]
            else:  # a wrapped row continues the one before
                last = next(reversed(rows))
                rows[last] = [f"{a} {b}".strip() for a, b in zip(rows[last], cells[1:], strict=True)]
    raise AssertionError(f"table {title!r} does not end:\n{output}")


def test_a_month_of_claims_ends_every_claim_and_the_ledger_verifies(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    result = runner.invoke(app, ["demo", "--claims", "40", "--data-dir", data], env=ENV)
    assert result.exit_code == 0, result.output
    out = result.stdout

    by_type = table(out, "claims by type")
    counts = {kind: dict(zip(("claims", "no person", "reviewer", "handler", "declined", "open"),
                             (int(c) for c in row), strict=True)) for kind, row in by_type.items()}
    assert list(counts) == [*demo.CLAIM_TYPES, "all"] and set(demo.CLAIM_TYPES) == set(CLAIM_TYPES)
    for kind, row in counts.items():
        assert row["claims"] >= 1, kind  # every claim type was reported
        assert row["open"] == 0, kind  # and every claim ended
        # each claim stands approved by nobody, a reviewer or a handler, or declined
        assert row["no person"] + row["reviewer"] + row["handler"] + row["declined"] == row["claims"], kind
    assert counts["all"]["claims"] == 40
    assert counts["all"]["no person"] >= 1 and counts["all"]["reviewer"] >= 1 and counts["all"]["declined"] >= 1
    for kind in ("critical_illness", "death", "disability"):  # major claims are decided by a named handler
        assert counts[kind]["no person"] == counts[kind]["reviewer"] == 0, kind

    by_status = table(out, "claims by status and track")
    assert sum(int(row[-1]) for row in by_status.values()) == 40
    assert all(int(row[-1]) == 0 for status, row in by_status.items() if status in demo.OPEN)

    major = table(out, "major claims: handler, notes and decision")
    assert major, out
    for claim, (_, handler, decision, notes, _) in major.items():
        assert handler in demo.HANDLERS, claim  # a named handler from the demo's roster ...
        assert int(notes) >= 2, claim  # ... who called the customer and noted the decision
        assert decision in ("approve", "partial", "decline"), claim
    assert {row[0] for row in major.values()} >= {"critical_illness", "death", "disability"}

    totals = {label: row[0] for label, row in table(out, "claims demo").items()}
    assert int(totals["claims reported"]) == 40
    assert int(totals["claims paid automatically with no person"]) >= 1
    assert int(totals["claims paid after a reviewer's decision"]) >= 1
    assert int(totals["e-invoices posted by the hospital (signed)"]) >= 1
    assert int(totals["invoices keyed from pictures"]) >= 1
    # an auditor took the bundle of the claim with the longest history and it verified offline
    bundled = [label for label in totals if label.startswith("entries in the auditor's bundle of claim #")]
    assert len(bundled) == 1 and int(totals[bundled[0]]) >= 10, totals
    # the showcase: an appeal overturned and one upheld, a reopening, an advance, a resubmitted invoice caught by
    # the fraud rule, a failed payment paid again to the new account, documents given after a notice
    assert int(totals["appeals"]) == int(totals["appeals overturned: approved"]) + int(totals["appeals upheld"]) >= 2
    assert int(totals["declined claims reopened with a new document"]) == 1
    assert int(totals["advance payments on a major claim"]) == 1
    assert int(totals["flags confirmed: DUPLICATE-INVOICE"]) == 1
    failed = int(totals["payments failed: the account is closed"])
    assert failed >= 1 and int(totals["new accounts given after a failed payment"]) == failed
    assert int(totals["reviewer: documents asked for"]) >= 1 and int(totals["reviewer: adjusted with a reason"]) >= 1

    kpis = table(out, "claims KPIs")
    for figure in ("fast track paid within 1 working day", "decisions within the statutory deadline",
                   "paid within 10 days of the decision", "decline rate", "automation rate (no person)",
                   "reopen rate", "approval rate (paid, of the claims closed)"):
        value, count_of = kpis[figure]
        count, of = (int(n) for n in count_of.split(" / "))
        assert 0 <= count <= of <= 40, figure
        assert value == (f"{count / of * 100:.1f}%" if of else "-"), figure
    assert int(kpis["decline rate"][1].split(" / ")[0]) >= 1
    assert int(kpis["automation rate (no person)"][1].split(" / ")[0]) <= counts["all"]["no person"]
    to_pay = table(out, "benefits paid, and the time to pay")
    assert int(to_pay["medical"][1]) >= 1 and Decimal(to_pay["death"][0].replace(",", "")) > 0
    assert "verify ok: " in out

    verify = runner.invoke(app, ["verify", "--data-dir", data], env=ENV)
    assert verify.exit_code == 0, verify.output
    assert verify.stdout.startswith("verify ok: ")


def test_the_invoices_come_to_the_benefit_the_demo_aims_at() -> None:
    rng = random.Random(7)
    for social in (True, False):
        facts = demo.amounts(rng, net=Decimal("800"), deductible=Decimal("10000"), social=social)
        total, ineligible, paid = (Decimal(facts[k]) for k in ("total", "ineligible", "social_insurance_paid"))
        # the medical product's formula: (eligible - social insurance paid - deductible) x ratio
        benefit = (total - ineligible - paid - 10000) * (Decimal(1) if social else Decimal("0.6"))
        assert abs(benefit - 800) <= Decimal("0.02"), facts
        assert (paid > 0) is social and 0 < ineligible < total


def test_the_plan_is_seeded_and_its_showcase_has_every_claim_type() -> None:
    def kinds(seed: int) -> list[tuple[str, int, str]]:
        stories, _ = demo.plan(random.Random(seed), count=60, today=date(2026, 12, 1))
        return [(s.kind, s.day, s.action) for s in stories]

    assert kinds(1) == kinds(1) and kinds(1) != kinds(2)
    stories, cases = demo.plan(random.Random(1), count=len(demo.SHOWCASE), today=date(2026, 12, 1))
    assert {demo.KINDS[s.kind][1] for s in stories} == set(CLAIM_TYPES)
    duplicate, original = next((s, s.duplicate) for s in stories if s.duplicate is not None)
    assert original is not None and duplicate.case is stories[original].case  # the same policy, one case
    assert len(cases) == len(stories) - 1
    assert all(s.day < demo.MONTH for s in demo.plan(random.Random(3), count=200, today=date(2026, 12, 1))[0])


def test_the_claims_demo_refuses_a_server_url(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--claims", "5", "--url", "http://127.0.0.1:9",
                                 "--data-dir", str(tmp_path / "data")], env=ENV)
    assert result.exit_code == 2
    assert "in-process only" in result.output
