"""The e-policy PDF: same view, same bytes (in any process); every field shows; people only masked; the QR code."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import segno

from ledger.documents.epolicy import (
    Beneficiary,
    Bilingual,
    EPolicyView,
    ScheduleRow,
    render_epolicy,
    verification_url,
)
from ledger.errors import ValidationFailed
from ledger.parties.identity import mask_name
from tests.ledger.documents.pdfread import matrix_from_form, objects, shown_text
from tests.ledger.documents.samples import BASE_URL, BENEFICIARIES, INSURED, POLICYHOLDER, typical_view

ROOT = Path(__file__).resolve().parents[3]
RENDER_IN_CHILD = (
    "import hashlib, sys\n"
    "from ledger.documents.epolicy import render_epolicy\n"
    "from tests.ledger.documents.samples import typical_view\n"
    "sys.stdout.write(hashlib.sha256(render_epolicy(typical_view())).hexdigest())\n"
)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_epolicy(typical_view())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_it_is_a_whole_pdf_file(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-1.")
    assert pdf.rstrip(b"\r\n").endswith(b"%%EOF")
    assert b"/Count 1 " in pdf  # a typical policy fits one page
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in pdf  # A4
    assert b"/FontFile" not in pdf  # no font is embedded: STSong-Light is one the viewer has
    assert b"/BaseFont /STSong-Light" in pdf
    assert b"/Encoding /UniGB-UCS2-H " in pdf  # Unicode text, set horizontally (-V would set it in columns)


def test_the_same_view_gives_the_same_bytes(pdf: bytes) -> None:
    assert render_epolicy(typical_view()) == pdf
    assert render_epolicy(typical_view()) == render_epolicy(typical_view())


def test_the_clock_does_not_reach_the_bytes(pdf: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert render_epolicy(typical_view()) == pdf
    assert b"/CreationDate (D:20250601000000+08'00')" in pdf
    assert b"/ModDate (D:20250601000000+08'00')" in pdf


HOSTILE_ENVIRONMENT = {
    # Everything in the environment that could move reportlab's or Python's output.
    "SOURCE_DATE_EPOCH": "1700000000", "TZ": "America/New_York", "PYTHONHASHSEED": "4242", "LANG": "C",
    "RL_useA85": "0", "RL_pdfMultiLine": "1", "RL_invariant": "0", "RL_canvas_basefontname": "Courier",
    "RL_defaultEncoding": "MacRomanEncoding", "RL_pageCompression": "0",
}


@pytest.mark.parametrize(
    ("environment", "prelude"),
    [
        ({}, ""),
        (HOSTILE_ENVIRONMENT, ""),
        # reportlab's own "Helvetica" made earlier in the process, in the encoding the environment asks for
        (HOSTILE_ENVIRONMENT, "from reportlab.pdfbase import pdfmetrics\npdfmetrics.getFont('Helvetica')\n"),
        # reportlab without its C helpers (rl_accel), as where that package is not installed
        ({}, "import sys\nsys.modules['_rl_accel'] = None\n"
             "import reportlab.lib.rl_accel as a\nassert a.fp_str.__module__ == 'reportlab.lib.rl_accel'\n"),
    ],
    ids=["plain", "hostile-environment", "helvetica-made-before", "pure-python-reportlab"],
)
def test_another_process_renders_the_same_bytes(pdf: bytes, environment: dict[str, str], prelude: str) -> None:
    env = {**os.environ, **environment}
    child = subprocess.run([sys.executable, "-c", prelude + RENDER_IN_CHILD], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout == sha(pdf)


CHANGES: dict[str, Any] = {
    "policy_no": "P2025000124",
    "version": 3,
    "issued_on": date(2025, 6, 2),
    "effective_on": date(2025, 5, 21),
    "product_name": Bilingual("安康终身重大疾病保险(2025版)", "AnKang Whole-Life Critical Illness Insurance"),
    "product_id": "ci-wholelife-10pay",
    "product_version": "2025.2",
    "product_digest": "sha256:" + "ab" * 31 + "ac",
    "policyholder": mask_name("李四"),
    "insured": mask_name("Han Meimei"),
    "beneficiaries": (),
    "schedule": (*typical_view().schedule[:-1], ScheduleRow(Bilingual("核保结论", "Underwriting result"), "标准体")),
    "terms": typical_view().terms[:2],
    "exclusions": (),
    "verification_url": verification_url(BASE_URL, policy_no="P2025000123", version=22),
    "supersedes_digest": "sha256:" + "cd" * 31 + "ce",
}
NESTED_CHANGES: dict[str, Any] = {
    "product name in English": {"product_name": Bilingual("安康终身重大疾病保险", "AnKang CI")},
    "a beneficiary's share": {"beneficiaries": (Beneficiary(mask_name(BENEFICIARIES[0]), "50%"),
                                                Beneficiary(mask_name(BENEFICIARIES[1]), "50%"))},
    "a schedule value by a cent": {"schedule": (ScheduleRow(Bilingual("基本保险金额", "Sum insured"),
                                                            "CNY 500,000.01"), *typical_view().schedule[1:])},
    "a schedule label": {"schedule": (ScheduleRow(Bilingual("基本保险金额", "Basic sum insured"), "CNY 500,000.00"),
                                      *typical_view().schedule[1:])},
    "a term in English": {"terms": (*typical_view().terms[:2], Bilingual(typical_view().terms[2].zh, "Grace: 60 d"))},
    "an exclusion in Chinese": {"exclusions": (Bilingual("甲状腺疾病", typical_view().exclusions[0].en),)},
}


def test_every_field_is_covered_by_a_change() -> None:
    assert set(CHANGES) == {field.name for field in dataclasses.fields(EPolicyView)}


def test_a_change_of_any_field_changes_the_bytes(pdf: bytes) -> None:
    digests = {"unchanged": sha(pdf)}
    for name, value in CHANGES.items():
        digests[name] = sha(render_epolicy(typical_view(**{name: value})))
    for name, changes in NESTED_CHANGES.items():
        digests[name] = sha(render_epolicy(typical_view(**changes)))
    assert len(set(digests.values())) == len(digests), digests


def test_the_people_appear_masked_and_never_in_full(pdf: bytes) -> None:
    text = shown_text(pdf)
    for masked in ("张**", "L* L**", "王**  60%", "欧***  40%"):
        assert masked in text
    streams = b"".join(stream for _, stream in objects(pdf))
    for name in (POLICYHOLDER, INSURED, *BENEFICIARIES):
        for hidden in (name, name[1:]):
            assert hidden not in text
            for encoding in ("utf-16-be", "utf-8"):
                assert hidden.encode(encoding) not in pdf + streams


def test_legal_heirs_are_named_when_no_beneficiary_is() -> None:
    assert "法定继承人 / legal heirs" in shown_text(render_epolicy(typical_view(beneficiaries=())))


def test_the_schedule_terms_and_exclusions_are_printed_in_both_languages(pdf: bytes) -> None:
    text = shown_text(pdf)
    view = typical_view()
    for row in view.schedule:
        assert row.label.zh in text and row.label.en in text
    for value in ("CNY 500,000.00", "CNY 15,656.55 每年 / annual", "2026-05-20", "20 年 / 20 years"):
        assert value in text
    for item in (*view.terms, *view.exclusions):
        assert item.zh in text and item.en in text
    for fact in ("P2025000123", "2025-06-01", "2025-05-20", "ci-wholelife-20pay", "2025.1", view.product_digest,
                 view.product_name.zh, view.product_name.en, view.verification_url):
        assert fact in text


def test_the_version_history_is_printed() -> None:
    second = shown_text(render_epolicy(typical_view()))
    assert "Version 2, supersedes version 1: sha256:" + "cd" * 32 in second
    first = shown_text(render_epolicy(typical_view(version=1, supersedes_digest=None)))
    assert "Version 1, first issue" in first and "supersedes" not in first


def test_no_exclusions_reads_none() -> None:
    text = shown_text(render_epolicy(typical_view(exclusions=())))
    assert "Exclusions particular to this policy1.无None" in text


def test_the_qr_code_drawn_is_segnos_code_for_the_verification_url(pdf: bytes) -> None:
    expected = segno.make(typical_view().verification_url, error="m", micro=False).matrix
    assert matrix_from_form(pdf) == tuple(tuple(bool(module) for module in row) for row in expected)
    other = segno.make(verification_url(BASE_URL, policy_no="P2025000123", version=1), error="m", micro=False)
    assert matrix_from_form(pdf) != tuple(tuple(bool(module) for module in row) for row in other.matrix)


def test_a_long_policy_continues_on_a_second_page_with_footers_on_both() -> None:
    many = tuple(Bilingual(f"第{i}项特别约定的除外责任", f"Exclusion number {i} particular to this policy")
                 for i in range(1, 21))
    long_pdf = render_epolicy(typical_view(exclusions=many))
    text = shown_text(long_pdf)
    assert b"/Count 2 " in long_pdf
    assert "Page 1" in text and "Page 2" in text and "P2025000123 (续 continued)" in text
    assert text.count("验证 Verify: " + typical_view().verification_url) == 2
    assert "Exclusion number 20 particular to this policy" in text


def test_a_long_value_wraps_inside_its_cell() -> None:
    long_value = "甲状腺结节 " * 40 + "END"
    text = shown_text(render_epolicy(typical_view(schedule=(ScheduleRow(Bilingual("核保结论", "Result"),
                                                                         long_value),))))
    assert "END" in text
    assert text.count("甲状腺结节") == 40


# --- the view refuses what it must not print ---

@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"version": 1}, "supersedes_digest"),
        ({"version": 2, "supersedes_digest": None}, "supersedes_digest"),
        ({"supersedes_digest": "sha256:" + "CD" * 32}, "supersedes_digest"),
        ({"product_digest": "ab" * 32}, "product_digest"),
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"policy_no": " "}, "policy_no"),
        ({"policyholder": POLICYHOLDER}, "policyholder"),
        ({"insured": INSURED}, "insured"),
        ({"beneficiaries": (Beneficiary(BENEFICIARIES[0], "100%"),)}, "beneficiaries[0].name"),
        ({"issued_on": datetime(2025, 6, 1, 12, 0)}, "issued_on"),
        ({"verification_url": "javascript:alert(1)"}, "verification_url"),
    ],
)
def test_a_view_that_breaks_a_rule_is_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        typical_view(**changes)
    assert caught.value.field == field


def test_version_one_without_a_predecessor_is_accepted() -> None:
    assert typical_view(version=1, supersedes_digest=None).supersedes_digest is None


# --- the verification URL ---

@pytest.mark.parametrize(
    ("base", "policy_no", "version", "url"),
    [
        ("https://verify.example.cn", "P2025000123", 2, "https://verify.example.cn/verify#policy=P2025000123&version=2"),
        ("https://verify.example.cn/", "P1", 1, "https://verify.example.cn/verify#policy=P1&version=1"),
        ("https://example.cn/ledger", "P1", 10, "https://example.cn/ledger/verify#policy=P1&version=10"),
        ("http://127.0.0.1:8000", "A&B 1/2", 3, "http://127.0.0.1:8000/verify#policy=A%26B%201%2F2&version=3"),
    ],
)
def test_verification_url(base: str, policy_no: str, version: int, url: str) -> None:
    assert verification_url(base, policy_no=policy_no, version=version) == url


@pytest.mark.parametrize(
    ("base", "policy_no", "version", "field"),
    [
        ("verify.example.cn", "P1", 1, "base_url"),
        ("ftp://verify.example.cn", "P1", 1, "base_url"),
        ("https://verify.example.cn?x=1", "P1", 1, "base_url"),
        ("https://verify.example.cn#top", "P1", 1, "base_url"),
        ("https://verify.example.cn", "", 1, "policy_no"),
        ("https://verify.example.cn", "P1", 0, "version"),
        ("https://verify.example.cn", "P1", True, "version"),
    ],
)
def test_verification_url_refuses(base: str, policy_no: str, version: int, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        verification_url(base, policy_no=policy_no, version=version)
    assert caught.value.field == field


def test_verification_url_pins_the_ledgers_key_id_in_the_fragment() -> None:
    url = verification_url("https://verify.example.cn", policy_no="P1", version=2, key_id="0a1b2c3d")
    assert url == "https://verify.example.cn/verify#policy=P1&version=2&vkey=0a1b2c3d"
    for bad in ("0A1B2C3D", "0a1b2c3", "0a1b2c3d0", "lifeledger+0a1b2c3d"):
        with pytest.raises(ValidationFailed) as caught:
            verification_url("https://verify.example.cn", policy_no="P1", version=2, key_id=bad)
        assert caught.value.field == "key_id"
