"""Awaiting the writer from the event loop: a request waits for its commit without tying up a worker thread."""

from __future__ import annotations

import asyncio

from ledger.errors import StorageError
from ledger.services.intake import Pending, Receipt


async def settled(pending: Pending, *, timeout: float = 60.0) -> list[Receipt]:
    """The receipts of a queued unit once the writer has settled it; raises its error.

    Raises ``StorageError`` after ``timeout`` seconds: the outcome is then unknown, and a retry with the same
    events is safe (recorded events return their original receipts).
    """
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def resolve() -> None:
        if not done.done():
            done.set_result(None)

    def wake() -> None:  # on the writer's thread
        loop.call_soon_threadsafe(resolve)

    pending.when_done(wake)
    try:
        await asyncio.wait_for(done, timeout)
    except TimeoutError as exc:
        raise StorageError(f"the append did not finish within {timeout:g} s, so its outcome is unknown; retry with "
                           f"the same event (a recorded event returns its original receipt)") from exc
    return pending.result(0)
