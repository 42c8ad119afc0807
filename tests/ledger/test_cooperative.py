"""Commands on the event loop's thread: their waits go back to the loop, so other requests run meanwhile."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from ledger import cooperative
from ledger.errors import StorageError
from ledger.journal.units import Pending, Receipt

RECEIPT = Receipt(index=7, event_id="e-7", stream="policy:p1", seq=1, leaf_hash=b"\x00" * 32,
                  recorded_at="2026-12-03T00:00:00.000000Z")


def test_a_command_returns_its_value_and_raises_its_error() -> None:
    def fails() -> None:
        raise KeyError("missing")

    async def main() -> None:
        assert await cooperative.run(lambda a, b=0: a + b, 2, b=3) == 5
        with pytest.raises(KeyError, match="missing"):
            await cooperative.run(fails)

    asyncio.run(main())
    assert not cooperative.on_loop()
    outside = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match=r"cooperative\.run"):
        cooperative.wait(outside)
    outside.close()


def test_while_one_command_waits_another_runs_on_the_same_thread() -> None:
    order: list[str] = []

    def slow() -> str:
        order.append("slow starts")
        cooperative.wait(asyncio.sleep(0.05))
        order.append("slow ends")
        return threading.current_thread().name

    def quick() -> str:
        order.append("quick")
        return threading.current_thread().name

    async def main() -> list[str]:
        return list(await asyncio.gather(cooperative.run(slow), cooperative.run(quick)))

    threads = asyncio.run(main())
    assert order == ["slow starts", "quick", "slow ends"]
    assert threads == [threading.current_thread().name] * 2  # no worker thread involved


def test_an_awaited_error_is_raised_inside_the_command() -> None:
    seen: list[str] = []

    async def broken() -> None:
        raise ValueError("render failed")

    def waits_for_broken() -> None:
        try:
            cooperative.wait(broken())
        except ValueError as exc:
            seen.append(str(exc))
            raise

    async def main() -> None:
        with pytest.raises(ValueError, match="render failed"):
            await cooperative.run(waits_for_broken)

    asyncio.run(main())
    assert seen == ["render failed"]


def test_a_cancelled_request_lets_its_command_finish_then_is_cancelled() -> None:
    """As a command in a worker thread would: the journal may have recorded its events, and what follows (the
    idempotency key keeping its answer) must still run."""
    steps: list[str] = []

    def command() -> None:
        steps.append("queued")
        cooperative.wait(asyncio.sleep(0.05))  # the commit, under way when the request is cancelled
        steps.append("committed")
        cooperative.wait(asyncio.sleep(0))
        steps.append("answer kept")

    async def main() -> None:
        task = asyncio.create_task(cooperative.run(command))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert steps == ["queued", "committed", "answer kept"]


def test_a_commit_that_lands_as_the_request_is_cancelled_still_reaches_the_command() -> None:
    """The awaited future completes in the very pass the request is cancelled: the command gets its result (the
    journal did commit), goes on to its end, and the request is cancelled after."""
    got: list[str] = []

    async def main() -> None:
        commit = asyncio.get_running_loop().create_future()

        def command() -> None:
            got.append(cooperative.wait(commit))
            got.append("answer kept")

        task = asyncio.create_task(cooperative.run(command))
        for _ in range(3):
            await asyncio.sleep(0)  # the command is now waiting for the commit
        commit.set_result("committed")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert got == ["committed", "answer kept"]


def test_a_cancelled_future_is_the_commands_to_handle_as_that() -> None:
    import concurrent.futures

    def command() -> str:
        future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        future.cancel()  # a render pool shut down with its queue cancelled
        try:
            cooperative.wait(asyncio.wrap_future(future))
        except concurrent.futures.CancelledError:
            return "rendered here instead"
        return "not reached"

    async def main() -> str:
        return await cooperative.run(command)

    assert asyncio.run(main()) == "rendered here instead"


def test_a_blocking_call_runs_off_the_loop_thread_from_a_command() -> None:
    loop_thread = threading.get_ident()

    async def main() -> int:
        return await cooperative.run(cooperative.blocking, threading.get_ident)

    assert asyncio.run(main()) != loop_thread
    assert cooperative.blocking(threading.get_ident) == loop_thread  # outside a command: called right here


def test_a_command_sees_the_callers_context_variables() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")

    async def main() -> str:
        request_id.set("r-1")
        return await cooperative.run(request_id.get)

    assert asyncio.run(main()) == "r-1"


def test_a_lock_held_across_a_wait_does_not_stop_the_loop() -> None:
    lock = cooperative.Lock()
    order: list[str] = []

    def holder() -> None:
        with lock:
            order.append("holder has it")
            cooperative.wait(asyncio.sleep(0.02))  # a journal commit, say
            order.append("holder lets go")

    def second() -> None:
        with lock:  # a threading.Lock here would block the loop, and the holder with it, for good
            order.append("second has it")

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(cooperative.run(holder), cooperative.run(second)), 5)

    asyncio.run(main())
    assert order == ["holder has it", "holder lets go", "second has it"]
    assert not lock.locked()

    entered = threading.Event()

    def from_thread() -> None:
        with lock:
            entered.set()

    with lock:  # from a thread it is a plain lock: the thread waits until it is let go
        thread = threading.Thread(target=from_thread)
        thread.start()
        assert not entered.wait(0.05)
    assert entered.wait(5)
    thread.join(5)


def test_a_commit_is_awaited_on_the_loop_instead_of_blocking_it() -> None:
    """``Pending.result`` in a command: the writer settles it later, and the loop goes on serving meanwhile. A
    blocking wait would hold the loop, so the task that settles it could not run before the timeout."""
    pending = Pending()
    ticks: list[float] = []

    async def settle_later() -> None:
        for _ in range(5):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)
        threading.Thread(target=pending.settle, args=([RECEIPT],)).start()  # as the writer's thread does

    async def main() -> list[Receipt]:
        result, _ = await asyncio.gather(cooperative.run(pending.result, 2.0), settle_later())
        return result

    assert asyncio.run(main()) == [RECEIPT]
    assert len(ticks) == 5


def test_a_commit_that_does_not_come_times_out_on_the_loop_too() -> None:
    pending = Pending()

    async def main() -> None:
        await cooperative.run(pending.result, 0.05)

    with pytest.raises(StorageError, match="outcome is unknown"):
        asyncio.run(main())
    failed = Pending()
    failed.fail(StorageError("disk full"))

    async def refused() -> None:
        await cooperative.run(failed.result, 1.0)

    with pytest.raises(StorageError, match="disk full"):
        asyncio.run(refused())
