"""Statements and entry records: strict parsing, canonical bytes, and the salted payload commitment."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.encoding import canonical_json
from ledger.errors import ValidationFailed
from ledger.keys import SigningKey
from ledger.statements import EntryRecord, Statement, sign_event

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
