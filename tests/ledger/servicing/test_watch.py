"""Watching a servicing request for live progress: a committed batch that moved a request's stream wakes that
request's watchers and no other's, a watcher stops when told, and one that fails holds up no one."""

from __future__ import annotations

from ledger.servicing import events as ev
from ledger.servicing.service import ServicingService


def test_a_committed_stream_wakes_its_requests_watchers_only() -> None:
    service = ServicingService.load()
    woken: list[str] = []
    stop_a = service.watch("SA", lambda: woken.append("a1"))
    service.watch("SA", lambda: woken.append("a2"))
    service.watch("SB", lambda: woken.append("b"))
    service.committed({ev.stream_of("SA"), "policy:SB", "claim:SA"})  # only the request's own stream counts
    assert sorted(woken) == ["a1", "a2"]
    woken.clear()
    stop_a()
    service.committed({ev.stream_of("SA"), ev.stream_of("SB")})
    assert sorted(woken) == ["a2", "b"]


def test_a_failing_watcher_holds_up_no_one() -> None:
    service = ServicingService.load()
    woken: list[str] = []

    def gone() -> None:
        raise RuntimeError("its event loop closed")

    service.watch("SA", gone)
    service.watch("SA", lambda: woken.append("still here"))
    service.committed({ev.stream_of("SA")})
    assert woken == ["still here"]
