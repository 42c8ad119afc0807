"""The ledger's reserved names at intake: document types and streams, like ``ledger.`` types and ``system:`` streams,
are written only by the ledger, whatever scope a system's key has."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import ValidationFailed
from ledger.log.encoding import digest_str
from ledger.log.statements import SignedEvent, sign_event
from ledger.projections.documents import stream_of
from ledger.services.documents import Registration
from tests.factories import EVERYTHING

LINEAGE = b"\x0b" * 32


@pytest.fixture
def anything_key(ledger: Ledger) -> SigningKey:
    """A key whose scope allows every type on every stream (an admin can register one)."""
    key = SigningKey.generate("integrator-1")
    ledger.keys.register(key_id=key.key_id, owner="integrator", public_key=key.public_key, scope=EVERYTHING)
    return key


def forged(key: SigningKey, n: int, *, type: str = "document.registered", stream: str | None = None,
           **payload: Any) -> SignedEvent:
    facts = {"digest": digest_str(bytes([n]) * 32), "subject": digest_str(LINEAGE), "kind": 1, "version": 1}
    return sign_event(key=key, event_id=f"doc-{n}", type=type, stream=stream or stream_of(LINEAGE),
                      payload={**facts, **payload}, data_subject="issuer:acme")


@pytest.mark.parametrize("type", ["document.registered", "document.superseded", "document.revoked",
                                  "document.anything_new"])
def test_a_system_cannot_write_document_types(ledger: Ledger, anything_key: SigningKey, type: str) -> None:
    size = ledger.log.size()
    for n, stream in enumerate((stream_of(LINEAGE), "policy:p1")):
        with pytest.raises(ValidationFailed, match="written only by the ledger") as info:
            ledger.intake.append(forged(anything_key, n, type=type, stream=stream), owner="integrator")
        assert info.value.field == "statement.type"
        assert f"{type!r} is reserved" in info.value.message and "'document.'" in info.value.message
    assert ledger.log.size() == size
    assert ledger.anchoring.jobs.unassigned_ops(limit=10) == []


def test_a_system_cannot_write_on_document_streams(ledger: Ledger, anything_key: SigningKey) -> None:
    size = ledger.log.size()
    event = sign_event(key=anything_key, event_id="note-1", type="policy.noted", stream=stream_of(LINEAGE),
                       payload={"note": "x"}, data_subject="customer:c1")
    with pytest.raises(ValidationFailed, match="written only by the ledger") as info:
        ledger.intake.append(event, owner="integrator")
    assert info.value.field == "statement.stream" and "document" in info.value.message
    assert ledger.log.size() == size


def test_ledger_types_and_system_streams_stay_reserved(ledger: Ledger, anything_key: SigningKey) -> None:
    with pytest.raises(ValidationFailed, match=r"'ledger\.'") as info:
        ledger.intake.append(sign_event(key=anything_key, event_id="k-1", type="ledger.key.revoked",
                                        stream="policy:p1", payload={"key_id": "x"}, data_subject="customer:c1"),
                             owner="integrator")
    assert info.value.field == "statement.type"
    with pytest.raises(ValidationFailed, match="written only by the ledger") as info:
        ledger.intake.append(sign_event(key=anything_key, event_id="k-2", type="policy.noted",
                                        stream="system:integrator", payload={}, data_subject="customer:c1"),
                             owner="integrator")
    assert info.value.field == "statement.stream"


def test_the_ledger_still_writes_documents(ledger: Ledger, anything_key: SigningKey) -> None:
    """The reservation binds systems only: the documents service (owner None, the ledger key) goes through."""
    receipts = ledger.documents.register([Registration(digest=bytes([5]) * 32, subject=LINEAGE, kind=2)])
    assert ledger.log.entry(receipts[0].index).type == "document.registered"
    assert [op.digest for op in ledger.anchoring.jobs.unassigned_ops(limit=10)] == [bytes([5]) * 32]
    ok = sign_event(key=anything_key, event_id="p-1", type="policy.issued", stream="policy:p1",
                    payload={"product": "TERM20"}, data_subject="customer:c1")
    assert ledger.intake.append(ok, owner="integrator").index == receipts[0].index + 1
