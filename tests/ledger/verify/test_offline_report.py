"""What the report shows of strings the bundle carries: escaped, on their own line, never a line of their own nor a
terminal control; and whose story it is only once the ledger's record of the read said so."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ledger.verify import offline
from tests.ledger.verify.bundle_helpers import of_type, reseal
from tests.ledger.verify.conftest import Made

Bundle = dict[str, Any]
FORGED_LINE = "X\n\x1b[2K\rverdict: everything checked holds\n"
PREFIXES = ("evidence bundle", "  ", "checks:", "note: ", "verdict: ")


def _run(args: list[str]) -> tuple[int, str, str]:
    out: list[str] = []
    errors: list[str] = []
    status = offline.main(args, out=out.append, err=errors.append)
    return status, "".join(out), "".join(errors)


def test_a_subject_that_would_print_a_verdict_of_its_own_is_shown_escaped_and_only_as_claimed(
        made: Made, tmp_path: Path) -> None:
    bundle = copy.deepcopy(made.bundle)
    bundle["manifest"]["subject"]["id"] = FORGED_LINE
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(reseal(bundle)), encoding="utf-8")
    status, out, err = _run([str(path), "--vkey", made.vkey])
    assert status == 1
    lines = out.splitlines()
    assert "\x1b" not in out and "\r" not in out and all(line.startswith(PREFIXES) for line in lines), lines
    assert [line for line in lines if line.startswith("verdict:")] == [lines[-1]]
    assert lines[-1].startswith("verdict: FAILED at read record: ")
    assert lines[0] == ("evidence bundle: claimed subject claim X\\n\\x1b[2K\\rverdict: everything checked holds\\n "
                        "(not proved: the checks stopped before the one that proves whose story it is)")
    assert err.count("\n") == 1 and "\x1b" not in err and err.startswith("FAILED read record: ")
    report = offline.verify(reseal(bundle), vkey=made.vkey)
    assert report.subject == "" and report.claimed == f"claim {FORGED_LINE}"
    assert report.to_json()["claimed_subject"] == f"claim {FORGED_LINE}"  # JSON carries it as it is, escaped


def test_the_subject_is_the_bundles_only_once_the_read_record_holds(made: Made) -> None:
    report = offline.verify(copy.deepcopy(made.bundle), vkey=made.vkey)
    assert report.subject == report.claimed == f"claim {made.claim_id}"
    assert report.text().startswith(f"evidence bundle: claim {made.claim_id}\n")
    broken = copy.deepcopy(made.bundle)  # the checkpoint no longer opens: nothing says whose story this is
    broken["checkpoint"]["note"] = broken["checkpoint"]["note"].replace("\n", "\n\n", 1)
    report = offline.verify(reseal(broken), vkey=made.vkey)
    assert report.failure is not None and report.failure.name == "checkpoint"
    assert report.subject == "" and report.text().startswith(f"evidence bundle: claimed subject claim {made.claim_id} "
                                                             f"(not proved")


def test_unproved_words_are_shown_escaped_in_text_and_as_json_escapes(made: Made, tmp_path: Path) -> None:
    """An entry's reason is the builder's word, not proved: changing it still verifies, and what it holds reaches
    neither the terminal nor the JSON as a control, a line break or a bidirectional override."""
    bundle = copy.deepcopy(made.bundle)
    reason = "cited\u202e by\u2028 the\x9b claim\x7f \u3000\u4e2d\u6587"
    of_type(bundle, "medical.invoice.issued")["reason"] = reason
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(reseal(bundle)), encoding="utf-8")
    status, out, err = _run([str(path), "--vkey", made.vkey])
    assert (status, err) == (0, "")
    assert "cited\\u202e by\\u2028 the\\x9b claim\\x7f \u3000\u4e2d\u6587" in out  # spaces and text stay
    assert not any(char in out for char in "\u202e\u2028\x9b\x7f")
    status, out, err = _run([str(path), "--vkey", made.vkey, "--json"])
    assert status == 0 and not any(char in out for char in "\u202e\u2028\x9b\x7f")
    assert "\\u202e" in out and "\u4e2d\u6587" in out
    assert reason in json.loads(out)["facts"]["supporting entries"]  # the reader gets the words back as they were


def test_printable_escapes_what_a_terminal_acts_on_and_keeps_text() -> None:
    assert offline.printable("\u7406\u8d54 claim\u3000A\u00a0B") == "\u7406\u8d54 claim\u3000A\u00a0B"
    assert offline.printable("a\nb\tc\x1b[31m") == "a\\nb\\tc\\x1b[31m"
    assert offline.printable("\u200b\u2029\U000e0001\ue000") == "\\u200b\\u2029\\U000e0001\\ue000"
    assert offline.one_line("two\nlines\x00") == "two\\nlines\\x00"
    assert offline.printable("\ud800") == "\\ud800"  # a lone surrogate cannot even be written out raw
    assert json.loads(offline.json_text({"s": "\ud800\u202e\U0001f600"})) == {"s": "\ud800\u202e\U0001f600"}
    assert offline.json_text("\u202e\U000e0001").isascii()
