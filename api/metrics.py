"""Prometheus metrics of one app instance, in its own registry; under ``serve --workers``, of all its workers.

``serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR`` (a directory in its private temporary one) before it
starts the workers, so that prometheus-client keeps each worker's values in files there. Whichever worker
answers ``/metrics`` then reports the whole service: request counts and latencies summed over the workers, the
ledger-wide gauges as last set, and the journal writer's counts as the serving process, which runs it, sets them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.values import MultiProcessValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.app import Ledger

log = logging.getLogger(__name__)
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"  # set by serve --workers for its workers (read by prometheus-client)
APPENDED = ("lifeledger_appended_events", "Events appended by the journal writer since it started")
COMMITS = ("lifeledger_group_commits", "Group commits made by the journal writer since it started")


@contextlib.contextmanager
def writer_counts(ledger: Ledger, *, every: float = 1.0) -> Iterator[None]:
    """In the serving process of ``serve --workers`` (after ``PROMETHEUS_MULTIPROC_DIR`` is set): write its
    journal writer's counts where the workers' ``/metrics`` reads them, every ``every`` seconds until the block
    ends. The value class is prometheus-client's multiprocess one, named here because this process imported the
    library before the directory was set."""
    assert os.environ.get(MULTIPROCESS), "writer_counts needs PROMETHEUS_MULTIPROC_DIR set"
    value = MultiProcessValue()  # type: ignore[no-untyped-call]
    appended = value("gauge", APPENDED[0], APPENDED[0], (), (), APPENDED[1], multiprocess_mode="livesum")
    commits = value("gauge", COMMITS[0], COMMITS[0], (), (), COMMITS[1], multiprocess_mode="livesum")
    stop = threading.Event()

    def run() -> None:
        while True:
            try:
                stats = ledger.intake.stats()
                appended.set(stats.appended)
                commits.set(stats.batches)
            except Exception:  # keep counting: a failed pass leaves the last values
                log.exception("writing the journal writer's counts for /metrics failed")
            if stop.wait(every):
                return

    thread = threading.Thread(target=run, name="writer-metrics", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


class Metrics:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.registry = CollectorRegistry()
        self.requests = Counter("lifeledger_http_requests_total", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("lifeledger_http_request_seconds", "HTTP request latency", ["route"],
                                 registry=self.registry)
        # The ledger's own figures: the same whichever worker reads them, so the newest reading stands.
        self.tree_size = Gauge("lifeledger_tree_size", "Entries in the journal", registry=self.registry,
                               multiprocess_mode="mostrecent")
        self.checkpoint_size = Gauge("lifeledger_checkpoint_tree_size", "Tree size of the latest checkpoint",
                                     registry=self.registry, multiprocess_mode="mostrecent")
        # The journal writer's counts: under serve --workers the serving process runs it and sets them there.
        self.appended = Gauge(*APPENDED, registry=self.registry, multiprocess_mode="livesum")
        self.batches = Gauge(*COMMITS, registry=self.registry, multiprocess_mode="livesum")
        self.anchored = Gauge("lifeledger_anchored_tree_size", "Largest tree size anchored and confirmed on chain",
                              registry=self.registry, multiprocess_mode="mostrecent")
        self.anchor_lag = Gauge("lifeledger_anchor_lag_entries", "Entries not yet covered by a confirmed anchor",
                                registry=self.registry, multiprocess_mode="mostrecent")
        self.anchor_jobs = Gauge("lifeledger_anchor_jobs", "Anchoring transactions by status", ["status"],
                                 registry=self.registry, multiprocess_mode="mostrecent")
        # A worker of serve --workers: its values go to the shared directory, its appends to the serving process.
        self.shared = ledger.settings.journal_socket is not None and bool(os.environ.get(MULTIPROCESS))

    def exposition(self) -> bytes:
        """The Prometheus text of this app's metrics, or of every worker's under ``serve --workers``."""
        self.refresh()
        if not self.shared:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def refresh(self) -> None:
        log, anchoring = self.ledger.log, self.ledger.anchoring
        self.tree_size.set(log.size())
        latest = log.latest_checkpoint()
        self.checkpoint_size.set(latest.tree_size if latest else 0)
        if not self.shared:  # a worker appends through the serving process's writer, which counts
            stats = self.ledger.intake.stats()
            self.appended.set(stats.appended)
            self.batches.set(stats.batches)
        if anchoring.configured:
            state = anchoring.status(limit=1)
            self.anchored.set(state.anchored_tree_size)
            self.anchor_lag.set(state.lag)
            for status in ("pending", "sent", "confirmed", "skipped", "failed"):
                self.anchor_jobs.labels(status).set(state.jobs.get(status, 0))



class MetricsMiddleware:
    """Count every request and time it by route (a plain ASGI middleware: the decorator kind costs a task and a
    stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            metrics: Metrics | None = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                path = getattr(scope.get("route"), "path", "unmatched")
                metrics.requests.labels(scope["method"], path, str(status)).inc()
                metrics.latency.labels(path).observe(time.perf_counter() - started)
