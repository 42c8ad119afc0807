"""The servicing demo on a fresh data dir, run as the command line runs it: every operation of the catalog asked
for (or skipped with the rule no policy met), summary counts that add up, every request ended, the correlation
rules fired on the showcase's account, beneficiary and owner changes, and a ledger that verifies afterwards."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from api.cli import demo_servicing as demo
from ledger.servicing.catalog import default_catalog_path, load_catalog

runner = CliRunner()
ENV = {"LIFELEDGER_CHAIN_URL": "none"}
CATALOG = [operation.code for operation in load_catalog(default_catalog_path()).operations()]
SHOWCASE_FLAGS = ("ACCOUNT-THEN-CASH", "BENEFICIARY-THEN-CASH", "OWNER-THEN-SURRENDER", "ACCOUNT-CHANGES-IN-MONTH")


def table(output: str, title: str) -> dict[str, list[str]]:
    """The rows of the summary table titled ``title``: first cell -> the other cells."""
    lines = output.splitlines()
    start = lines.index(title)
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


def number(cell: str) -> float:
    found = re.match(r"^([0-9.]+)", cell)
    assert found is not None, cell
    return float(found.group(1))


def test_servicing_demo_asks_for_every_operation_and_the_ledger_verifies(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    result = runner.invoke(app, ["demo", "--servicing", "30", "--data-dir", data], env=ENV)
    assert result.exit_code == 0, result.output
    out = result.stdout

    asked = table(out, "servicing requests by operation")
    final = table(out, "final status of the submitted requests")
    totals = table(out, "servicing demo")
    flags = table(out, "correlation flags by rule")
    refusals = table(out, "refusals by rule")
    skipped = table(out, "skipped: no demo policy met the rule when the customer came to ask")

    assert list(asked) == [*CATALOG, "all"] and list(final) == [*CATALOG, "all"]
    for operation in CATALOG:
        n_asked, n_refused, n_submitted, n_skipped = (int(c) for c in asked[operation])
        assert n_asked == n_refused + n_submitted, operation  # every request asked was refused or recorded
        assert sum(int(c) for c in final[operation]) == n_submitted, operation  # each recorded one has a status
        if n_asked == 0:  # never asked: only when skipped, naming the rule no policy met and what it says
            assert n_skipped > 0, operation
            assert any(row[0] and row[2] for name, row in skipped.items() if name == operation), operation
    n_asked, n_refused, n_submitted, n_skipped = (int(c) for c in asked["all"])
    completed, rejected, withdrawn, still_open = (int(c) for c in final["all"])
    assert n_asked + n_skipped == int(totals["requests planned"][0]) == 30
    assert [n_asked, n_refused, n_submitted] == [sum(int(asked[op][k]) for op in CATALOG) for k in range(3)]
    assert completed + rejected + withdrawn == n_submitted and still_open == 0  # every request ended
    assert sum(int(row[0]) for row in refusals.values()) == n_refused == int(totals["requests refused"][0])
    assert sum(int(row[1]) for row in skipped.values()) == n_skipped
    assert int(totals["operations asked at least once"][0]) == sum(int(asked[op][0]) > 0 for op in CATALOG) == 24

    # the showcase: correlation rules fire, staff reject and ask for documents, a customer withdraws, a second
    # clerk approves a four-eyes request, codes confirm the high-risk ones and the clock ends cooling-off periods
    for rule in SHOWCASE_FLAGS:
        assert int(flags[rule][0]) >= 1, rule
    assert int(totals["requests flagged"][0]) >= len(SHOWCASE_FLAGS)
    assert rejected >= 1 and withdrawn >= 1 and completed >= 24
    assert int(totals["staff: documents asked for"][0]) >= 1
    assert int(totals["four-eyes requests"][0]) >= 1 and int(totals["staff: second approvals (four eyes)"][0]) >= 1
    assert int(totals["requests confirmed with the one-time code"][0]) >= 8
    assert int(totals["completed by the servicing clock after the cooling-off"][0]) >= 1
    assert int(totals["completed by the servicing clock after the payment"][0]) == 1  # the reinstatement
    # a loan repayment completes with the customer's payment, which the payments system confirms on the request
    assert int(totals["request payments received (loan repayments)"][0]) == int(final["loan_repayment"][0]) >= 1
    assert int(totals["policy clock: policies lapsed"][0]) >= 1
    assert 0 < number(totals["submit mean, all"][0]) <= number(totals["submit p99, all"][0])
    assert "verify ok: " in out

    verify = runner.invoke(app, ["verify", "--data-dir", data], env=ENV)
    assert verify.exit_code == 0, verify.output
    assert verify.stdout.startswith("verify ok: ")


def test_the_demo_knows_every_operation_of_the_catalog_and_its_showcase_asks_for_each() -> None:
    assert set(demo.USES) == set(CATALOG)
    assert all(set(use.stages) <= set(demo.STAGES) for use in demo.USES.values())
    showcase = demo.SHOWCASE[:len(CATALOG)]
    assert {s.operation for s in showcase} == set(CATALOG)  # the first 24 requests are one of each
    assert all(s.stage in demo.USES[s.operation].stages for s in demo.SHOWCASE)
    assert all(0 <= s.case < len(demo.SHOWCASE_CASES) for s in demo.SHOWCASE)


def test_the_servicing_demo_refuses_a_server_url(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--servicing", "5", "--url", "http://127.0.0.1:9",
                                 "--data-dir", str(tmp_path / "data")], env=ENV)
    assert result.exit_code == 2
    assert "in-process only" in result.output
