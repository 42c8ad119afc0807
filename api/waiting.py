"""Awaiting the writer from the event loop: a request waits for its commit without tying up a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ledger import cooperative
from ledger.services.intake import Pending, Receipt

P = ParamSpec("P")
T = TypeVar("T")


async def command(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a synchronous command on the event loop's thread rather than a worker thread: where it waits (for the
    journal's commit, a PDF render), the loop serves other requests until it can go on (``ledger.cooperative``).

    For commands whose every wait goes through ``cooperative.wait`` (``Pending.result``, the render pool) and
    which hold no thread lock across one; anything else blocks the loop, so routes opt in one by one.
    """
    return await cooperative.run(fn, *args, **kwargs)


async def settled(pending: Pending, *, timeout: float = 60.0) -> list[Receipt]:
    """The receipts of a queued unit once the writer has settled it; raises its error.

    Raises ``StorageError`` after ``timeout`` seconds: the outcome is then unknown, and a retry with the same
    events is safe (recorded events return their original receipts).
    """
    return await pending.settled(timeout)
