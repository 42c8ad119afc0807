"""Data subjects: open a payload with its subject's key, and erase a subject (destroy its key, record why)."""

from __future__ import annotations

from ledger.errors import NotFound, ValidationFailed
from ledger.journal.opening import Opened, Opener
from ledger.log.reserved import ERASURES_STREAM, LEDGER_SUBJECT, SUBJECT_ERASED
from ledger.services.intake import Draft, IntakeService
from ledger.services.party_index import PartyIndex
from ledger.services.uploads import UploadService
from ledger.store import Store


class SubjectService:
    def __init__(self, store: Store, *, intake: IntakeService, opener: Opener,
                 uploads: UploadService | None = None, parties: PartyIndex | None = None) -> None:
        self._store = store
        self._intake = intake
        self._opener = opener
        self._uploads = uploads
        self._parties = parties

    def open_payload(self, index: int) -> Opened:
        """Decrypt the payload (facts) of entry ``index``; raises ``ErasedError`` if its subject was erased."""
        return self._opener.payload(index)

    def open_personal(self, index: int) -> Opened | None:
        """Decrypt entry ``index``'s personal part (None if it has none); ``ErasedError`` once erased."""
        return self._opener.personal(index)

    def erase(self, subject: str) -> int:
        """Destroy a data subject's key: its payloads and personal parts become unreadable, every proof verifies.

        The erasure is an entry of its own (``ledger.subject.erased``, its payload sealed under the ledger's own
        subject) and the key is destroyed in the same transaction, so an audit can tell a lawful erasure from a
        key that went missing, and no event for the subject is recorded after it. Returns how many sealed rows
        became unreadable plus how many of the subject's uploaded files were deleted. Raises ``NotFound`` if the
        subject never had a key nor a file (one who only uploaded files, say an application never submitted, has
        their files deleted).

        Erasing a subject erased already records nothing and finishes what an erasure does beside the journal
        (the party index, the uploaded files), so a retry after a failure past the erasure's commit (an append
        whose outcome was unknown, a crash) leaves nothing of the person behind.
        """
        if subject == LEDGER_SUBJECT:
            raise ValidationFailed("the ledger's own subject cannot be erased", field="subject")
        keys = self._store.wrapped_keys([subject])
        if subject not in keys:
            files = self._uploads.erase(subject) if self._uploads is not None else 0
            if not files:
                raise NotFound(f"data subject {subject!r} has no key to erase", field="subject")
            return files
        if self._parties is not None:
            self._parties.forget(subject)  # first: nobody is linked to them by identity number from now on
        if keys[subject] is not None:  # not erased yet
            self._intake.emit(Draft(SUBJECT_ERASED, ERASURES_STREAM, {"subject": subject}))
        files = self._uploads.erase(subject) if self._uploads is not None else 0  # their uploaded files too
        return self._store.count_sealed(subject) + files
