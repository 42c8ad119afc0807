"""The render pool: PDFs made in a worker process are the bytes the serving process would make."""

from __future__ import annotations

import pytest

from ledger.documents.epolicy import render_epolicy
from ledger.documents.pool import RenderPool
from tests.ledger.documents.samples import typical_view


def test_a_worker_process_renders_the_same_bytes() -> None:
    pool = RenderPool(workers=1)
    try:
        views = [typical_view(), typical_view(policy_no="LL20260000000002")]
        assert [pool.render(view) for view in views] == [render_epolicy(view) for view in views]
    finally:
        pool.close()
    inline = RenderPool(workers=0)
    assert inline.render(typical_view()) == render_epolicy(typical_view())
    inline.close()
    with pytest.raises(ValueError):
        RenderPool(workers=-1)


def test_a_killed_worker_is_replaced_and_the_render_still_succeeds() -> None:
    import os
    import signal

    pool = RenderPool(workers=1)
    try:
        view = typical_view()
        expected = render_epolicy(view)
        assert pool.render(view) == expected
        assert pool._pool is not None
        for pid in list(pool._pool._processes):  # the worker dies (the OOM killer, an operator)
            os.kill(pid, signal.SIGKILL)
        assert [pool.render(view) for _ in range(3)] == [expected] * 3
    finally:
        pool.close()


def test_a_command_on_the_event_loop_awaits_its_render_and_the_loop_goes_on() -> None:
    import asyncio

    from ledger import cooperative

    pool = RenderPool(workers=1)
    views = [typical_view(), typical_view(policy_no="LL20260000000002")]
    ticks = 0
    during: list[int] = []  # loop ticks while each render was under way (a blocking wait allows none)

    async def ticking() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.0005)

    def render(view: object) -> bytes:
        before = ticks
        pdf = pool.render(view)  # type: ignore[arg-type]
        during.append(ticks - before)
        return pdf

    async def main() -> list[bytes]:
        ticker = asyncio.create_task(ticking())
        try:
            return list(await asyncio.gather(*(cooperative.run(render, view) for view in views)))
        finally:
            ticker.cancel()

    try:
        pool.render(views[0])  # the worker process is up first
        assert asyncio.run(main()) == [render_epolicy(view) for view in views]
    finally:
        pool.close()
    assert len(during) == 2 and min(during) > 0
