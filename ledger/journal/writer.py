"""The journal writer: validates signed events and appends them in group commits, one ordered line, no gaps."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from ledger.crypto.keys import LEDGER_KEY_ID
from ledger.crypto.sealing import new_data_key, seal, unwrap_key, wrap_key
from ledger.errors import Conflict, LedgerError, SignatureError, StorageError, ValidationFailed
from ledger.log import merkle
from ledger.log.statements import (
    LEDGER_SUBJECT,
    LEDGER_TYPE_PREFIX,
    RESERVED_STREAM_KINDS,
    STATEMENT_VERSION,
    EntryRecord,
    SignedEvent,
    parse_timestamp,
    utc_timestamp,
)
from ledger.projections.system_keys import Projection
from ledger.store import Batch, EntryRow, HeadMoved, Store, storage_error

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
class _Pending:
    event: SignedEvent
    owner: str | None  # the system that posted it; None for the ledger's own events
    future: Future[Receipt]


def _result(future: Future[Receipt], timeout: float) -> Receipt:
    try:
        return future.result(timeout=timeout)
    except FutureTimeout as exc:
        raise StorageError(f"the append did not finish within {timeout:g} s, so its outcome is unknown; retry with "
                           f"the same event (a recorded event returns its original receipt)") from exc


class Journal:
    """Appends events through one writer thread that batches whatever is queued into one transaction.

    Callers block only until their batch is durable (committed). Several processes may run a Journal on
    the same database: the log head's compare-and-set makes the loser reload and retry.
    """

    def __init__(self, store: Store, *, master_key: bytes, ledger_public_key: bytes, batch_max: int = 1000,
                 clock: Callable[[], str] = utc_timestamp, max_skew: float = 300.0) -> None:
        self._store = store
        self._max_skew = max_skew
        self._master_key = master_key
        self._ledger_public_key = ledger_public_key
        self._batch_max = batch_max
        self._clock = clock
        self._queue: queue.Queue[list[_Pending] | None] = queue.Queue()
        self._key_cache: dict[str, tuple[str, bytes]] = {}
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

    def submit(self, event: SignedEvent, *, owner: str | None) -> Future[Receipt]:
        """Check an event's payload hash and signature now, then queue it for the writer.

        ``owner`` is the posting system (its key must belong to it), or None for the ledger's own events.
        Raises ``ValidationFailed`` or ``SignatureError`` at once; the future carries write-time errors
        (``Conflict`` for a reused event id or a stale ``seq``, ``SignatureError`` for a key revoked meanwhile).
        """
        future: Future[Receipt] = Future()
        try:
            self._precheck(event, owner=owner)
        except LedgerError:
            earlier = self._recorded_duplicate(event)
            if earlier is None:
                raise
            # A retry of a recorded event gets its receipt, whatever its key or the intake rules are now.
            future.set_result(earlier)
            return future
        self.start()
        self._queue.put([_Pending(event, owner, future)])
        return future

    def append(self, event: SignedEvent, *, owner: str | None, timeout: float = 60.0) -> Receipt:
        """Append one event and wait until it is committed.

        Raises ``StorageError`` if that takes longer than ``timeout`` seconds: the outcome is then unknown, and
        a retry with the same event is safe (a recorded event returns its original receipt).
        """
        return _result(self.submit(event, owner=owner), timeout)

    def append_many(self, events: Sequence[SignedEvent], *, owner: str | None,
                    timeout: float = 120.0) -> list[Receipt | LedgerError]:
        """Append several events in order; each gets a receipt or its own error.

        Events are checked in slices of ``CHECK_SLICE`` on a small thread pool (the Ed25519 code releases the
        GIL), and each checked slice is queued at once, so the writer commits one slice while the next is
        being checked. Slices queued close together share a commit.
        """
        def check(event: SignedEvent) -> LedgerError | Receipt | None:
            try:
                self._precheck(event, owner=owner)
            except LedgerError as exc:
                return self._recorded_duplicate(event) or exc
            return None

        self.start()
        checked: list[LedgerError | Receipt | None] = []
        pending: list[_Pending] = []
        for start in range(0, len(events), CHECK_SLICE):
            part = events[start : start + CHECK_SLICE]
            if len(part) >= PARALLEL_CHECK_MIN and self._checkers is not None:
                outcome = list(self._checkers.map(check, part, chunksize=32))
            else:
                outcome = [check(event) for event in part]
            queued_now = [_Pending(event, owner, Future()) for event, early in zip(part, outcome, strict=True)
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
                results.append(_result(next(queued).future, timeout))
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

    def forget_data_key(self, subject: str) -> None:
        self._data_keys.pop(subject, None)

    # -- checks before queueing ----------------------------------------------------------------------------

    def _precheck(self, event: SignedEvent, *, owner: str | None) -> None:
        internal = owner is None
        if event.statement.type.startswith(LEDGER_TYPE_PREFIX) and not internal:
            raise ValidationFailed("event types starting with 'ledger.' are reserved for the ledger",
                                   field="statement.type")
        if (event.key_id == LEDGER_KEY_ID) != internal:
            raise SignatureError("only the ledger signs with the 'ledger' key", field="key_id")
        if not internal:
            if event.statement.stream.split(":", 1)[0] in RESERVED_STREAM_KINDS:
                raise ValidationFailed(f"streams of kind {', '.join(RESERVED_STREAM_KINDS)} are written only by "
                                       f"the ledger", field="statement.stream")
            if event.data_subject == LEDGER_SUBJECT:
                raise ValidationFailed(f"data_subject {LEDGER_SUBJECT!r} is reserved for the ledger's own events",
                                       field="data_subject")
        occurred = parse_timestamp(event.statement.occurred_at, field="statement.occurred_at")
        ahead = (occurred - parse_timestamp(self._clock(), field="clock")).total_seconds()
        if ahead > self._max_skew:
            raise ValidationFailed(f"statement.occurred_at is {ahead:.0f} s ahead of the ledger's clock; events "
                                   f"cannot have happened later than now (allowed skew {self._max_skew:g} s)",
                                   field="statement.occurred_at")
        if event.statement.version < STATEMENT_VERSION:
            raise ValidationFailed(f"statement.v must be {STATEMENT_VERSION}: new events commit to their data subject "
                                   f"(payload_hash = SHA-256(salt || JCS({{data_subject, payload}})))",
                                   field="statement.v")
        event.check_payload()
        if internal:
            public_key = self._ledger_public_key
        else:
            assert owner is not None
            public_key = self._public_key(event.key_id, owner=owner)
        event.check_signature(public_key)

    def _public_key(self, key_id: str, *, owner: str) -> bytes:
        """A system key's public key, from a cache: key ids are never reused, so a key's bytes never change.

        Only the first use reads the store (and refuses unknown or inactive keys at once); whether the key is
        still active is checked again by the writer for every event.
        """
        cached = self._key_cache.get(key_id)
        if cached is None:
            projection = self._store.load_projection(streams=[], key_ids=[key_id])
            public_key = projection.signing_key(key_id=key_id, owner=owner)
            cached = self._key_cache[key_id] = (projection.keys[key_id].owner, public_key)
        if cached[0] != owner:
            raise SignatureError(f"key {key_id!r} does not belong to {owner!r}", field="key_id")
        return cached[1]

    # -- the writer ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items = list(first)
            stop = False
            while len(items) < self._batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                items.extend(nxt)
            self._write(items)
            if stop:
                return

    def _write(self, items: list[_Pending]) -> None:
        for attempt in range(MAX_RETRIES):
            try:
                outcome = self._try_batch(items)
            except HeadMoved:
                # Another process appended first: reload its work and try again after a short, random pause
                # so that two writers do not keep colliding in lockstep.
                self._frontier = None
                log.debug("log head moved under the writer; reloading (attempt %d)", attempt + 1)
                time.sleep(random.uniform(0.001, 0.002 * min(attempt + 1, 20)))
                continue
            except Exception as exc:  # the writer thread must survive anything and tell every caller
                self._frontier = None
                if len(items) > 1:
                    # One bad item must not sink the others: commit them one at a time.
                    log.warning("batch of %d failed (%s); committing its events one by one", len(items), exc)
                    for item in items:
                        self._write([item])
                    return
                error = exc if isinstance(exc, LedgerError) else storage_error(exc, doing="appending an event")
                self._fail(items, error)
                return
            for pending, result in zip(items, outcome, strict=True):
                if isinstance(result, LedgerError):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)
            return
        self._fail(items, StorageError("the log head kept moving; too many concurrent writers"))

    @staticmethod
    def _fail(items: list[_Pending], exc: LedgerError) -> None:
        for pending in items:
            if not pending.future.done():
                pending.future.set_exception(exc)

    def _load_frontier(self) -> merkle.Frontier:
        if self._frontier is None:
            size = self._store.size()
            self._frontier = merkle.Frontier.load(size, self._store.read_nodes)
            self._last_recorded_at = self._store.entry(size - 1).recorded_at if size else ""
        return self._frontier

    def _try_batch(self, items: list[_Pending]) -> list[Receipt | LedgerError]:
        frontier = self._load_frontier()
        events = [p.event for p in items]
        existing = self._store.entries_by_event_ids([e.statement.event_id for e in events])
        key_ids = {e.key_id for e in events} | {
            str(e.payload[name]) for e in events if e.statement.type.startswith(LEDGER_TYPE_PREFIX)
            for name in ("key_id", "replaces") if name in e.payload
        }
        projection = self._store.load_projection(streams=[e.statement.stream for e in events], key_ids=sorted(key_ids))
        data_keys, new_keys = self._data_keys_for({e.data_subject for e in events})
        now = max(self._clock(), self._last_recorded_at)
        batch = Batch(expected_size=frontier.size, projection=projection)
        outcome: list[Receipt | LedgerError | None] = []
        in_batch: dict[str, tuple[EntryRecord, int]] = {}
        for pending in items:
            try:
                outcome.append(self._place(pending, batch, existing, in_batch, projection, data_keys, now))
            except LedgerError as exc:
                outcome.append(exc)
        new_frontier, nodes = frontier.extend([row.leaf_hash for row in batch.entries])
        batch.nodes = nodes
        used = {subject for _, subject, _ in batch.payloads}
        batch.new_subject_keys = [(s, w, now) for s, w in new_keys.items() if s in used]
        self._store.commit_batch(batch)
        self._frontier = new_frontier
        self._last_recorded_at = now
        for subject, _, _ in batch.new_subject_keys:
            fresh = data_keys[subject]
            if fresh is not None:
                self._data_keys[subject] = fresh
        self.appended += len(batch.entries)
        self.batches += 1
        return self._fill(outcome, items, {row.event_id: row for row in batch.entries})

    @staticmethod
    def _fill(outcome: list[Receipt | LedgerError | None], items: list[_Pending],
              rows: dict[str, EntryRow]) -> list[Receipt | LedgerError]:
        """Resolve in-batch duplicates (None placeholders) to the receipt of the entry they repeat."""
        return [Receipt.of(rows[p.event.statement.event_id], duplicate=True) if r is None else r
                for r, p in zip(outcome, items, strict=True)]

    def _place(self, pending: _Pending, batch: Batch, existing: dict[str, EntryRow],
               in_batch: dict[str, tuple[EntryRecord, int]], projection: Projection,
               data_keys: dict[str, bytes | None], now: str) -> Receipt | None:
        event = pending.event
        statement = event.statement
        earlier = existing.get(statement.event_id)
        if earlier is not None:
            record = EntryRecord.from_leaf(earlier.leaf)
            if record.statement == statement and record.key_id == event.key_id:
                return Receipt.of(earlier, duplicate=True)
            raise Conflict(f"event_id {statement.event_id!r} was already used for a different event "
                           f"(entry {earlier.idx})", field="statement.event_id")
        if statement.event_id in in_batch:
            record, _ = in_batch[statement.event_id]
            if record.statement == statement and record.key_id == event.key_id:
                return None
            raise Conflict(f"event_id {statement.event_id!r} appears twice with different content",
                           field="statement.event_id")
        if pending.owner is not None:
            projection.signing_key(key_id=event.key_id, owner=pending.owner)
            projection.check_scope(key_id=event.key_id, type=statement.type, stream=statement.stream)
        expected = projection.next_seq(statement.stream)
        if statement.seq is not None and statement.seq != expected:
            raise Conflict(f"stream {statement.stream!r} is at seq {expected - 1}; statement.seq {statement.seq} "
                           f"is stale or ahead", field="statement.seq")
        data_key = data_keys.get(event.data_subject)
        if data_key is None:
            raise Conflict(f"data subject {event.data_subject!r} was erased; no new events are recorded for it",
                           field="data_subject")
        record = EntryRecord(statement=statement, key_id=event.key_id, signature=event.signature, seq=expected,
                             recorded_at=now)
        index = batch.expected_size + len(batch.entries)
        projection.apply(index=index, record=record, payload=event.payload)
        leaf = record.leaf()
        row = EntryRow(idx=index, event_id=statement.event_id, stream=statement.stream, seq=expected,
                       type=statement.type, key_id=event.key_id, recorded_at=now, leaf=leaf,
                       leaf_hash=merkle.leaf_hash(leaf))
        batch.entries.append(row)
        batch.payloads.append((index, event.data_subject,
                               seal(data_key=data_key, index=index, subject=event.data_subject, salt=event.salt,
                                    payload_bytes=event.payload_bytes)))
        in_batch[statement.event_id] = (record, index)
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
