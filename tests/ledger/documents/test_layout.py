"""Line wrapping and font runs for bilingual text."""

from __future__ import annotations

import pytest

from ledger.documents.layout import CJK_FONT, LATIN_FONT, font_for, prepare_reportlab, text_width, wrap


@pytest.fixture(autouse=True)
def _fonts() -> None:
    prepare_reportlab()


def test_each_character_gets_the_font_that_has_it() -> None:
    for latin in ("A", "é", "€", " ", "·"):  # the middle dot is in Windows-1252
        assert font_for(latin) == LATIN_FONT
    for chinese in ("张", "\uff0c", "。", "￥"):
        assert font_for(chinese) == CJK_FONT


def test_widths_add_up_over_runs() -> None:
    assert text_width("张三 Li", 10) == pytest.approx(text_width("张三", 10) + text_width(" Li", 10))
    assert text_width("张三", 10) == pytest.approx(20)  # CJK glyphs are one em wide


@pytest.mark.parametrize("width", [60.0, 90.0, 200.0])
def test_english_wraps_at_spaces_within_the_width(width: float) -> None:
    text = "If the insured is first diagnosed with a covered critical illness the sum insured is paid"
    lines = wrap(text, size=9, width=width)
    assert " ".join(lines) == text
    assert all(text_width(line, 9) <= width for line in lines)
    assert len(lines) > 1


def test_chinese_wraps_between_any_two_characters() -> None:
    text = "被保险人于等待期后初次确诊本合同约定的重大疾病按基本保险金额给付重大疾病保险金"
    lines = wrap(text, size=10, width=55)
    assert "".join(lines) == text
    assert [len(line) for line in lines[:-1]] == [5] * (len(lines) - 1)


def test_a_word_longer_than_the_line_is_cut() -> None:
    digest = "sha256:" + "ab" * 32
    lines = wrap(digest, size=8, width=100)
    assert "".join(lines) == digest
    assert all(text_width(line, 8) <= 100 for line in lines)


def test_line_breaks_in_the_text_are_kept() -> None:
    assert wrap("王**  60%\n欧***  40%", size=9, width=500) == ["王**  60%", "欧***  40%"]
