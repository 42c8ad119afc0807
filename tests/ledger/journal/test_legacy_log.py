"""A log written before statements bound their data subject (tests/data/legacy-v1) under the current code."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import ValidationFailed
from ledger.journal.audit import AuditReport, audit
from ledger.log.note import NoteVerifier
from ledger.log.statements import EntryRecord, SignedEvent, sign_event
from ledger.settings import Settings

LEGACY = Path(__file__).resolve().parents[2] / "data" / "legacy-v1"
KEY = SigningKey.from_seed("policy-admin-2025", bytes(range(32)))


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[Ledger]:
    data = tmp_path / "legacy"
    shutil.copytree(LEGACY, data)
    opened = Ledger.open(Settings(data_dir=data, chain_url="none", origin="legacy.lifeledger/log",
                                  checkpoint_interval=0.2))
    opened.start()
    try:
        yield opened
    finally:
        opened.close()


def run_audit(ledger: Ledger) -> AuditReport:
    return audit(ledger.store, verifier=NoteVerifier.from_vkey(ledger.log.vkey),
                 ledger_public_key=ledger.secrets.ledger.public_key, origin=ledger.settings.origin,
                 master_key=ledger.secrets.master_key)


def test_version_1_entries_verify_as_what_they_are(legacy: Ledger) -> None:
    versions = [EntryRecord.from_leaf(legacy.log.entry(i).leaf).statement.version for i in range(legacy.log.size())]
    assert versions == [1] * 14
    report = run_audit(legacy)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.payloads_erased) == (14, 2, 4)
    assert legacy.keys.get("policy-admin-2025").scope is None  # registered before scopes: unrestricted


def test_new_events_must_bind_their_subject_and_append_after_the_old_ones(legacy: Ledger) -> None:
    new = sign_event(key=KEY, event_id="after-1", type="claim.notified", stream="claimsadmin:c1", payload={"n": 1},
                     data_subject="customer:lg0")
    receipt = legacy.intake.append(new, owner="policy-admin")
    assert receipt.index == 14
    old_style = SignedEvent.from_json({**new.to_json(), "statement": {
        k: v for k, v in new.statement.to_json().items() if k != "v"} | {"event_id": "after-2"}})
    with pytest.raises(ValidationFailed, match=r"statement\.v must be 2") as info:
        legacy.intake.append(old_style, owner="policy-admin")
    assert info.value.field == "statement.v"
    legacy.log.checkpoint_now()
    report = run_audit(legacy)
    assert report.ok, report.problems
    assert report.entries == 15


def test_a_retried_version_1_event_gets_its_original_receipt(legacy: Ledger) -> None:
    record = EntryRecord.from_leaf(legacy.log.entry(4).leaf)  # customer:lg0's, not erased
    opened = legacy.subjects.open_payload(4)
    retry = SignedEvent(statement=record.statement, key_id=record.key_id, signature=record.signature,
                        payload=opened.payload, salt=opened.salt, data_subject=next(iter(legacy.log.subjects_of(4))))
    receipt = legacy.intake.append(retry, owner="policy-admin")
    assert (receipt.index, receipt.duplicate) == (4, True)
    assert legacy.log.size() == 14
