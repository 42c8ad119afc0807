"""Statements and entry records: strict parsing, canonical bytes, and the salted payload commitment."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.crypto.keys import SigningKey
from ledger.errors import ValidationFailed
from ledger.log.encoding import canonical_json
from ledger.log.statements import EntryRecord, SignedEvent, Statement, sign_event
from tests.factories import VECTORS

KEY = SigningKey.from_seed("system-1", bytes(range(32)))
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,40}", fullmatch=True)
payloads = st.dictionaries(st.text(max_size=8), st.one_of(st.integers(-10**9, 10**9), st.text(max_size=20),
                                                         st.booleans(), st.none()), max_size=5)


@settings(max_examples=200, deadline=None)
@given(event_id=ids, seq=st.integers(1, 2**53 - 1),
       stream_seq=st.one_of(st.none(), st.integers(1, 2**53 - 1)), payload=payloads, micros=st.integers(0, 999_999))
def test_leaf_bytes_are_the_canonical_json_of_the_record(event_id: str, seq: int, stream_seq: int | None,
                                                         payload: dict[str, object], micros: int) -> None:
    event = sign_event(key=KEY, event_id=event_id, type="policy.issued", stream="policy:p1", payload=payload,
                       data_subject="customer:1", seq=stream_seq)
    record = EntryRecord(statement=event.statement, key_id=event.key_id, signature=event.signature, seq=seq,
                         recorded_at=f"2026-11-24T10:00:00.{micros:06d}Z")
    assert record.leaf() == canonical_json(record.to_json())
    assert EntryRecord.from_leaf(record.leaf()) == record
    event.check_payload()
    event.check_signature(KEY.public_key)


def test_statement_fields_are_checked_and_named() -> None:
    good = sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={},
                      data_subject="customer:1").statement.to_json()
    for name, value in (("event_id", " bad"), ("type", "Policy"), ("stream", "nocolon"), ("occurred_at", "yesterday"),
                        ("payload_hash", "sha256:XYZ"), ("seq", 0), ("seq", 2**53)):
        with pytest.raises(ValidationFailed) as info:
            Statement.from_json({**good, name: value})
        assert info.value.field == f"statement.{name}"
    with pytest.raises(ValidationFailed, match="unknown field"):
        Statement.from_json({**good, "extra": 1})


def test_non_canonical_leaf_is_refused() -> None:
    event = sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={},
                       data_subject="customer:1")
    record = EntryRecord(statement=event.statement, key_id=event.key_id, signature=event.signature, seq=1,
                         recorded_at="2026-11-24T10:00:00.000000Z")
    spaced = record.leaf().replace(b'"seq":1', b'"seq": 1')
    with pytest.raises(ValidationFailed, match="canonical"):
        EntryRecord.from_leaf(spaced)


def test_tampered_payload_or_signature_is_refused() -> None:
    event = sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={"a": 1},
                       data_subject="customer:1")
    tampered = type(event)(statement=event.statement, key_id=event.key_id, signature=event.signature,
                           payload={"a": 2}, salt=event.salt, data_subject=event.data_subject)
    with pytest.raises(ValidationFailed, match="payload_hash"):
        tampered.check_payload()
    from ledger.errors import SignatureError

    with pytest.raises(SignatureError):
        event.check_signature(SigningKey.generate("other-1").public_key)


# -- identifiers are matched whole ----------------------------------------------------------------------------

LOOKALIKE_SUFFIXES = ["\n", "\r", "\t", "\x00", " ", "\u00a0", "\u200b", "\u2028", "\r\n"]


@pytest.mark.parametrize("suffix", LOOKALIKE_SUFFIXES, ids=repr)
@pytest.mark.parametrize(("name", "good"), [("event_id", "e1"), ("type", "policy.issued"), ("stream", "policy:p1")])
def test_statement_identifiers_with_control_characters_are_refused(name: str, good: str, suffix: str) -> None:
    statement = sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={},
                           data_subject="customer:1").statement.to_json()
    for value in (good + suffix, good[:2] + suffix + good[2:]):
        with pytest.raises(ValidationFailed) as info:
            Statement.from_json({**statement, name: value})
        assert info.value.field == f"statement.{name}"


@pytest.mark.parametrize("suffix", LOOKALIKE_SUFFIXES, ids=repr)
def test_subjects_key_ids_and_owners_with_control_characters_are_refused(suffix: str) -> None:
    from ledger.crypto.keys import check_key_id
    from ledger.log.identifiers import check_subject

    for value in ("customer:1" + suffix, "cust" + suffix + "omer:1"):
        with pytest.raises(ValidationFailed):
            check_subject(value)
        with pytest.raises(ValidationFailed, match="data_subject"):
            sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={},
                       data_subject=value)
    for value in ("ledger" + suffix, "policy-admin-1" + suffix, "led" + suffix + "ger"):
        with pytest.raises(ValidationFailed, match="key_id"):
            check_key_id(value)


def test_unicode_digits_do_not_pass_for_timestamps() -> None:
    statement = sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={},
                           data_subject="customer:1").statement.to_json()
    fullwidth = "\uff12\uff10\uff12\uff16-01-31T12:00:00Z"  # Unicode digits, which a regex \d matches
    for value in (fullwidth, "2026-01-31T12:00:00Z\n", "0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z",
                  "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z"):
        with pytest.raises(ValidationFailed) as info:
            Statement.from_json({**statement, "occurred_at": value})
        assert info.value.field == "statement.occurred_at"
    for value in ("1900-01-01T00:00:00Z", "2199-12-31T23:59:59.999999Z"):
        Statement.from_json({**statement, "occurred_at": value})


# -- the data subject is bound to what was signed (statement v2) ---------------------------------------------------

def test_a_subject_changed_after_signing_is_refused() -> None:
    event = sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={"a": 1},
                       data_subject="customer:1")
    assert event.statement.version == 2 and event.statement.to_json()["v"] == 2
    event.check_payload()
    moved = SignedEvent(statement=event.statement, key_id=event.key_id, signature=event.signature,
                        payload=event.payload, salt=event.salt, data_subject="customer:2")
    with pytest.raises(ValidationFailed, match="data_subject") as info:
        moved.check_payload()
    assert info.value.field == "statement.payload_hash"
    moved.check_signature(KEY.public_key)  # the signature alone cannot tell: the commitment does


def test_statement_versions_parse_strictly() -> None:
    v2 = sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={},
                    data_subject="customer:1").statement.to_json()
    legacy = {k: v for k, v in v2.items() if k != "v"}
    assert Statement.from_json(legacy).version == 1 and "v" not in Statement.from_json(legacy).to_json()
    for bad in (1, 3, "2", True, 2.0):
        with pytest.raises(ValidationFailed) as info:
            Statement.from_json({**v2, "v": bad})
        assert info.value.field == "statement.v"


def test_statement_v2_known_answer_vector() -> None:
    """tests/vectors/statement-v2.json, checked with hashlib and cryptography, then reproduced by our code."""
    import hashlib
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from ledger.log.encoding import b64, unb64
    from ledger.log.merkle import leaf_hash

    vector = json.loads(VECTORS.joinpath("statement-v2.json").read_text(encoding="utf-8"))
    salt = bytes.fromhex(vector["salt"])
    # For this payload (strings and objects only) JCS is sorted, compact JSON with the characters left as they are.
    jcs = json.dumps({"data_subject": vector["data_subject"], "payload": vector["payload"]}, sort_keys=True,
                     separators=(",", ":"), ensure_ascii=False).encode()
    assert bytes.fromhex(vector["commitment_preimage"]) == salt + jcs
    assert vector["statement"]["payload_hash"] == "sha256:" + hashlib.sha256(salt + jcs).hexdigest()
    assert vector["statement_canonical"] == json.dumps(vector["statement"], sort_keys=True, separators=(",", ":"))
    Ed25519PublicKey.from_public_bytes(unb64(vector["public_key"])).verify(
        unb64(vector["signature"]), vector["statement_canonical"].encode())
    assert b64(leaf_hash(vector["leaf"].encode())) == vector["leaf_hash"]
    key = SigningKey.from_seed(vector["key_id"], bytes.fromhex(vector["seed"]))
    event = sign_event(key=key, event_id=vector["statement"]["event_id"], type=vector["statement"]["type"],
                       stream=vector["statement"]["stream"], payload=vector["payload"],
                       data_subject=vector["data_subject"], occurred_at=vector["statement"]["occurred_at"],
                       seq=vector["statement"]["seq"], salt=salt)
    assert event.statement.canonical().decode() == vector["statement_canonical"]
    assert b64(event.signature) == vector["signature"]
    record = EntryRecord(statement=event.statement, key_id=key.key_id, signature=event.signature, seq=1,
                         recorded_at=vector["recorded_at"])
    assert record.leaf().decode() == vector["leaf"]
    assert EntryRecord.from_leaf(record.leaf()) == record
    legacy_hash = "sha256:" + hashlib.sha256(salt + json.dumps(vector["payload"], sort_keys=True, separators=(
        ",", ":"), ensure_ascii=False).encode()).hexdigest()
    assert vector["v1_payload_hash_of_the_same_payload"] == legacy_hash != vector["statement"]["payload_hash"]


# -- payloads and events are bounded and strict ----------------------------------------------------------------

def nested(depth: int) -> dict[str, object]:
    """A payload whose objects and arrays nest ``depth`` levels (the payload object itself is level 1)."""
    value: object = 1
    for _ in range(depth - 1):
        value = [value]
    return {"x": value}


def test_payload_nesting_is_limited_before_anything_encodes_it() -> None:
    from ledger.log.statements import MAX_PAYLOAD_DEPTH

    sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload=nested(MAX_PAYLOAD_DEPTH),
               data_subject="customer:1")
    with pytest.raises(ValidationFailed, match=f"more than {MAX_PAYLOAD_DEPTH} levels") as info:
        sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1",
                   payload=nested(MAX_PAYLOAD_DEPTH + 1), data_subject="customer:1")
    assert info.value.field == "payload"
    good = sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={},
                      data_subject="customer:1").to_json()
    deep = nested(50_000)  # far beyond any recursion limit: refused without recursing
    with pytest.raises(ValidationFailed, match="levels deep"):
        SignedEvent.from_json({**good, "payload": deep})


def test_tuples_count_as_arrays_in_the_nesting_limit() -> None:
    from ledger.log.statements import MAX_PAYLOAD_DEPTH

    value: object = 1
    for _ in range(MAX_PAYLOAD_DEPTH):  # with the payload object, one level more than allowed
        value = (value,)
    for fields in ({"payload": {"x": value}}, {"payload": {}, "personal": {"x": value}}):
        with pytest.raises(ValidationFailed, match=f"more than {MAX_PAYLOAD_DEPTH} levels"):
            sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", data_subject="customer:1",
                       personal_subject="person:1", **fields)


def test_unknown_event_fields_are_refused_by_name() -> None:
    good = sign_event(key=KEY, event_id="e1", type="policy.issued", stream="policy:p1", payload={},
                      data_subject="customer:1").to_json()
    with pytest.raises(ValidationFailed, match="unknown field") as info:
        SignedEvent.from_json({**good, "subject_override": "customer:2"})
    assert info.value.field == "subject_override"


def test_json_is_decoded_with_a_depth_bound_whatever_the_recursion_limit() -> None:
    import sys

    from ledger.log.encoding import parse_json

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200_000)  # what packages the embedded chain imports do
    try:
        for depth in (1_000, 100_000):
            with pytest.raises(ValidationFailed, match="levels deep") as info:
                parse_json(b"[" * depth + b"]" * depth, max_depth=40)
            assert info.value.field == "body"
    finally:
        sys.setrecursionlimit(limit)
    assert parse_json(b'{"a":[[1]]}', max_depth=3) == {"a": [[1]]}
    for bad, reason in ((b"{not json", "acceptable JSON"), (b'{"a": NaN}', "acceptable JSON"),
                        (b'"\\ud800"', "surrogate"), (b"[1] x", "acceptable JSON")):
        with pytest.raises(ValidationFailed, match=reason):
            parse_json(bad, max_depth=40)


def test_a_signed_event_keeps_what_was_signed_when_the_callers_dict_changes() -> None:
    key = SigningKey.generate("policy-admin-1")
    payload = {"amount": "10.00", "nested": {"currency": "CNY"}}
    event = sign_event(key=key, event_id="e-1", type="premium.collected", stream="policy:p1", payload=payload,
                       data_subject="customer:c1")
    payload["amount"] = "9999.00"
    payload["nested"]["currency"] = "USD"
    assert event.payload == {"amount": "10.00", "nested": {"currency": "CNY"}}
    event.check_payload()
    assert event.payload_bytes == canonical_json(event.payload)
