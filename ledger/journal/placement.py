"""Placing a batch's units: positions, keys, scopes, data keys and projections, each unit all or nothing.

The writer hands a ``Placement`` the units of one batch; each is placed in turn (a single event, or a group at
consecutive positions), and a unit that is refused leaves no trace: its projection rows are rolled back by the
row cache's savepoint, its entries, sealed rows and erasures by ``undo``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.crypto.sealing import seal
from ledger.errors import Conflict, IndexTaken, LedgerError, NotFound, StreamMoved, ValidationFailed
from ledger.journal.units import Receipt, Unit
from ledger.log import merkle
from ledger.log.reserved import LEDGER_SUBJECT, SUBJECT_ERASED
from ledger.log.statements import EntryRecord, SignedEvent
from ledger.projections import streams, system_keys
from ledger.projections.base import Fact
from ledger.projections.registry import Registry
from ledger.projections.rows import RowCache
from ledger.store import Batch, EntryRow

Lookup = Callable[[Sequence[str]], Mapping[str, EntryRow]]  # recorded entries by event id


@dataclass(frozen=True)
class _Mark:
    entries: int
    payloads: int
    personal: int
    erased: int
    keys: int
    index: int


@dataclass
class Placement:
    """The state of one batch while its units are placed."""

    batch: Batch
    rows: RowCache
    registry: Registry
    lookup: Lookup
    now: str
    existing: dict[str, EntryRow] = field(default_factory=dict)  # recorded entries looked up for this batch
    data_keys: dict[str, bytes | None] = field(default_factory=dict)
    new_subjects: set[str] = field(default_factory=set)  # subjects whose keys this batch creates
    in_batch: dict[str, tuple[EntryRecord, int]] = field(default_factory=dict)
    indexed: set[bytes] = field(default_factory=set)  # party index fingerprints taken before this batch
    _key_changes: list[tuple[str, bytes | None]] = field(default_factory=list)  # (subject, key before) to undo

    # -- units -----------------------------------------------------------------------------------------------

    def place(self, unit: Unit) -> list[Receipt] | LedgerError:
        """Place one unit, or refuse it leaving no trace (returns the error). A unit refused because it was
        recorded before (a retry: same events, same signatures) gets its original receipts instead."""
        self.rows.savepoint()
        mark = self._mark()
        try:
            receipts = self._place_unit(unit)
        except LedgerError as exc:
            error: LedgerError = exc
        except (KeyError, TypeError, ValueError) as exc:  # a projector choking on facts it did not expect
            error = ValidationFailed(f"the event's facts do not fit its type: {type(exc).__name__}: {exc}")
        else:
            self.rows.release()
            return receipts
        self.rows.rollback()
        self._undo(mark)
        try:
            retried = recorded_group(unit, self.lookup(unit.event_ids))
        except LedgerError as exc:
            return exc
        return retried if retried is not None else error

    def _place_unit(self, unit: Unit) -> list[Receipt]:
        if unit.group:
            retried = recorded_group(unit, self.existing)
            if retried is not None:
                return retried
            for stream, want in (unit.expected or {}).items():
                actual = streams.last_seq(self.rows, stream)
                if actual != want:
                    raise StreamMoved(f"stream {stream!r} is at position {actual}, not at {want} where the "
                                      f"decision was made; reload it and decide again", stream=stream, expected=want,
                                      actual=actual)
            self._index(unit)
        return [self._place_event(event, unit) for event in unit.events]

    def _place_event(self, event: SignedEvent, unit: Unit) -> Receipt:
        statement = event.statement
        earlier = self.existing.get(statement.event_id)
        if earlier is not None:
            if unit.group:
                raise Conflict(f"event_id {statement.event_id!r} of this group is recorded already, but not the "
                               f"whole group", field="statement.event_id")
            return duplicate_receipt(event, earlier)
        if statement.event_id in self.in_batch:
            record, index = self.in_batch[statement.event_id]
            if not unit.group and record.statement == statement and record.key_id == event.key_id:
                return Receipt.of(self.batch.entries[index - self.batch.expected_size], duplicate=True)
            raise Conflict(f"event_id {statement.event_id!r} appears twice with different content",
                           field="statement.event_id")
        rows = self.rows
        if unit.owner is not None:
            system_keys.signing_key(rows, key_id=event.key_id, owner=unit.owner)
            system_keys.check_scope(rows, key_id=event.key_id, type=statement.type, stream=statement.stream)
        seq = streams.last_seq(rows, statement.stream) + 1
        if statement.seq is not None and statement.seq != seq:
            raise Conflict(f"stream {statement.stream!r} is at seq {seq - 1}; statement.seq {statement.seq} "
                           f"is stale or ahead", field="statement.seq")
        for subject in [event.data_subject] + ([event.personal.data_subject] if event.personal is not None else []):
            self.key(subject)  # refuses an erased subject before anything is folded
        if statement.type == SUBJECT_ERASED and unit.owner is None:
            self._erase(event)
        record = EntryRecord(statement=statement, key_id=event.key_id, signature=event.signature, seq=seq,
                             recorded_at=self.now)
        index = self.batch.expected_size + len(self.batch.entries)
        self.registry.apply(rows, Fact(index=index, record=record, facts=event.facts))
        leaf = record.leaf()
        row = EntryRow(idx=index, event_id=statement.event_id, stream=statement.stream, seq=seq,
                       type=statement.type, key_id=event.key_id, recorded_at=self.now, leaf=leaf,
                       leaf_hash=merkle.leaf_hash(leaf))
        batch = self.batch
        batch.entries.append(row)
        batch.payloads.append((index, event.data_subject, seal(
            data_key=self.key(event.data_subject), index=index, subject=event.data_subject, salt=event.salt,
            payload_bytes=event.payload_bytes)))
        if event.personal is not None:
            part = event.personal
            batch.personal.append((index, part.data_subject, seal(
                data_key=self.key(part.data_subject), index=index, subject=part.data_subject, salt=part.salt,
                payload_bytes=part.payload_bytes)))
        self.in_batch[statement.event_id] = (record, index)
        return Receipt.of(row)

    def _index(self, unit: Unit) -> None:
        """Add the group's party index rows, each fingerprint new to the index and to this batch."""
        claimed = self.indexed | {fingerprint for fingerprint, _, _ in self.batch.index}
        for fingerprint, party_id in unit.index:
            if fingerprint in claimed:
                raise IndexTaken(f"a person this group registers as party {party_id} was registered by another "
                                 f"command since the decision; resolve the people again")
            claimed.add(fingerprint)
            self.batch.index.append((fingerprint, party_id, self.now))

    def _erase(self, event: SignedEvent) -> None:
        """Destroy the erased subject's key in this batch's transaction; later events for it are refused."""
        subject = str(event.payload.get("subject"))
        if subject == LEDGER_SUBJECT:
            raise ValidationFailed("the ledger's own subject cannot be erased", field="subject")
        sealed_here = any(s == subject for _, s, _ in self.batch.payloads) or any(
            s == subject for _, s, _ in self.batch.personal)
        if self.data_keys.get(subject) is None or (subject in self.new_subjects and not sealed_here):
            raise NotFound(f"data subject {subject!r} has no key to erase", field="subject")
        self.batch.erased.append((subject, self.now))
        self._key_changes.append((subject, self.data_keys[subject]))
        self.data_keys[subject] = None

    # -- keys and undo ---------------------------------------------------------------------------------------

    def key(self, subject: str) -> bytes:
        """The data key of ``subject``; raises ``Conflict`` if it was erased (before or in this batch)."""
        data_key = self.data_keys.get(subject)
        if data_key is None:
            raise Conflict(f"data subject {subject!r} was erased; no new events are recorded for it",
                           field="data_subject")
        return data_key

    def _mark(self) -> _Mark:
        batch = self.batch
        return _Mark(len(batch.entries), len(batch.payloads), len(batch.personal), len(batch.erased),
                     len(self._key_changes), len(batch.index))

    def _undo(self, mark: _Mark) -> None:
        """Forget what a refused unit placed: entries, sealed rows, erasures and the keys they destroyed."""
        batch = self.batch
        for row in batch.entries[mark.entries:]:
            self.in_batch.pop(row.event_id, None)
        del batch.entries[mark.entries:]
        del batch.payloads[mark.payloads:]
        del batch.personal[mark.personal:]
        del batch.erased[mark.erased:]
        del batch.index[mark.index:]
        for subject, before in reversed(self._key_changes[mark.keys:]):
            self.data_keys[subject] = before
        del self._key_changes[mark.keys:]


def wanted_rows(registry: Registry, events: Iterable[SignedEvent]) -> list[tuple[str, Any]]:
    """The projection rows a batch will read: stream positions, signing keys, and what projectors name.

    A projector that cannot name its rows for an event (facts it does not expect) names none here; placing the
    event then refuses it, as that event's own error.
    """
    wanted: list[tuple[str, Any]] = []
    for event in events:
        statement = event.statement
        wanted.append((streams.TABLE, (statement.stream,)))
        wanted.append((system_keys.TABLE, (event.key_id,)))
        try:
            wanted.extend(registry.prefetch(statement, event.facts))
        except (LedgerError, KeyError, TypeError, ValueError):
            continue
    return wanted


def recorded_group(unit: Unit, recorded: Mapping[str, EntryRow]) -> list[Receipt] | None:
    """The original receipts if every event of the unit is recorded (``Conflict`` if any differs)."""
    rows = [recorded.get(event_id) for event_id in unit.event_ids]
    if not all(row is not None for row in rows):
        return None
    return [duplicate_receipt(event, row) for event, row in zip(unit.events, rows, strict=True) if row is not None]


def duplicate_receipt(event: SignedEvent, earlier: EntryRow) -> Receipt:
    """The original receipt of ``event`` if ``earlier`` records it; ``Conflict`` if the id was used otherwise."""
    record = EntryRecord.from_leaf(earlier.leaf)
    if record.statement == event.statement and record.key_id == event.key_id:
        return Receipt.of(earlier, duplicate=True)
    raise Conflict(f"event_id {event.statement.event_id!r} was already used for a different event",
                   field="statement.event_id")
