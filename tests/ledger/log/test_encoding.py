"""The one home of encoding: canonical JSON agrees with the rfc8785 library byte for byte, fast path or not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ValidationFailed
from ledger.log.encoding import MAX_EXACT_INTEGER, canonical_json, plain_members, plain_string

ROOT = Path(__file__).resolve().parents[3]

keys = st.text(max_size=6)
scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=12),
                    st.integers(-MAX_EXACT_INTEGER, MAX_EXACT_INTEGER),
                    st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=20)


@settings(max_examples=1500, deadline=None)
@given(values)
def test_canonical_json_is_rfc8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        with pytest.raises(ValidationFailed):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize("value", [
    {"\ue000": 1, "\U0001f600": 2},  # code point order and UTF-16 order disagree here
    {"a": "\x00\x1f\x7f\"\\\b\f\n\r\t\u2028"},
    {"amount": "41.20", "保费": "首期", "n": [1, True, None]},
    [1e21, 1e-7, 0.1, -0.0, 100.0],
    {"big": MAX_EXACT_INTEGER, "small": -MAX_EXACT_INTEGER},
    {"beneficiaries": [("赵*", "100%")], "pair": ("a", 1, None, True), "empty": ()},  # tuples are arrays too
])
def test_edge_values_agree(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_every_character_below_u0800_and_the_bmp_edges_agree() -> None:
    # The fast path writes strings and keys with orjson: its escapes and key order must be JCS's for each one.
    characters = [chr(c) for c in range(0x800)] + ["\u2028", "\u2029", "\ud7ff", "\ue000", "\ufeff", "\uffff", "中"]
    for character in characters:
        value = {f"k{character}": f"a{character}b", "z": [character, 1, True, None], character: {}}
        assert canonical_json(value) == rfc8785.dumps(value), repr(character)
    keyed = {f"{a}{b}": n for n, (a, b) in enumerate(zip(characters, reversed(characters), strict=True))}
    assert canonical_json(keyed) == rfc8785.dumps(keyed)


def encoded_apart(build: str) -> str:
    """What ``canonical_json`` of the value ``build`` makes says, run in a process of its own: a crash or a hang
    there fails the test instead of ending the session. "ok", or the refusal's message."""
    script = (f"{build}\n"
              "from ledger.errors import ValidationFailed\n"
              "from ledger.log.encoding import canonical_json\n"
              "try:\n"
              "    canonical_json(value)\n"
              "    print('ok')\n"
              "except ValidationFailed as exc:\n"
              "    print('refused:', exc.message[:80])\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done.stdout.strip()


def test_deeply_nested_tuples_are_an_error_not_a_crash() -> None:
    # orjson bounds the nesting of lists but not of tuples, and a few thousand levels of them corrupt its memory:
    # tuples must never reach it.
    said = encoded_apart("value = 'x'\nfor _ in range(5000): value = (value,)\nvalue = {'deep': value}")
    assert said.startswith("refused: value cannot be canonicalised"), said


@pytest.mark.parametrize("build", ["value = []; value.append(value)", "value = {}; value['self'] = [value, value]"])
def test_a_value_that_contains_itself_is_refused_not_walked_forever(build: str) -> None:
    said = encoded_apart(build)
    assert said.startswith("refused: value cannot be canonicalised"), said


@pytest.mark.parametrize("value", [{"n": MAX_EXACT_INTEGER + 1}, {"s": "\ud800"}, {1: "not a string key"},
                                   {"f": float("nan")}])
def test_what_jcs_cannot_carry_is_refused(value: object) -> None:
    with pytest.raises(ValidationFailed, match="cannot be canonicalised"):
        canonical_json(value)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet=st.characters(min_codepoint=0x61, max_codepoint=0x7a), min_size=1),
                          st.one_of(st.text(max_size=10), st.integers(-2**60, 2**60))), max_size=6,
                unique_by=lambda item: item[0]))
def test_plain_members_agree_or_step_aside(members: list[tuple[str, str | int]]) -> None:
    members = sorted(members)
    fast = plain_members(members)
    try:
        expected = rfc8785.dumps(dict(members))
    except rfc8785.CanonicalizationError:
        assert fast is None
        return
    assert fast is None or fast == expected
    if all((isinstance(v, int) and abs(v) <= MAX_EXACT_INTEGER) or (isinstance(v, str) and v.isascii()
           and v.isprintable() and '"' not in v and "\\" not in v) for _, v in members):
        assert fast == expected
    for _, value in members:
        if isinstance(value, str):
            assert plain_string(value) in (None, rfc8785.dumps(value))
