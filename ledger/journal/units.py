"""What callers queue for the writer and what they get back: units, their pending outcomes, and receipts."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ledger import cooperative
from ledger.errors import StorageError
from ledger.log.statements import SignedEvent
from ledger.store import EntryRow


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
            self._callback = None
            callback()

    def _notify(self) -> None:
        # Dropped once called: a callback usually holds its unit, which holds this, and a cycle per unit left for
        # the cyclic collector made the serving writer stop for 20-80 ms every few seconds.
        callback, self._callback = self._callback, None
        if callback is not None:
            with contextlib.suppress(Exception):  # a waiter that went away (its loop closed) must not stop the writer
                callback()

    def done(self) -> bool:
        return not self._lock.locked()

    def result(self, timeout: float) -> list[Receipt]:
        """The receipts; raises the unit's error, or ``StorageError`` after ``timeout`` seconds (outcome unknown).

        A command running on an event loop (``ledger.cooperative.run``) waits by yielding to the loop, which serves
        other requests meanwhile; anywhere else the calling thread blocks.
        """
        if not self.done() and cooperative.on_loop():
            cooperative.wait(self.settled(timeout))
        elif not self._lock.acquire(timeout=timeout):
            raise _timed_out(timeout)
        else:
            self._lock.release()
        if self._error is not None:
            raise self._error
        return self._value

    async def settled(self, timeout: float) -> list[Receipt]:
        """Await the receipts on the running event loop, without holding a thread (see ``result``)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def resolve() -> None:
            if not done.done():
                done.set_result(None)

        def wake() -> None:  # on the writer's thread
            loop.call_soon_threadsafe(resolve)

        self.when_done(wake)
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            raise _timed_out(timeout) from None
        if self._error is not None:
            raise self._error
        return self._value


def _timed_out(timeout: float) -> StorageError:
    return StorageError(f"the append did not finish within {timeout:g} s, so its outcome is unknown; retry with the "
                        f"same events (recorded events return their original receipts)")


@dataclass
class Unit:
    """What the writer places as one: a single event, or a group recorded all or none."""

    events: list[SignedEvent]
    owner: str | None  # the system that posted them; None for the ledger's own events
    group: bool = False
    expected: Mapping[str, int] | None = None  # stream -> the last seq the caller's decision saw
    signed_here: bool = False  # signed by the ledger in this process: its signature needs no second look
    index: tuple[tuple[bytes, str], ...] = ()  # (fingerprint, party id) the group adds to the party index
    checked: bool = False  # passed the intake checks already
    outcome: Pending = field(default_factory=Pending)

    @property
    def event_ids(self) -> list[str]:
        return [event.statement.event_id for event in self.events]
