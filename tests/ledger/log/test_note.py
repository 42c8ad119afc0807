"""Tests for ledger.log.note and ledger.log.checkpoint: the C2SP checkpoint vector, round trips, corruption probes
and strict parsing."""

from __future__ import annotations

import base64
import json
import re
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError, SignatureError, ValidationFailed, VerificationError
from ledger.log.checkpoint import Checkpoint, open_checkpoint
from ledger.log.encoding import b64, unb64
from ledger.log.note import (
    MAX_SIGNATURES,
    NoteSigner,
    NoteVerifier,
    SignedNote,
    key_id,
    vkey,
)
from tests.factories import VECTORS


@cache
def load_vector(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text("utf-8"))
    return data


def vector() -> dict[str, Any]:
    return load_vector("c2sp-checkpoint.json")


def make_signer(seed: bytes, name: str) -> NoteSigner:
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(seed))


def vector_signer() -> NoteSigner:
    return make_signer(bytes.fromhex(vector()["seed_hex"]), vector()["key_name"])


def vector_verifier() -> NoteVerifier:
    return NoteVerifier.from_vkey(vector()["vkey"])


NAME = "lifeledger.example/log"
OTHER_SEED = bytes(range(32, 64))


def signature_line(note: str) -> str:
    return note[note.rindex("\n\n") + 2 :]


def replace_signature(note: str, name: str, raw: bytes) -> str:
    return note[: note.rindex("\n\n") + 2] + f"\u2014 {name} {b64(raw)}\n"


def raw_signature(note: str) -> bytes:
    return unb64(signature_line(note).rstrip("\n").split(" ")[2])


# --- the published vector -------------------------------------------------------------------------


def test_vector_vkey_and_key_id() -> None:
    signer = vector_signer()
    data = vector()
    assert signer.vkey == data["vkey"]
    assert signer.name == data["key_name"]
    assert signer.key_id.hex() == data["vkey"].split("+")[1] == "39e31a2e"
    assert key_id(signer.name, signer.public_key) == signer.key_id
    assert vkey(signer.name, signer.public_key) == data["vkey"]
    verifier = vector_verifier()
    assert (verifier.name, verifier.key_id, verifier.public_key) == (
        signer.name,
        signer.key_id,
        signer.public_key,
    )
    assert verifier.vkey == data["vkey"]


def test_vector_checkpoint_body() -> None:
    data = vector()
    root = unb64(load_vector("rfc9162.json")["roots"]["8"])  # the 8-leaf RFC 9162 tree
    checkpoint = Checkpoint(origin=data["key_name"], size=8, root=root)
    assert checkpoint.body() == data["checkpoint_body"].encode("utf-8")
    assert Checkpoint.from_body(data["checkpoint_body"]) == checkpoint


def test_vector_signed_note_byte_for_byte() -> None:
    data = vector()
    note = vector_signer().sign(data["checkpoint_body"].encode("utf-8"))
    assert note == data["signed_note"]
    assert note.encode("utf-8") == data["signed_note"].encode("utf-8")
    assert vector_verifier().verify(data["signed_note"]) == data["checkpoint_body"].encode("utf-8")
    checkpoint = open_checkpoint(data["signed_note"], vector_verifier(), origin=data["key_name"])
    assert checkpoint == Checkpoint.from_body(data["checkpoint_body"])


def test_signed_note_parts() -> None:
    parsed = SignedNote.from_text(vector()["signed_note"])
    assert parsed.text == vector()["checkpoint_body"]
    assert len(parsed.signatures) == 1
    (signature,) = parsed.signatures
    assert (signature.name, signature.key_id) == (NAME, vector_signer().key_id)
    assert len(signature.signature) == 64


# --- round trips ----------------------------------------------------------------------------------

key_names = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="+"), min_size=1
).filter(lambda name: not any(char.isspace() for char in name))
origins = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    name=key_names,
    origin=origins,
    size=st.integers(0, (1 << 64) - 1),
    root=st.binary(min_size=32, max_size=32),
)
def test_round_trip(seed: bytes, name: str, origin: str, size: int, root: bytes) -> None:
    checkpoint = Checkpoint(origin=origin, size=size, root=root)
    assert Checkpoint.from_body(checkpoint.body().decode("utf-8")) == checkpoint
    signer = make_signer(seed, name)
    verifier = NoteVerifier.from_vkey(signer.vkey)
    assert verifier.key_id == signer.key_id
    note = signer.sign(checkpoint.body())
    assert open_checkpoint(note, verifier, origin=origin) == checkpoint
    assert open_checkpoint(note, signer.verifier()) == checkpoint


def test_other_signatures_are_ignored_but_ours_is_required() -> None:
    body = vector()["checkpoint_body"].encode("utf-8")
    ours, witness = vector_signer(), make_signer(OTHER_SEED, "witness.example/w1")
    cosigned = witness.sign(body) + ours.signature_line(body)
    assert ours.verifier().verify(cosigned) == body
    assert witness.verifier().verify(cosigned) == body
    with pytest.raises(SignatureError, match=re.escape("no signature by lifeledger.example/log")):
        ours.verifier().verify(witness.sign(body))


def test_many_signatures_up_to_the_limit() -> None:
    body = vector()["checkpoint_body"].encode("utf-8")
    ours = vector_signer()
    others = "".join(f"\u2014 witness{i}.example {b64(bytes([i]) * 68)}\n" for i in range(MAX_SIGNATURES - 1))
    note = body.decode() + "\n" + others + ours.signature_line(body)
    assert MAX_SIGNATURES >= 16
    assert ours.verifier().verify(note) == body
    crowded = (
        body.decode() + "\n" + f"\u2014 extra.example {b64(bytes(68))}\n" + others + ours.signature_line(body)
    )
    with pytest.raises(ValidationFailed, match=f"at most {MAX_SIGNATURES}"):
        ours.verifier().verify(crowded)


# --- corruption probes ----------------------------------------------------------------------------


def test_every_single_character_change_is_refused() -> None:
    note = vector()["signed_note"]
    body_length = len(vector()["checkpoint_body"])
    verifier = vector_verifier()
    for position, char in enumerate(note):
        changed = note[:position] + ("x" if char == "\n" else chr(ord(char) ^ 1)) + note[position + 1 :]
        expected: type[LedgerError] = (
            SignatureError if position < body_length - 1 and char != "\n" else LedgerError
        )
        with pytest.raises(expected):
            verifier.verify(changed)
            pytest.fail(f"change at {position} accepted")


def test_every_signature_bit_flip_is_refused() -> None:
    note = vector()["signed_note"]
    raw = raw_signature(note)
    verifier = vector_verifier()
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        # Flips in the key id make the line someone else's (ignored); flips in the signature fail it.
        with pytest.raises(SignatureError):
            verifier.verify(replace_signature(note, NAME, bytes(flipped)))


def test_every_truncation_is_refused() -> None:
    note = vector()["signed_note"]
    verifier = vector_verifier()
    for length in range(len(note)):
        with pytest.raises(LedgerError):
            verifier.verify(note[:length])


@pytest.mark.parametrize(
    ("verifier", "message"),
    [
        (lambda: make_signer(OTHER_SEED, NAME).verifier(), "no signature by"),
        (
            lambda: NoteVerifier("other.example/log", vector_signer().public_key),
            "no signature by other.example/log",
        ),
        (lambda: make_signer(OTHER_SEED, "other.example/log").verifier(), "no signature by"),
    ],
    ids=["same-name-other-key", "same-key-other-name", "other-name-other-key"],
)
def test_other_keys_do_not_verify(verifier: Any, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verifier().verify(vector()["signed_note"])


def _note() -> str:
    note: str = vector()["signed_note"]
    return note


def _body() -> str:
    body: str = vector()["checkpoint_body"]
    return body


@pytest.mark.parametrize(
    ("note", "error", "message"),
    [
        (lambda: _note()[:-1], ValidationFailed, "must end with a newline"),
        (lambda: _note().replace("\n", "\r\n"), ValidationFailed, "carriage return"),
        (lambda: _note().replace("\n8\n", "\n8\r\n"), ValidationFailed, "carriage return"),
        (lambda: _note().replace("\n\n", "\n"), ValidationFailed, "no blank line"),
        (lambda: _body() + "\n", ValidationFailed, "no signature lines"),
        (lambda: _body(), ValidationFailed, "no blank line"),
        (lambda: "", ValidationFailed, "must end with a newline"),
        (lambda: _note() + signature_line(_note()), ValidationFailed, "repeats a signature"),
        (lambda: _note() + "\n", ValidationFailed, "no signature lines"),
        (lambda: _note().replace("\n\n", "\n\n\n"), SignatureError, "does not verify"),
        (lambda: _note().replace("\n8\n", "\n8\n8\n"), SignatureError, "does not verify"),
        (lambda: _note().replace("\n8\n", "\n9\n"), SignatureError, "does not verify"),
        (lambda: _note().replace("log\n8", "log\n\t8"), ValidationFailed, "control character U\\+0009"),
        (lambda: _note().replace("\u2014", "-"), ValidationFailed, "does not start with an em dash"),
        (lambda: _note().replace("\u2014 ", "\u2014"), ValidationFailed, "does not start with an em dash"),
        (lambda: _note().replace("/log O", "/log  O"), ValidationFailed, "not standard padded base64"),
        (lambda: _note().replace("As=\n", "As= \n"), ValidationFailed, "not standard padded base64"),
        (lambda: _note().replace("As=\n", "As\n"), ValidationFailed, "not standard padded base64"),
        (lambda: _note()[: _note().rindex(" ")] + "\n", ValidationFailed, "no signature after the key name"),
        (lambda: _note()[: _note().rindex(" ") + 1] + "\n", ValidationFailed, "empty signature"),
        (lambda: replace_signature(_note(), NAME, b"\x39\xe3\x1a\x2e"), ValidationFailed, "at least 5"),
        (
            lambda: replace_signature(_note(), "bad+name", bytes(68)),
            ValidationFailed,
            "must not contain '\\+'",
        ),
        (lambda: _note().replace("8", "\ud800", 1), ValidationFailed, "not valid UTF-8"),
        (lambda: _note().encode("utf-8"), ValidationFailed, "must be text"),
        (
            lambda: replace_signature(_note(), NAME, raw_signature(_note())[:-1]),
            SignatureError,
            "is 63 bytes, not 64",
        ),
        (
            lambda: replace_signature(_note(), "lifeledger.example/other", raw_signature(_note())),
            SignatureError,
            "no signature by",
        ),
        (
            lambda: replace_signature(
                _note(),
                NAME,
                vector_signer().key_id + Ed25519PrivateKey.from_private_bytes(OTHER_SEED).sign(b"x"),
            ),
            SignatureError,
            "does not verify",
        ),
    ],
)
def test_malformed_and_tampered_notes(note: Any, error: type[LedgerError], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        vector_verifier().verify(note())
    if error is ValidationFailed:
        assert not isinstance(caught.value, VerificationError)


def test_open_checkpoint_checks_origin_and_body() -> None:
    note = vector()["signed_note"]
    with pytest.raises(
        VerificationError, match=re.escape("is not the expected 'other.example/log'")
    ) as caught:
        open_checkpoint(note, vector_verifier(), origin="other.example/log")
    assert not isinstance(caught.value, SignatureError)
    not_a_checkpoint = vector_signer().sign(b"hello\n")
    assert vector_verifier().verify(not_a_checkpoint) == b"hello\n"
    with pytest.raises(ValidationFailed, match="1 lines"):
        open_checkpoint(not_a_checkpoint, vector_verifier())


# --- strict parsing -------------------------------------------------------------------------------

ROOT_B64 = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"origin\n08\n{ROOT_B64}\n", "not a decimal number without leading zeros"),
        (f"origin\n-1\n{ROOT_B64}\n", "not a decimal number"),
        (f"origin\n+8\n{ROOT_B64}\n", "not a decimal number"),
        (f"origin\n 8\n{ROOT_B64}\n", "not a decimal number"),
        (f"origin\n\uff18\n{ROOT_B64}\n", "not a decimal number"),
        (f"origin\n\n{ROOT_B64}\n", "not a decimal number"),
        (f"origin\n{1 << 64}\n{ROOT_B64}\n", "larger than 2\\*\\*64-1"),
        (f"\n8\n{ROOT_B64}\n", "origin line is empty"),
        (f"origin\n8\n{ROOT_B64}", "must end with a newline"),
        (f"origin\n8\n{ROOT_B64}\nextension\n", "extension lines are not supported"),
        (f"origin\n8\n{ROOT_B64}\n\n", "extension lines are not supported"),
        ("origin\n8\n", "2 lines"),
        (f"origin\r\n8\r\n{ROOT_B64}\r\n", "carriage return"),
        ("origin\n8\nAAAA\n", "must decode to 32 bytes, got 3"),
        (f"origin\n8\n{ROOT_B64[:-1]}\n", "not standard padded base64"),
        (f"origin\n8\n{ROOT_B64[:-2]}h=\n", "not canonical base64"),
        (f"origin\n8\n{base64.urlsafe_b64encode(unb64(ROOT_B64)).decode()}\n", "not standard padded base64"),
    ],
)
def test_checkpoint_body_errors(body: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        Checkpoint.from_body(body)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"origin": ""}, "origin"),
        ({"origin": "a\nb"}, "origin"),
        ({"size": -1}, "size"),
        ({"size": True}, "size"),
        ({"size": 1 << 64}, "size"),
        ({"root": bytes(31)}, "root"),
        ({"root": "root"}, "root"),
    ],
)
def test_checkpoint_rejects_bad_fields(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        good: dict[str, Any] = {"origin": "o", "size": 1, "root": bytes(32)}
        Checkpoint(**(good | fields))
    assert caught.value.field == field


def _vkey_with(name: str = NAME, id_hex: str | None = None, key_data: bytes | None = None) -> str:
    public_key = vector_signer().public_key
    data = b"\x01" + public_key if key_data is None else key_data
    key = data[1:] if len(data) == 33 else public_key
    id_text = id_hex if id_hex is not None else key_id(NAME, key).hex()
    return f"{name}+{id_text}+{b64(data)}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (lambda: NAME, "must look like"),
        (lambda: f"{NAME}+39e31a2e", "must look like"),
        (lambda: "+39e31a2e+" + vector()["vkey"].split("+", 2)[2], "key name must not be empty"),
        (lambda: "a b+39e31a2e+" + vector()["vkey"].split("+", 2)[2], "must not contain spaces"),
        (lambda: _vkey_with(id_hex="39E31A2E"), "8 lowercase hex digits"),
        (lambda: _vkey_with(id_hex="39e31a2"), "8 lowercase hex digits"),
        (lambda: _vkey_with(id_hex="39e31a2e0"), "8 lowercase hex digits"),
        (lambda: _vkey_with(id_hex="0x39e31a"), "8 lowercase hex digits"),
        (lambda: _vkey_with(id_hex="00000000"), "key id does not match"),
        (lambda: _vkey_with(name="lifeledger.example/other"), "key id does not match"),
        (lambda: vector()["vkey"][:-1], "not standard padded base64"),
        (lambda: vector()["vkey"] + "\n", "not standard padded base64"),
        (lambda: vector()["vkey"] + "+", "not standard padded base64"),
        (lambda: f"{NAME}+39e31a2e+", "key data is empty"),
        (lambda: _vkey_with(key_data=b"\x02" + bytes(32)), "signature type 0x02 is not supported"),
        (lambda: _vkey_with(key_data=b"\x01" + bytes(31)), "is 31 bytes, expected 32"),
        (lambda: _vkey_with(key_data=b"\x01" + bytes(33)), "is 33 bytes, expected 32"),
        (lambda: b"vkey", "must be text"),
    ],
)
def test_vkey_parse_errors(text: Any, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        NoteVerifier.from_vkey(text())


@pytest.mark.parametrize(
    ("name", "public_key", "message"),
    [
        ("", bytes(32), "must not be empty"),
        ("a b", bytes(32), "must not contain spaces"),
        ("a\u00a0b", bytes(32), "must not contain spaces"),
        ("a+b", bytes(32), "must not contain '\\+'"),
        ("a\tb", bytes(32), "control character"),
        ("name", bytes(31), "32 raw bytes"),
    ],
)
def test_key_id_and_vkey_reject_bad_input(name: str, public_key: bytes, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        key_id(name, public_key)
    with pytest.raises(ValidationFailed, match=message):
        vkey(name, public_key)
    with pytest.raises(ValidationFailed, match=message):
        NoteVerifier(name, public_key)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "end with a newline"),
        (b"no newline", "end with a newline"),
        (b"\xff\n", "not valid UTF-8"),
        (b"a\r\n", "carriage return"),
        (b"a\x00\n", "control character U\\+0000"),
        ("text\n", "must be bytes"),
    ],
)
def test_sign_rejects_bad_text(body: Any, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        vector_signer().sign(body)


def test_signer_checks_its_inputs_and_hides_its_key() -> None:
    with pytest.raises(ValidationFailed, match="must not contain spaces"):
        make_signer(OTHER_SEED, "log name")
    with pytest.raises(TypeError, match="Ed25519PrivateKey"):
        NoteSigner(NAME, OTHER_SEED)  # type: ignore[arg-type]
    signer = vector_signer()
    assert repr(signer) == f"NoteSigner({vector()['vkey']!r})"
    assert vector()["seed_hex"] not in repr(signer)
