"""The journal writer: appends checked events in group commits, one ordered line, no gaps.

One thread per process takes whatever is queued and commits it in one transaction: entries, tree nodes, sealed
payloads, new data keys and every registered projection's rows. Units are single events (each recorded or refused
on its own) or groups (recorded all or none, at consecutive positions, optionally only if the streams are still
where the caller's decision saw them). Several processes may run a writer on one database: on SQLite each commits
holding the writers' turn (``WriteLock``) and places its batch again, under the turn, if another process appended
while it was placed; on PostgreSQL the log head's compare-and-set makes the loser reload and retry. ``serve
--workers`` avoids that contention on one host: its workers send their units to one writer (``server.py``).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ledger.clock import Clock, SystemClock
from ledger.errors import LedgerError, StorageError
from ledger.journal.data_keys import DataKeys
from ledger.journal.intake import Intake
from ledger.journal.placement import Placement, recorded_group, wanted_rows
from ledger.journal.units import Pending, Receipt, Unit
from ledger.log import merkle
from ledger.log.catalog import Catalog
from ledger.log.identifiers import utc_timestamp
from ledger.log.reserved import SUBJECT_ERASED
from ledger.log.statements import EntryRecord, SignedEvent
from ledger.projections.registry import Registry
from ledger.projections.rows import RowCache
from ledger.store import Batch, Store
from ledger.store.database import storage_error
from ledger.store.session import HeadChanged, UniqueViolation, WriterSession

__all__ = ["Journal", "Pending", "Receipt"]

log = logging.getLogger(__name__)
MAX_RETRIES = 100
PARALLEL_CHECK_MIN = 32
CHECK_SLICE = 250
ROW_CACHE = 200_000  # projection rows kept between batches before the cache starts afresh


class Journal:
    """Appends events through one writer thread that batches whatever is queued into one transaction.

    Callers block only until their batch is durable (committed).
    """

    def __init__(self, store: Store, *, master_key: bytes, ledger_public_key: bytes, registry: Registry,
                 catalog: Catalog | None = None, batch_max: int = 1000, clock: Clock | None = None,
                 max_skew: float = 300.0) -> None:
        self._store = store
        self._registry = registry
        self._batch_max = batch_max
        self._clock = clock or SystemClock()
        self.intake = Intake(store.rows, catalog=catalog or Catalog(), ledger_public_key=ledger_public_key,
                             clock=self._clock, max_skew=max_skew)
        self._queue: queue.Queue[list[Unit] | None] = queue.Queue()
        self._checkers: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._frontier: merkle.Frontier | None = None
        self._last_recorded_at = ""
        self._data_keys = DataKeys(master_key)
        self._session: WriterSession | None = None  # the writer thread's own connection
        self._rows: RowCache | None = None  # projection rows as committed, kept between batches
        self._start_lock = threading.Lock()
        self._listeners: list[Callable[[set[str]], None]] = []
        self._moved: set[str] = set()  # streams of a committed batch, for the listeners
        self.appended = 0
        self.batches = 0

    # -- public --------------------------------------------------------------------------------------------

    def start(self) -> None:
        thread = self._thread
        if thread is not None and self._checkers is not None and thread.is_alive():
            return  # every append starts the journal: when it runs, no lock is taken
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
            still_writing = self._thread is not None and self._thread.is_alive()
            self._thread = None
            left: list[Unit] = []  # queued behind the stop: their callers hear of it now, not at their timeout
            while not still_writing:
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                left.extend(queued or [])
            self._fail(left, StorageError("the journal stopped before this append was written; nothing of it "
                                          "was recorded, so retry it"))
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
        unit = Unit([event], owner, signed_here=signed_here)
        self.start()
        self.queue_units([unit])
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
                   signed_here: bool = False, index: Sequence[tuple[bytes, str]] = ()) -> list[Receipt]:
        """Append a group of events all or none, at consecutive positions, and wait until it is committed.

        ``expected`` maps streams to the last sequence number the caller's decision was based on (0 for a stream
        with no events yet); if any stream has moved on, nothing is recorded and ``Conflict`` names the stream,
        the expected and the actual position (reload, decide again). Any event refused (a bad signature, a
        projection refusing it) refuses the whole group with that event's error. A group whose events are all
        recorded already (a retry) returns the original receipts; one recorded only in part is a ``Conflict``.

        ``index`` names (fingerprint, party id) rows the group adds to the party index in the same transaction:
        if a fingerprint is indexed already (another command registered that person after the decision), nothing
        is recorded and ``IndexTaken`` says to resolve the people again.
        """
        if not events:
            raise ValueError("a group needs at least one event")
        unit = Unit(list(events), owner, group=True, expected=dict(expected or {}), signed_here=signed_here,
                    index=tuple(index))
        self.start()
        self.queue_units([unit])
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
        pending: list[Unit] = []
        for start in range(0, len(events), CHECK_SLICE):
            part = events[start : start + CHECK_SLICE]
            if len(part) >= PARALLEL_CHECK_MIN and self._checkers is not None:
                outcome = list(self._checkers.map(check, part, chunksize=32))
            else:
                outcome = [check(event) for event in part]
            queued_now = [Unit([event], owner, checked=True) for event, early in zip(part, outcome, strict=True)
                          if early is None]
            if queued_now:
                self.queue_units(queued_now)
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

    def listen(self, callback: Callable[[set[str]], None]) -> Callable[[], None]:
        """Call ``callback`` with the streams of every batch once it is committed and its callers answered (on the
        writer's thread, so it must be quick; what it raises is ignored); returns the function that stops it. A
        ``RemoteJournal`` calls it for every batch the serving process's writer commits, whichever worker's
        appends it holds."""
        self._listeners.append(callback)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return stop

    def _committed(self, streams: set[str]) -> None:
        for callback in list(self._listeners):
            try:
                callback(streams)
            except Exception:  # a listener must not fail the writer, nor the answers still to be sent
                log.exception("a journal listener failed")

    def queue_units(self, units: list[Unit]) -> None:
        """Hand units to the writer, which settles each one's outcome (``RemoteJournal`` sends them to the writer
        of the serving process instead). Call ``start`` first."""
        self._queue.put(units)

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
            try:
                ready = self._checked(units)
                if ready:
                    self._write(ready)
            except Exception as exc:  # the writer must outlive any failure, and every caller must hear of it
                log.exception("the journal writer failed a batch of %d units", len(units))
                self._reset(session=True)
                self._fail(units, exc if isinstance(exc, LedgerError) else storage_error(exc, doing="appending"))
            if stop:
                return

    def _collect(self, units: list[Unit]) -> tuple[list[Unit], bool]:
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

    def _checked(self, units: list[Unit]) -> list[Unit]:
        """Run the intake checks of the units not checked yet; settle the ones refused (or retried) at once."""
        ready = []
        refused: list[tuple[Unit, LedgerError]] = []
        for unit in units:
            if not unit.checked:
                try:
                    for event in unit.events:
                        self.intake.check(event, owner=unit.owner, signature=not unit.signed_here)
                except LedgerError as exc:
                    refused.append((unit, exc))
                    continue
                unit.checked = True
            ready.append(unit)
        if refused:
            # A retry of a recorded event gets its receipt, whatever its key or the intake rules are now (one
            # lookup for all the refused units of the batch); anything else is the unit's error alone.
            recorded = self._store.entries_by_event_ids([i for unit, _ in refused for i in unit.event_ids])
            for unit, error in refused:
                try:
                    earlier = recorded_group(unit, recorded)
                except LedgerError:  # an id used for other content
                    earlier = None
                if earlier is not None:
                    unit.outcome.settle(earlier)
                else:
                    unit.outcome.fail(error)
        return ready

    def _write(self, units: list[Unit]) -> None:
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
            if self._moved:
                moved, self._moved = self._moved, set()
                self._committed(moved)
            return
        self._fail(units, StorageError("the log head kept moving; too many concurrent writers"))

    def _fail_or_split(self, units: list[Unit], exc: Exception) -> None:
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
    def _fail(units: list[Unit], exc: LedgerError) -> None:
        for unit in units:
            if not unit.outcome.done():
                unit.outcome.fail(exc)

    def _load_frontier(self) -> merkle.Frontier:
        if self._frontier is None:
            # Whatever dropped the frontier (another writer's commit, a failed batch, a restart), the head may
            # have moved past an erasure since the data keys were cached: they are dropped with it.
            self._data_keys.clear()
            size = self._store.size()
            self._frontier = merkle.Frontier.load(size, self._store.read_nodes)
            self._last_recorded_at = self._store.entry(size - 1).recorded_at if size else ""
        return self._frontier

    def _try_batch(self, units: list[Unit], *, check_existing: bool) -> list[list[Receipt] | LedgerError]:
        if self._session is None:
            self._session = self._store.writer_session()
        session = self._session
        placed = self._place(session, units, check_existing=check_existing)
        with session.turn() as held:  # the writers' turn on SQLite, for the commit only
            if held and session.head() != placed.placement.batch.expected_size:
                # Another process appended while this batch was placed: place it again on the head as it is now,
                # holding the turn, so it cannot move again before the commit.
                self._reset(data_keys=True)
                placed = self._place(session, units, check_existing=check_existing)
            return self._commit(session, placed)

    def _place(self, session: WriterSession, units: list[Unit], *, check_existing: bool) -> _Placed:
        frontier = self._load_frontier()
        events = [event for unit in units for event in unit.events]
        if self._rows is None:
            self._rows = RowCache(self._registry.specs, load=session.read_rows)
        lookup = self._store.entries_by_event_ids
        placement = Placement(batch=Batch(expected_size=frontier.size), rows=self._rows, registry=self._registry,
                              lookup=lookup, now=max(utc_timestamp(self._clock.now()), self._last_recorded_at),
                              existing=dict(lookup([e.statement.event_id for e in events])) if check_existing else {})
        placement.rows.prefetch(wanted_rows(self._registry, events))
        fingerprints = [fingerprint for unit in units for fingerprint, _ in unit.index]
        if fingerprints:
            placement.indexed = session.indexed(fingerprints)
        placement.data_keys, new_keys = self._data_keys.for_subjects(
            {e.data_subject for e in events} | {e.personal.data_subject for e in events if e.personal is not None}
            | {str(e.payload.get("subject")) for e in events if e.statement.type == SUBJECT_ERASED},
            session.wrapped_keys)
        placement.new_subjects = set(new_keys)
        outcome = [placement.place(unit) for unit in units]
        batch = placement.batch
        new_frontier, nodes = frontier.extend([row.leaf_hash for row in batch.entries])
        batch.nodes = nodes
        batch.changes = placement.rows.changes()
        used = {subject for _, subject, _ in batch.payloads} | {subject for _, subject, _ in batch.personal}
        batch.new_subject_keys = [(s, w, placement.now) for s, w in new_keys.items() if s in used]
        return _Placed(placement, outcome, new_frontier)

    def _commit(self, session: WriterSession, placed: _Placed) -> list[list[Receipt] | LedgerError]:
        placement, batch = placed.placement, placed.placement.batch
        session.commit_batch(batch)
        placement.rows.settle()
        if placement.rows.size() > ROW_CACHE:
            self._rows = None
        self._frontier = placed.frontier
        self._last_recorded_at = placement.now
        for subject, _, _ in batch.new_subject_keys:
            fresh = placement.data_keys.get(subject)
            if fresh is not None:
                self._data_keys.remember(subject, fresh)
        for subject, _ in batch.erased:
            self._data_keys.forget(subject)
        self.appended += len(batch.entries)
        self.batches += 1
        if self._listeners:
            self._moved.update(row.stream for row in batch.entries)  # announced once the callers are answered
        return placed.outcome


@dataclass(frozen=True)
class _Placed:
    """A batch placed and ready to commit: the placement, each unit's outcome and the tree after it."""

    placement: Placement
    outcome: list[list[Receipt] | LedgerError]
    frontier: merkle.Frontier
