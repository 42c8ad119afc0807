"""scripts/bench_verify_page.py run once, small, on the embedded chain: every case shows the verdict it should,
every phase is timed, the padded PDF has the size asked for and is a PDF poppler reads (poppler-utils is a test
dependency: `make system-deps` and .ci/run install it). The speed target is not asserted: the figures depend on
the machine."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.chromium


def test_a_short_run_times_every_phase_of_every_case(tmp_path: Path) -> None:
    out = tmp_path / "verify.json"
    done = subprocess.run(
        [sys.executable, "scripts/bench_verify_page.py", "--rounds", "1", "--log-entries", "50", "--size-mb", "1",
         "--format", "markdown", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert "errors" not in report, report.get("errors")
    pages = report["pages"]
    assert set(pages) == {"epolicy", "large", "large-superseded"}
    for name, case in pages.items():
        assert case["failures"] == 0 and len(case["rounds"]) == 1, name
        for phase in ("read_ms", "hash_ms", "fetch_ms", "check_ms", "total_ms", "load_ms"):
            assert case[phase]["n"] == 1 and case[phase]["median_ms"] >= 0, (name, phase)
        assert case["total_ms"]["median_ms"] >= case["hash_ms"]["median_ms"]
    assert pages["large"]["bytes"] == pages["large-superseded"]["bytes"] == 1024 * 1024
    assert report["setup"]["log_size"] > 50 and report["setup"]["anchor_wait_seconds"] >= 0
    names = {check["name"] for check in report["targets"]}
    assert "padded PDF, genuine (1.0 MB): check max" in names
    assert "| padded PDF, superseded | 1,024 |" in done.stdout


def one_page_pdf() -> bytes:
    """A minimal valid PDF of one empty page, its cross-reference offsets computed."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 4\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % at for at in offsets)
    return out + b"trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def test_the_padding_is_an_incremental_update_that_keeps_the_pdf_readable(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # the script imports its sibling modules
    bench = load_script("bench_verify_page")
    original = one_page_pdf()
    padded = bench.padded_pdf(original, 4096, seed=7)
    assert len(padded) == 4096 and padded.startswith(original)
    tail = padded[len(original):]
    previous = int(original.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert tail.startswith(b"4 0 obj\n<< /Length ") and b"/Root 1 0 R" in tail and b"/Prev %d" % previous in tail
    xref_at = int(tail.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert padded[xref_at:].startswith(b"xref\n4 1\n%010d 00000 n " % len(original))
    assert padded.endswith(b"%%EOF\n")
    assert bench.padded_pdf(original, 4096, seed=7) == padded != bench.padded_pdf(original, 4096, seed=8)
    with pytest.raises(ValueError):
        bench.padded_pdf(original, 100, seed=7)
    if shutil.which("pdfinfo") is None:
        pytest.fail("pdfinfo is missing: install Debian's poppler-utils (`make system-deps` or .ci/run does)")
    path = tmp_path / "padded.pdf"
    path.write_bytes(padded)
    assert bench.pdfinfo(path) == "pdfinfo: 1 page(s), 0 warning(s)"
