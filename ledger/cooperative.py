"""Synchronous commands run on an event loop's own thread, handing their waits back to the loop.

A command (apply for a policy, pay a premium) is plain synchronous code: it reads, decides, then waits for the
journal writer to commit its events, and sometimes for a worker process to render a PDF. Served from a thread
pool, sixteen requests in flight are sixteen threads taking turns on the interpreter lock, and each turn costs:
an application used about half again as much CPU with sixteen threads as with one. :func:`run` executes the
command on the loop's thread instead, inside a greenlet; where the command would block, :func:`wait` hands the
awaitable to the loop, which runs other requests until it completes and then resumes the command where it stopped.
Outside :func:`run` (the CLI, the clock, tests, a thread pool) :func:`wait` is not used and code blocks as before.

Code that may run this way keeps one rule: no thread lock is held across a wait. Another command on the same
thread taking that lock would block the loop, and with it the command that holds the lock. A lock that must be
held across a wait is a :class:`Lock`, which, taken from a command on the loop, waits by yielding to the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

import greenlet

__all__ = ["Lock", "blocking", "on_loop", "run", "wait"]

P = ParamSpec("P")
T = TypeVar("T")

LOCK_POLL = 0.0005  # seconds between two tries of a Lock another command on the loop holds


class _Command(greenlet.greenlet):
    """The greenlet a command runs in; its parent is the loop's task that awaits what the command waits for."""


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` on this thread, awaiting on its behalf whatever it :func:`wait`\\ s for.

    Its result is returned and its exception raised here. The command sees the context variables of the caller.
    Once started, a command runs to its end, as one in a worker thread would: if the awaiting task is cancelled
    (the server stopping), the command still finishes what it waits for and what comes after (the journal may
    have recorded its events, and an idempotency key must keep their answer), and the cancellation is raised
    here afterwards.
    """
    command = _Command(fn, parent=greenlet.getcurrent())
    command.gr_context = contextvars.copy_context()
    outcome: Any = command.switch(*args, **kwargs)
    cancelled = False
    while not command.dead:  # the command waits for ``outcome``, an awaitable
        try:
            waited = asyncio.ensure_future(outcome)
        except TypeError as exc:  # not an awaitable: the command's own mistake, raised where it made it
            outcome = command.throw(exc)
            continue
        while not waited.done():
            try:
                await asyncio.shield(waited)
            except asyncio.CancelledError:
                # This task was cancelled (also when what it waits for finished in the same pass): the command
                # finishes first. If what it waits for was itself cancelled, that is the command's to handle.
                cancelled = cancelled or not waited.cancelled()
            except BaseException:
                pass  # what it waits for failed: raised in the command below
        if waited.cancelled():  # a render future of a pool shut down: the command hears of that future alone
            outcome = command.throw(concurrent.futures.CancelledError())
        elif (error := waited.exception()) is not None:  # its error, or a timeout
            outcome = command.throw(error)
        else:
            outcome = command.switch(waited.result())
    if cancelled:
        raise asyncio.CancelledError
    return cast(T, outcome)


def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``fn``, which may block (a write that waits its turn at the database), off the loop's thread when
    called from a command on the loop (:func:`run`), directly anywhere else."""
    if on_loop():
        return wait(asyncio.to_thread(fn, *args, **kwargs))
    return fn(*args, **kwargs)


def on_loop() -> bool:
    """Whether this code runs as a command under :func:`run` (so :func:`wait` may be used)."""
    return isinstance(greenlet.getcurrent(), _Command)


def wait(awaitable: Awaitable[T]) -> T:
    """Suspend the command until the loop has awaited ``awaitable``; its result, or its exception raised here.

    Only inside :func:`run` (see :func:`on_loop`); raises ``RuntimeError`` elsewhere.
    """
    current = greenlet.getcurrent()
    if not isinstance(current, _Command) or current.parent is None:
        raise RuntimeError("wait() is for commands started by ledger.cooperative.run")
    return cast(T, current.parent.switch(awaitable))


class Lock:
    """A mutual-exclusion lock for threads and for commands on the loop alike (not re-entrant).

    A thread blocks on it like on ``threading.Lock``; a command under :func:`run` finding it held yields to the
    loop and tries again, so the command holding it (perhaps suspended on this very thread) can go on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> Lock:
        if not self._lock.acquire(blocking=False):
            if on_loop():
                while not self._lock.acquire(blocking=False):
                    wait(asyncio.sleep(LOCK_POLL))
            else:
                self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()
