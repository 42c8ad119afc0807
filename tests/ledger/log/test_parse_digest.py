"""``parse_digest`` takes one spelling of a digest: ``sha256:`` and exactly 64 lowercase hex digits, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import ValidationFailed
from ledger.log.encoding import digest_str, parse_digest

HEX = "0123456789abcdef" * 4
GOOD = "sha256:" + HEX


def test_the_one_spelling_reads_back() -> None:
    assert parse_digest(GOOD) == bytes.fromhex(HEX)
    assert digest_str(parse_digest(GOOD)) == GOOD


@pytest.mark.parametrize("text", [
    GOOD + "\n",  # trailing newline
    GOOD[:-2] + "\n\n",  # 64 characters, two of them newlines: bytes.fromhex would skip them
    GOOD[:-2] + " \n",
    GOOD[:-2] + "  ",  # trailing spaces
    "sha256:" + " " + HEX[:-1],
    "sha256:" + HEX[:32] + "  " + HEX[34:],  # spaces inside
    "sha256:" + HEX[:32] + "\t" + HEX[33:],
    " " + GOOD,
    "sha256:" + HEX[:-1],  # 63 digits
    "sha256:" + HEX + "0",  # 65 digits
    "sha256:",
    "sha256:" + HEX.upper(),
    "sha256:0x" + HEX[2:],  # a 0x prefix
    "SHA256:" + HEX,
    HEX,
    "sha256:" + HEX[:-1] + "g",
    "sha256:" + HEX[:-1] + "\uff10",  # a full-width digit
])
def test_every_other_spelling_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_digest(text, field="registrations[0].digest")
    assert info.value.field == "registrations[0].digest"
    assert info.value.message.startswith("registrations[0].digest must")


@pytest.mark.parametrize("value", [None, 7, b"sha256:" + HEX.encode(), ["sha256:" + HEX]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_digest(value, field="digest")  # type: ignore[arg-type]
    assert info.value.field == "digest"


def test_the_length_and_the_alphabet_have_their_own_messages() -> None:
    with pytest.raises(ValidationFailed, match=r"exactly 64 lowercase hex digits .* got 63 characters"):
        parse_digest("sha256:" + HEX[:-1])
    with pytest.raises(ValidationFailed, match=r"only lowercase hex digits \(0-9 a-f\)"):
        parse_digest("sha256:" + HEX[:-2] + "\n\n")


@given(st.binary(min_size=32, max_size=32), st.text(min_size=1, max_size=3), st.integers(0, 63))
def test_anything_added_or_swapped_into_a_good_digest_is_refused(raw: bytes, extra: str, at: int) -> None:
    text = digest_str(raw)
    assert parse_digest(text) == raw
    corrupted = [text + extra, extra + text]
    if extra.strip("0123456789abcdef"):  # not all lowercase hex: replacing digits with it spoils the digest
        start = len("sha256:") + at
        corrupted.append(text[:start] + extra + text[start + len(extra):])
    for bad in corrupted:
        with pytest.raises(ValidationFailed):
            parse_digest(bad)
