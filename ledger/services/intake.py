"""Event intake: systems append events they signed; the ledger appends events it signs itself."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.clock import Clock
from ledger.crypto.keys import SigningKey
from ledger.errors import LedgerError, ValidationFailed
from ledger.journal.units import Pending, Receipt
from ledger.journal.writer import Journal
from ledger.log.catalog import Catalog
from ledger.log.identifiers import utc_timestamp
from ledger.log.reserved import LEDGER_SUBJECT
from ledger.log.statements import SignedEvent, sign_event

__all__ = ["Draft", "IntakeService", "IntakeStats", "Pending", "Receipt"]


@dataclass(frozen=True)
class Draft:
    """An event the ledger is about to sign: what happened, on which stream, and whose data it holds.

    ``payload`` holds every field; for a declared event type its personal fields are sealed apart under
    ``personal_subject`` (the person's own subject) and the facts under ``data_subject`` (a subject never erased).
    """

    type: str
    stream: str
    payload: dict[str, Any]
    data_subject: str = LEDGER_SUBJECT
    personal_subject: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class IntakeStats:
    """What this process's writer has done since the ledger was opened: events appended, in how many group commits."""

    appended: int
    batches: int


class IntakeService:
    """Appends through the one writer: per event (``append``, ``append_many``) or all or none (``append_all``)."""

    def __init__(self, journal: Journal, *, signer: SigningKey, clock: Clock, catalog: Catalog) -> None:
        self._journal = journal
        self._signer = signer
        self._clock = clock
        self._catalog = catalog

    def append(self, event: SignedEvent, *, owner: str) -> Receipt:
        """Append an event signed by one of ``owner``'s registered keys (see ``Journal.submit`` for errors)."""
        return self._journal.append(event, owner=owner)

    def submit(self, event: SignedEvent, *, owner: str) -> Pending:
        """Queue an event signed by one of ``owner``'s keys without waiting (an event loop awaits its outcome)."""
        return self._journal.submit(event, owner=owner)

    def append_many(self, events: Sequence[SignedEvent], *, owner: str) -> list[Receipt | LedgerError]:
        """Append events one by one; each gets its receipt or its own error."""
        return self._journal.append_many(events, owner=owner)

    def append_all(self, events: Sequence[SignedEvent], *, owner: str,
                   expected: Mapping[str, int] | None = None) -> list[Receipt]:
        """Append a group all or none (see ``Journal.append_all``)."""
        return self._journal.append_all(events, owner=owner, expected=expected)

    def emit(self, draft: Draft) -> Receipt:
        """Sign and append one event the ledger itself originates."""
        return self._journal.append(self.sign(draft), owner=None, signed_here=True)

    def emit_all(self, drafts: Sequence[Draft], *, expected: Mapping[str, int] | None = None,
                 index: Sequence[tuple[bytes, str]] = ()) -> list[Receipt]:
        """Sign and append events the ledger originates, all or none, at the positions the decision saw, adding
        ``index``'s (fingerprint, party id) rows to the party index in the same transaction."""
        return self._journal.append_all([self.sign(draft) for draft in drafts], owner=None, expected=expected,
                                        signed_here=True, index=index)

    def stats(self) -> IntakeStats:
        """This process's appends so far (for metrics); reads the writer's counters without waiting for it."""
        return IntakeStats(appended=self._journal.appended, batches=self._journal.batches)

    def sign(self, draft: Draft) -> SignedEvent:
        """Sign a draft with the ledger's key, its declared personal fields sealed apart from its facts.

        Raises ``ValidationFailed`` for a field its type does not declare, or personal fields without a
        ``personal_subject``.
        """
        declared = self._catalog.get(draft.type)
        facts, personal = declared.split(draft.payload) if declared is not None else (dict(draft.payload), {})
        if personal and draft.personal_subject is None:
            raise ValidationFailed(f"{draft.type} carries personal fields ({', '.join(sorted(personal))}); name the "
                                   f"person's subject they are sealed under", field="personal_subject")
        return sign_event(key=self._signer, event_id=draft.event_id or f"ll-{uuid.uuid4()}", type=draft.type,
                          stream=draft.stream, payload=facts, data_subject=draft.data_subject,
                          occurred_at=utc_timestamp(self._clock.now()), personal=personal or None,
                          personal_subject=draft.personal_subject)
