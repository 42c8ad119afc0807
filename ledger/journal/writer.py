"""The journal writer: appends checked events in group commits, one ordered line, no gaps.

One thread per process takes whatever is queued and commits it in one transaction: entries, tree nodes, sealed
payloads, new data keys and every registered projection's rows. Units are single events (each recorded or refused
on its own) or groups (recorded all or none, at consecutive positions, optionally only if the streams are still
where the caller's decision saw them). Several processes may run a writer on one database: the log head's
compare-and-set makes the loser reload and retry.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from ledger.clock import Clock, SystemClock
from ledger.crypto.sealing import new_data_key, seal, unwrap_key, wrap_key
from ledger.errors import Conflict, LedgerError, StorageError
from ledger.journal.intake import Intake
from ledger.log import merkle
from ledger.log.catalog import Catalog
from ledger.log.statements import EntryRecord, SignedEvent, utc_timestamp
from ledger.projections import streams, system_keys
from ledger.projections.base import Fact
from ledger.projections.registry import Registry
from ledger.projections.rows import RowCache
from ledger.store import Batch, EntryRow, HeadMoved, Store
from ledger.store.database import storage_error

log = logging.getLogger(__name__)
MAX_RETRIES = 100
PARALLEL_CHECK_MIN = 32
CHECK_SLICE = 250
DATA_KEY_CACHE = 50_000


@dataclass(frozen=True)
class Receipt:
    """Where an event landed: its index and leaf hash (prove it later against any checkpoint that covers it)."""

    index: int
    event_id: str
    stream: str
    seq: int
    leaf_hash: bytes
    recorded_at: str
    duplicate: bool = False

    @classmethod
    def of(cls, row: EntryRow, *, duplicate: bool = False) -> Receipt:
        return cls(index=row.idx, event_id=row.event_id, stream=row.stream, seq=row.seq, leaf_hash=row.leaf_hash,
                   recorded_at=row.recorded_at, duplicate=duplicate)


@dataclass
class _Unit:
    """What the writer places as one: a single event, or a group recorded all or none."""

    events: list[SignedEvent]
    owner: str | None  # the system that posted them; None for the ledger's own events
    group: bool = False
    expected: Mapping[str, int] | None = None  # stream -> the last seq the caller's decision saw
    future: Future[list[Receipt]] = field(default_factory=Future)


def _result(future: Future[list[Receipt]], timeout: float) -> list[Receipt]:
    try:
        return future.result(timeout=timeout)
    except FutureTimeout as exc:
        raise StorageError(f"the append did not finish within {timeout:g} s, so its outcome is unknown; retry with "
                           f"the same events (recorded events return their original receipts)") from exc


class Journal:
    """Appends events through one writer thread that batches whatever is queued into one transaction.

    Callers block only until their batch is durable (committed).
    """

    def __init__(self, store: Store, *, master_key: bytes, ledger_public_key: bytes, registry: Registry,
                 catalog: Catalog | None = None, batch_max: int = 1000, clock: Clock | None = None,
                 max_skew: float = 300.0) -> None:
        self._store = store
        self._master_key = master_key
        self._registry = registry
        self._batch_max = batch_max
        self._clock = clock or SystemClock()
        self.intake = Intake(store.rows, catalog=catalog or Catalog(), ledger_public_key=ledger_public_key,
                             clock=self._clock, max_skew=max_skew)
        self._queue: queue.Queue[list[_Unit] | None] = queue.Queue()
        self._checkers: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._frontier: merkle.Frontier | None = None
        self._last_recorded_at = ""
        self._data_keys: OrderedDict[str, bytes] = OrderedDict()  # bounded LRU of unwrapped data keys
        self._start_lock = threading.Lock()
        self.appended = 0
        self.batches = 0

    # -- public --------------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
                self._thread.start()
            if self._checkers is None:
                self._checkers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="signature-check")

    def stop(self) -> None:
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(None)
                self._thread.join(timeout=30)
            self._thread = None
            if self._checkers is not None:
                self._checkers.shutdown(wait=False)
                self._checkers = None

    def submit(self, event: SignedEvent, *, owner: str | None) -> Future[list[Receipt]]:
        """Check an event now, then queue it for the writer; the future gets a one-receipt list.

        Raises ``ValidationFailed`` or ``SignatureError`` at once (unless this very event is recorded already:
        then the future holds its original receipt). The future carries write-time errors: ``Conflict`` for a
        reused event id or a stale ``seq``, ``SignatureError`` for a key revoked meanwhile, ``Forbidden`` for a
        write outside the key's scope.
        """
        unit = _Unit([event], owner)
        try:
            self.intake.check(event, owner=owner)
        except LedgerError:
            earlier = self._recorded_duplicate(event)
            if earlier is None:
                raise
            # A retry of a recorded event gets its receipt, whatever its key or the intake rules are now.
            unit.future.set_result([earlier])
            return unit.future
        self.start()
        self._queue.put([unit])
        return unit.future

    def append(self, event: SignedEvent, *, owner: str | None, timeout: float = 60.0) -> Receipt:
        """Append one event and wait until it is committed.

        Raises ``StorageError`` if that takes longer than ``timeout`` seconds: the outcome is then unknown, and
        a retry with the same event is safe (a recorded event returns its original receipt).
        """
        return _result(self.submit(event, owner=owner), timeout)[0]

    def append_all(self, events: Sequence[SignedEvent], *, owner: str | None,
                   expected: Mapping[str, int] | None = None, timeout: float = 60.0) -> list[Receipt]:
        """Append a group of events all or none, at consecutive positions, and wait until it is committed.

        ``expected`` maps streams to the last sequence number the caller's decision was based on (0 for a stream
        with no events yet); if any stream has moved on, nothing is recorded and ``Conflict`` names the stream,
        the expected and the actual position (reload, decide again). Any event refused (a bad signature, a
        projection refusing it) refuses the whole group with that event's error. A group whose events are all
        recorded already (a retry) returns the original receipts; one recorded only in part is a ``Conflict``.
        """
        if not events:
            raise ValueError("a group needs at least one event")
        for event in events:
            self.intake.check(event, owner=owner)
        unit = _Unit(list(events), owner, group=True, expected=dict(expected or {}))
        self.start()
        self._queue.put([unit])
        return _result(unit.future, timeout)

    def append_many(self, events: Sequence[SignedEvent], *, owner: str | None,
                    timeout: float = 120.0) -> list[Receipt | LedgerError]:
        """Append several events in order; each gets a receipt or its own error.

        Events are checked in slices of ``CHECK_SLICE`` on a small thread pool (the Ed25519 code releases the
        GIL), and each checked slice is queued at once, so the writer commits one slice while the next is
        being checked. Slices queued close together share a commit.
        """
        def check(event: SignedEvent) -> LedgerError | Receipt | None:
            try:
                self.intake.check(event, owner=owner)
            except LedgerError as exc:
                return self._recorded_duplicate(event) or exc
            return None

        self.start()
        checked: list[LedgerError | Receipt | None] = []
        pending: list[_Unit] = []
        for start in range(0, len(events), CHECK_SLICE):
            part = events[start : start + CHECK_SLICE]
            if len(part) >= PARALLEL_CHECK_MIN and self._checkers is not None:
                outcome = list(self._checkers.map(check, part, chunksize=32))
            else:
                outcome = [check(event) for event in part]
            queued_now = [_Unit([event], owner) for event, early in zip(part, outcome, strict=True) if early is None]
            if queued_now:
                self._queue.put(queued_now)
            checked.extend(outcome)
            pending.extend(queued_now)
        results: list[Receipt | LedgerError] = []
        queued = iter(pending)
        for early in checked:  # an error, or the receipt of an already recorded event
            if early is not None:
                results.append(early)
                continue
            try:
                results.append(_result(next(queued).future, timeout)[0])
            except LedgerError as exc:
                results.append(exc)
        return results

    def forget_data_key(self, subject: str) -> None:
        self._data_keys.pop(subject, None)

    def _recorded_duplicate(self, event: SignedEvent) -> Receipt | None:
        """The original receipt if this very event (same statement, same key) is already recorded."""
        earlier = self._store.entries_by_event_ids([event.statement.event_id]).get(event.statement.event_id)
        if earlier is None:
            return None
        record = EntryRecord.from_leaf(earlier.leaf)
        if record.statement == event.statement and record.key_id == event.key_id:
            return Receipt.of(earlier, duplicate=True)
        return None

    # -- the writer thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            units = list(first)
            stop = False
            while sum(len(u.events) for u in units) < self._batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                units.extend(nxt)
            self._write(units)
            if stop:
                return

    def _write(self, units: list[_Unit]) -> None:
        for attempt in range(MAX_RETRIES):
            try:
                outcome = self._try_batch(units)
            except HeadMoved:
                # Another process appended first: reload its work and try again after a short, random pause
                # so that two writers do not keep colliding in lockstep.
                self._frontier = None
                log.debug("log head moved under the writer; reloading (attempt %d)", attempt + 1)
                time.sleep(random.uniform(0.001, 0.002 * min(attempt + 1, 20)))
                continue
            except Exception as exc:  # the writer thread must survive anything and tell every caller
                self._frontier = None
                if len(units) > 1:
                    # One bad unit must not sink the others: commit them one at a time.
                    log.warning("batch of %d units failed (%s); committing them one by one", len(units), exc)
                    for unit in units:
                        self._write([unit])
                    return
                error = exc if isinstance(exc, LedgerError) else storage_error(exc, doing="appending an event")
                self._fail(units, error)
                return
            for unit, result in zip(units, outcome, strict=True):
                if isinstance(result, LedgerError):
                    unit.future.set_exception(result)
                else:
                    unit.future.set_result(result)
            return
        self._fail(units, StorageError("the log head kept moving; too many concurrent writers"))

    @staticmethod
    def _fail(units: list[_Unit], exc: LedgerError) -> None:
        for unit in units:
            if not unit.future.done():
                unit.future.set_exception(exc)

    def _load_frontier(self) -> merkle.Frontier:
        if self._frontier is None:
            size = self._store.size()
            self._frontier = merkle.Frontier.load(size, self._store.read_nodes)
            self._last_recorded_at = self._store.entry(size - 1).recorded_at if size else ""
        return self._frontier

    def _try_batch(self, units: list[_Unit]) -> list[list[Receipt] | LedgerError]:
        frontier = self._load_frontier()
        events = [event for unit in units for event in unit.events]
        placing = _Placing(
            batch=Batch(expected_size=frontier.size),
            rows=RowCache(self._registry.specs, load=self._store.rows.read),
            existing=self._store.entries_by_event_ids([e.statement.event_id for e in events]),
            now=max(utc_timestamp(self._clock.now()), self._last_recorded_at),
        )
        placing.rows.prefetch(self._wanted_rows(events))
        placing.data_keys, new_keys = self._data_keys_for(
            {e.data_subject for e in events} | {e.personal.data_subject for e in events if e.personal is not None})
        outcome: list[list[Receipt] | LedgerError] = []
        for unit in units:
            placing.rows.savepoint()
            mark = placing.mark()
            try:
                receipts = self._place_unit(unit, placing)
            except LedgerError as exc:
                placing.rows.rollback()
                placing.undo(mark)
                outcome.append(exc)
                continue
            placing.rows.release()
            outcome.append(receipts)
        batch = placing.batch
        new_frontier, nodes = frontier.extend([row.leaf_hash for row in batch.entries])
        batch.nodes = nodes
        batch.changes = placing.rows.changes()
        used = {subject for _, subject, _ in batch.payloads} | {subject for _, subject, _ in batch.personal}
        batch.new_subject_keys = [(s, w, placing.now) for s, w in new_keys.items() if s in used]
        self._store.commit_batch(batch)
        self._frontier = new_frontier
        self._last_recorded_at = placing.now
        for subject, _, _ in batch.new_subject_keys:
            fresh = placing.data_keys[subject]
            if fresh is not None:
                self._data_keys[subject] = fresh
        self.appended += len(batch.entries)
        self.batches += 1
        return outcome

    def _wanted_rows(self, events: list[SignedEvent]) -> list[tuple[str, Any]]:
        """The projection rows a batch will read: stream positions, signing keys, and what projectors name."""
        wanted: list[tuple[str, Any]] = []
        for event in events:
            statement = event.statement
            wanted.append((streams.TABLE, (statement.stream,)))
            wanted.append((system_keys.TABLE, (event.key_id,)))
            wanted.extend(self._registry.prefetch(statement, event.facts))
        return wanted

    def _place_unit(self, unit: _Unit, placing: _Placing) -> list[Receipt]:
        if unit.group:
            recorded = [placing.existing.get(e.statement.event_id) for e in unit.events]
            if all(row is not None for row in recorded):
                return [_duplicate_receipt(event, row) for event, row in zip(unit.events, recorded, strict=True)
                        if row is not None]
            for stream, want in (unit.expected or {}).items():
                actual = streams.last_seq(placing.rows, stream)
                if actual != want:
                    raise Conflict(f"stream {stream!r} is at position {actual}, not at {want} where the decision "
                                   f"was made; reload it and decide again", field="expected_seq")
        return [self._place(event, unit, placing) for event in unit.events]

    def _place(self, event: SignedEvent, unit: _Unit, placing: _Placing) -> Receipt:
        statement = event.statement
        earlier = placing.existing.get(statement.event_id)
        if earlier is not None:
            if unit.group:
                raise Conflict(f"event_id {statement.event_id!r} of this group is recorded already (entry "
                               f"{earlier.idx}), but not the whole group", field="statement.event_id")
            return _duplicate_receipt(event, earlier)
        if statement.event_id in placing.in_batch:
            record, index = placing.in_batch[statement.event_id]
            if not unit.group and record.statement == statement and record.key_id == event.key_id:
                return Receipt.of(placing.batch.entries[index - placing.batch.expected_size], duplicate=True)
            raise Conflict(f"event_id {statement.event_id!r} appears twice with different content",
                           field="statement.event_id")
        rows = placing.rows
        if unit.owner is not None:
            system_keys.signing_key(rows, key_id=event.key_id, owner=unit.owner)
            system_keys.check_scope(rows, key_id=event.key_id, type=statement.type, stream=statement.stream)
        expected = streams.last_seq(rows, statement.stream) + 1
        if statement.seq is not None and statement.seq != expected:
            raise Conflict(f"stream {statement.stream!r} is at seq {expected - 1}; statement.seq {statement.seq} "
                           f"is stale or ahead", field="statement.seq")
        for subject in [event.data_subject] + ([event.personal.data_subject] if event.personal is not None else []):
            placing.key(subject)  # refuses an erased subject before anything is folded
        record = EntryRecord(statement=statement, key_id=event.key_id, signature=event.signature, seq=expected,
                             recorded_at=placing.now)
        index = placing.batch.expected_size + len(placing.batch.entries)
        self._registry.apply(rows, Fact(index=index, record=record, facts=event.facts))
        leaf = record.leaf()
        row = EntryRow(idx=index, event_id=statement.event_id, stream=statement.stream, seq=expected,
                       type=statement.type, key_id=event.key_id, recorded_at=placing.now, leaf=leaf,
                       leaf_hash=merkle.leaf_hash(leaf))
        batch = placing.batch
        batch.entries.append(row)
        batch.payloads.append((index, event.data_subject, seal(
            data_key=placing.key(event.data_subject), index=index, subject=event.data_subject, salt=event.salt,
            payload_bytes=event.payload_bytes)))
        if event.personal is not None:
            part = event.personal
            batch.personal.append((index, part.data_subject, seal(
                data_key=placing.key(part.data_subject), index=index, subject=part.data_subject, salt=part.salt,
                payload_bytes=part.payload_bytes)))
        placing.in_batch[statement.event_id] = (record, index)
        return Receipt.of(row)

    def _data_keys_for(self, subjects: set[str]) -> tuple[dict[str, bytes | None], dict[str, bytes]]:
        """Data keys for the subjects (None if erased), creating wrapped keys for new subjects."""
        wrapped = self._store.wrapped_keys(sorted(subjects))
        keys: dict[str, bytes | None] = {}
        new: dict[str, bytes] = {}
        for subject in subjects:
            if subject not in wrapped:
                data_key = new_data_key()
                keys[subject] = data_key
                new[subject] = wrap_key(master_key=self._master_key, subject=subject, data_key=data_key)
            elif wrapped[subject] is None:
                self._data_keys.pop(subject, None)
                keys[subject] = None
            else:
                if subject not in self._data_keys:
                    self._data_keys[subject] = unwrap_key(master_key=self._master_key, subject=subject,
                                                          wrapped=wrapped[subject])  # type: ignore[arg-type]
                    while len(self._data_keys) > DATA_KEY_CACHE:
                        self._data_keys.popitem(last=False)
                self._data_keys.move_to_end(subject)
                keys[subject] = self._data_keys[subject]
        return keys, new


def _duplicate_receipt(event: SignedEvent, earlier: EntryRow) -> Receipt:
    record = EntryRecord.from_leaf(earlier.leaf)
    if record.statement == event.statement and record.key_id == event.key_id:
        return Receipt.of(earlier, duplicate=True)
    raise Conflict(f"event_id {event.statement.event_id!r} was already used for a different event "
                   f"(entry {earlier.idx})", field="statement.event_id")


@dataclass
class _Placing:
    """The state of one batch while its units are placed."""

    batch: Batch
    rows: RowCache
    existing: dict[str, EntryRow]
    now: str
    data_keys: dict[str, bytes | None] = field(default_factory=dict)
    in_batch: dict[str, tuple[EntryRecord, int]] = field(default_factory=dict)

    def key(self, subject: str) -> bytes:
        data_key = self.data_keys.get(subject)
        if data_key is None:
            raise Conflict(f"data subject {subject!r} was erased; no new events are recorded for it",
                           field="data_subject")
        return data_key

    def mark(self) -> tuple[int, int, int]:
        return len(self.batch.entries), len(self.batch.payloads), len(self.batch.personal)

    def undo(self, mark: tuple[int, int, int]) -> None:
        """Forget what a refused unit placed (its rows were rolled back by the row cache's savepoint)."""
        entries, payloads, personal = mark
        for row in self.batch.entries[entries:]:
            self.in_batch.pop(row.event_id, None)
        del self.batch.entries[entries:]
        del self.batch.payloads[payloads:]
        del self.batch.personal[personal:]
