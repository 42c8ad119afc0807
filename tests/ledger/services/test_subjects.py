"""Erasing a data subject: final for everything stored beside the journal, and safe to retry."""

from __future__ import annotations

import pytest

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import ErasedError, NotFound, StorageError
from ledger.log.encoding import digest_str, sha256
from ledger.log.statements import sign_event
from ledger.services.intake import Draft


def _record_for(ledger: Ledger, key: SigningKey, subject: str, event_id: str) -> None:
    ledger.intake.append(sign_event(key=key, event_id=event_id, type="premium.collected", stream="policy:p1",
                                    payload={"amount": "1.00", "currency": "CNY"}, data_subject=subject),
                         owner="policy-admin")


def test_an_erasure_retried_after_its_entry_committed_deletes_the_files_it_left(
        ledger: Ledger, system_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> None:
    subject = "customer:gone"
    _record_for(ledger, system_key, subject, "e-1")
    stored = ledger.uploads.put(b"medical report of the insured", media_type="application/pdf", subject=subject)
    intake = ledger.subjects._intake
    emit = intake.emit

    def committed_but_unanswered(draft: Draft) -> object:
        emit(draft)  # the erasure entry commits; the caller hears that the outcome is unknown
        raise StorageError("the append did not finish within 60 s, so its outcome is unknown; retry")

    monkeypatch.setattr(intake, "emit", committed_but_unanswered)
    with pytest.raises(StorageError):
        ledger.subjects.erase(subject)
    monkeypatch.setattr(intake, "emit", emit)
    assert ledger.uploads.exists(stored.digest)  # what the failed call left behind
    size = ledger.log.size()

    assert ledger.subjects.erase(subject) >= 1  # the retry the error asks for
    assert not ledger.uploads.exists(stored.digest)
    assert ledger.log.size() == size  # the subject was erased once: the retry records nothing
    with pytest.raises(NotFound):
        ledger.subjects.erase("customer:never-known")


def test_a_subject_who_only_uploaded_files_is_erased_with_them(ledger: Ledger) -> None:
    """Say an application never submitted: files, no key, no entry."""
    stored = ledger.uploads.put(b"identity card scan", media_type="image/png", subject="customer:files-only")
    size = ledger.log.size()
    assert ledger.subjects.erase("customer:files-only") == 1
    assert not ledger.uploads.exists(stored.digest) and ledger.log.size() == size


def test_no_file_is_stored_for_a_subject_once_erased(ledger: Ledger, system_key: SigningKey) -> None:
    subject = "customer:gone2"
    _record_for(ledger, system_key, subject, "e-2")
    ledger.subjects.erase(subject)
    with pytest.raises(ErasedError, match="was erased"):
        ledger.uploads.put(b"late medical report", media_type="application/pdf", subject=subject)
    assert ledger.uploads.put(b"someone else's file", media_type="application/pdf", subject="customer:other")


def test_a_file_stored_while_its_subject_was_erased_is_deleted_and_refused(
        ledger: Ledger, system_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> None:
    """The upload looked before the erasure and stored after it had deleted the subject's files."""
    subject = "customer:gone3"
    _record_for(ledger, system_key, subject, "e-3")
    uploads = ledger.uploads
    real = uploads._erased
    looked: list[str] = []

    def first_look_then_erase(s: str) -> bool:
        if not looked:
            looked.append(s)
            ledger.subjects.erase(subject)  # erased (key, then files) between the look and the store
            return False
        return real(s)

    monkeypatch.setattr(uploads, "_erased", first_look_then_erase)
    data = b"report sent during the erasure"
    with pytest.raises(ErasedError):
        uploads.put(data, media_type="application/pdf", subject=subject)
    assert not uploads.exists(digest_str(sha256(data)))
