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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ledger.clock import Clock, SystemClock
from ledger.crypto.sealing import new_data_key, seal, unwrap_key, wrap_key
from ledger.errors import Conflict, LedgerError, NotFound, StorageError, ValidationFailed
from ledger.journal.intake import Intake
from ledger.log import merkle
from ledger.log.catalog import Catalog
from ledger.log.reserved import LEDGER_SUBJECT, SUBJECT_ERASED
from ledger.log.statements import EntryRecord, SignedEvent, utc_timestamp
from ledger.projections import streams, system_keys
from ledger.projections.base import Fact
from ledger.projections.registry import Registry
from ledger.projections.rows import RowCache
from ledger.store import Batch, EntryRow, Store
from ledger.store.database import storage_error
from ledger.store.session import HeadChanged, UniqueViolation, WriterSession

log = logging.getLogger(__name__)
MAX_RETRIES = 100
PARALLEL_CHECK_MIN = 32
CHECK_SLICE = 250
DATA_KEY_CACHE = 50_000
ROW_CACHE = 200_000  # projection rows kept between batches before the cache starts afresh


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


class Pending:
    """The outcome of a queued unit: the writer settles it once; callers wait for it.

    A bare lock, held until settled, is the cheapest thing a thread can block on, and a unit is waited for by
    exactly one caller (``concurrent.futures.Future`` costs several times as much per event).
    """

    __slots__ = ("_callback", "_error", "_lock", "_value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._value: list[Receipt] = []
        self._error: BaseException | None = None
        self._callback: Callable[[], None] | None = None

    def settle(self, value: list[Receipt]) -> None:
        self._value = value
        self._lock.release()
        self._notify()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._lock.release()
        self._notify()

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the writer's thread, or at once) when settled; it may be called twice if
        settling races with this call, so it must be idempotent (an event loop's ``call_soon_threadsafe`` of a
        resolver that checks whether it resolved already)."""
        self._callback = callback
        if self.done():
            callback()

    def _notify(self) -> None:
        callback = self._callback
        if callback is not None:
            callback()

    def done(self) -> bool:
        return not self._lock.locked()

    def result(self, timeout: float) -> list[Receipt]:
        """The receipts; raises the unit's error, or ``StorageError`` after ``timeout`` seconds (outcome unknown)."""
        if not self._lock.acquire(timeout=timeout):
            raise StorageError(f"the append did not finish within {timeout:g} s, so its outcome is unknown; retry "
                               f"with the same events (recorded events return their original receipts)")
        self._lock.release()
        if self._error is not None:
            raise self._error
        return self._value


@dataclass
class _Unit:
    """What the writer places as one: a single event, or a group recorded all or none."""

    events: list[SignedEvent]
    owner: str | None  # the system that posted them; None for the ledger's own events
    group: bool = False
    expected: Mapping[str, int] | None = None  # stream -> the last seq the caller's decision saw
    signed_here: bool = False  # signed by the ledger in this process: its signature needs no second look
    checked: bool = False  # passed the intake checks already
    outcome: Pending = field(default_factory=Pending)


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
        self._session: WriterSession | None = None  # the writer thread's own connection
        self._rows: RowCache | None = None  # projection rows as committed, kept between batches
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
            self._reset(session=True)

    def submit(self, event: SignedEvent, *, owner: str | None, signed_here: bool = False) -> Pending:
        """Queue an event for the writer, which checks and places it; its outcome settles with a one-receipt list.

        The writer runs the intake checks (``Intake.check``) on its own thread, for the whole batch at once: a
        caller does no work a moment before the writer would, and threads do not take turns on the interpreter
        lock for every event. ``signed_here`` marks an event the ledger signed in this process a moment ago, whose
        signature needs no second look. The outcome carries every error: ``ValidationFailed`` or
        ``SignatureError`` from the checks (unless this very event is recorded already: then its original
        receipt), ``Conflict`` for a reused event id or a stale ``seq``, ``SignatureError`` for a key revoked
        meanwhile, ``Forbidden`` for a write outside the key's scope.
        """
        unit = _Unit([event], owner, signed_here=signed_here)
        self.start()
        self._queue.put([unit])
        return unit.outcome

    def append(self, event: SignedEvent, *, owner: str | None, timeout: float = 60.0,
               signed_here: bool = False) -> Receipt:
        """Append one event and wait until it is committed (see ``submit`` for its errors).

        Raises ``StorageError`` if that takes longer than ``timeout`` seconds: the outcome is then unknown, and
        a retry with the same event is safe (a recorded event returns its original receipt).
        """
        return self.submit(event, owner=owner, signed_here=signed_here).result(timeout)[0]

    def append_all(self, events: Sequence[SignedEvent], *, owner: str | None,
                   expected: Mapping[str, int] | None = None, timeout: float = 60.0,
                   signed_here: bool = False) -> list[Receipt]:
        """Append a group of events all or none, at consecutive positions, and wait until it is committed.

        ``expected`` maps streams to the last sequence number the caller's decision was based on (0 for a stream
        with no events yet); if any stream has moved on, nothing is recorded and ``Conflict`` names the stream,
        the expected and the actual position (reload, decide again). Any event refused (a bad signature, a
        projection refusing it) refuses the whole group with that event's error. A group whose events are all
        recorded already (a retry) returns the original receipts; one recorded only in part is a ``Conflict``.
        """
        if not events:
            raise ValueError("a group needs at least one event")
        unit = _Unit(list(events), owner, group=True, expected=dict(expected or {}), signed_here=signed_here)
        self.start()
        self._queue.put([unit])
        return unit.outcome.result(timeout)

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
            queued_now = [_Unit([event], owner, checked=True) for event, early in zip(part, outcome, strict=True)
                          if early is None]
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
                results.append(next(queued).outcome.result(timeout)[0])
            except LedgerError as exc:
                results.append(exc)
        return results

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
            units, stop = self._collect(list(first))
            units = self._checked(units)
            if units:
                self._write(units)
            if stop:
                return

    def _collect(self, units: list[_Unit]) -> tuple[list[_Unit], bool]:
        """Add what is queued to ``units`` (up to ``batch_max`` events); True if a stop was found."""
        count = sum(len(u.events) for u in units)
        while count < self._batch_max:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return units, True
            units.extend(nxt)
            count += sum(len(u.events) for u in nxt)
        return units, False

    def _checked(self, units: list[_Unit]) -> list[_Unit]:
        """Run the intake checks of the units not checked yet; settle the ones refused (or retried) at once."""
        ready = []
        for unit in units:
            if not unit.checked:
                try:
                    for event in unit.events:
                        self.intake.check(event, owner=unit.owner, signature=not unit.signed_here)
                except LedgerError as exc:
                    # A retry of a recorded event gets its receipt, whatever its key or the intake rules are now.
                    earlier = self._recorded_group(unit, self._store.entries_by_event_ids(
                        [e.statement.event_id for e in unit.events]))
                    if earlier is not None:
                        unit.outcome.settle(earlier)
                    else:
                        unit.outcome.fail(exc)
                    continue
                unit.checked = True
            ready.append(unit)
        return ready

    def _write(self, units: list[_Unit]) -> None:
        check_existing = False  # event ids are checked by the database's unique key first, by a lookup on a clash
        for attempt in range(MAX_RETRIES):
            try:
                outcome = self._try_batch(units, check_existing=check_existing)
            except HeadChanged as exc:
                # Another process appended first (perhaps erasing a subject, which destroys its key in the same
                # transaction): reload everything, data keys included, and try again after a short, random pause
                # so that two writers do not keep colliding in lockstep.
                self._reset(data_keys=True)
                log.debug("%s; reloading (attempt %d)", exc.message, attempt + 1)
                time.sleep(random.uniform(0.001, 0.002 * min(attempt + 1, 20)))
                continue
            except UniqueViolation:
                self._reset()
                if not check_existing:
                    check_existing = True  # an event recorded before: place the batch again, looking ids up
                    continue
                self._fail_or_split(units, StorageError("a unique key was taken while appending"))
                return
            except Exception as exc:  # the writer thread must survive anything and tell every caller
                self._reset(session=True)
                self._fail_or_split(units, exc)
                return
            for unit, result in zip(units, outcome, strict=True):
                if isinstance(result, LedgerError):
                    unit.outcome.fail(result)
                else:
                    unit.outcome.settle(result)
            return
        self._fail(units, StorageError("the log head kept moving; too many concurrent writers"))

    def _fail_or_split(self, units: list[_Unit], exc: Exception) -> None:
        if len(units) > 1:
            # One bad unit must not sink the others: commit them one at a time.
            log.warning("batch of %d units failed (%s); committing them one by one", len(units), exc)
            for unit in units:
                self._write([unit])
            return
        self._fail(units, exc if isinstance(exc, LedgerError) else storage_error(exc, doing="appending an event"))

    def _reset(self, *, session: bool = False, data_keys: bool = False) -> None:
        """Forget what may no longer be true: the frontier, cached rows (and the connection, data keys)."""
        self._frontier = None
        self._rows = None
        if data_keys:
            self._data_keys.clear()
        if session and self._session is not None:
            self._session.close()
            self._session = None

    @staticmethod
    def _fail(units: list[_Unit], exc: LedgerError) -> None:
        for unit in units:
            if not unit.outcome.done():
                unit.outcome.fail(exc)

    def _load_frontier(self) -> merkle.Frontier:
        if self._frontier is None:
            size = self._store.size()
            self._frontier = merkle.Frontier.load(size, self._store.read_nodes)
            self._last_recorded_at = self._store.entry(size - 1).recorded_at if size else ""
        return self._frontier

    def _try_batch(self, units: list[_Unit], *, check_existing: bool) -> list[list[Receipt] | LedgerError]:
        if self._session is None:
            self._session = self._store.writer_session()
        session = self._session
        frontier = self._load_frontier()
        events = [event for unit in units for event in unit.events]
        if self._rows is None:
            self._rows = RowCache(self._registry.specs, load=session.read_rows)
        existing = self._store.entries_by_event_ids([e.statement.event_id for e in events]) if check_existing else {}
        placing = _Placing(batch=Batch(expected_size=frontier.size), rows=self._rows, existing=existing,
                           now=max(utc_timestamp(self._clock.now()), self._last_recorded_at))
        placing.rows.prefetch(self._wanted_rows(events))
        placing.data_keys, new_keys = self._data_keys_for(
            {e.data_subject for e in events} | {e.personal.data_subject for e in events if e.personal is not None}
            | {str(e.payload.get("subject")) for e in events if e.statement.type == SUBJECT_ERASED})
        placing.new_subjects = set(new_keys)
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
        session.commit_batch(batch)
        placing.rows.settle()
        if placing.rows.size() > ROW_CACHE:
            self._rows = None
        self._frontier = new_frontier
        self._last_recorded_at = placing.now
        for subject, _, _ in batch.new_subject_keys:
            fresh = placing.data_keys[subject]
            if fresh is not None:
                self._remember_key(subject, fresh)
        for subject, _ in batch.erased:
            self._data_keys.pop(subject, None)
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
            retried = self._recorded_group(unit, placing.existing)
            if retried is not None:
                return retried
            for stream, want in (unit.expected or {}).items():
                actual = streams.last_seq(placing.rows, stream)
                if actual != want:
                    # A stream that moved on may have moved by this very group (a retry after a lost answer).
                    retried = self._recorded_group(unit, self._store.entries_by_event_ids(
                        [e.statement.event_id for e in unit.events]))
                    if retried is not None:
                        return retried
                    raise Conflict(f"stream {stream!r} is at position {actual}, not at {want} where the decision "
                                   f"was made; reload it and decide again", field="expected_seq")
        return [self._place(event, unit, placing) for event in unit.events]

    @staticmethod
    def _erase(event: SignedEvent, placing: _Placing) -> None:
        """Destroy the erased subject's key in this batch's transaction; later events for it are refused."""
        subject = str(event.payload.get("subject"))
        if subject == LEDGER_SUBJECT:
            raise ValidationFailed("the ledger's own subject cannot be erased", field="subject")
        sealed_here = any(s == subject for _, s, _ in placing.batch.payloads) or any(
            s == subject for _, s, _ in placing.batch.personal)
        if placing.data_keys.get(subject) is None or (subject in placing.new_subjects and not sealed_here):
            raise NotFound(f"data subject {subject!r} has no key to erase", field="subject")
        placing.batch.erased.append((subject, placing.now))
        placing.data_keys[subject] = None

    @staticmethod
    def _recorded_group(unit: _Unit, recorded: Mapping[str, EntryRow]) -> list[Receipt] | None:
        """The original receipts if every event of the group is recorded (``Conflict`` if any differs)."""
        rows = [recorded.get(e.statement.event_id) for e in unit.events]
        if not all(row is not None for row in rows):
            return None
        return [_duplicate_receipt(event, row) for event, row in zip(unit.events, rows, strict=True) if row is not None]

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
        if statement.type == SUBJECT_ERASED and unit.owner is None:
            self._erase(event, placing)
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
        """Data keys for the subjects (None if erased), creating wrapped keys for new subjects.

        Keys already unwrapped are taken from the cache without a query: an erasure destroys a key in the
        transaction that records it, which moves the log head, so any writer that cached the key fails its next
        commit on the head and drops its cache before placing the batch again.
        """
        keys: dict[str, bytes | None] = {}
        new: dict[str, bytes] = {}
        unknown = []
        for subject in subjects:
            cached = self._data_keys.get(subject)
            if cached is None:
                unknown.append(subject)
            else:
                self._data_keys.move_to_end(subject)
                keys[subject] = cached
        if not unknown:
            return keys, new
        assert self._session is not None
        wrapped = self._session.wrapped_keys(sorted(unknown))
        for subject in unknown:
            found = wrapped.get(subject, b"")
            if subject not in wrapped:
                data_key = new_data_key()
                keys[subject] = data_key
                new[subject] = wrap_key(master_key=self._master_key, subject=subject, data_key=data_key)
            elif found is None:
                keys[subject] = None
            else:
                keys[subject] = self._remember_key(
                    subject, unwrap_key(master_key=self._master_key, subject=subject, wrapped=found))
        return keys, new

    def _remember_key(self, subject: str, data_key: bytes) -> bytes:
        self._data_keys[subject] = data_key
        self._data_keys.move_to_end(subject)
        while len(self._data_keys) > DATA_KEY_CACHE:
            self._data_keys.popitem(last=False)
        return data_key


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
    new_subjects: set[str] = field(default_factory=set)  # subjects whose keys this batch creates
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
