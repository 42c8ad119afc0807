"""Product versions as the journal knows them, with several processes on one database (``serve --workers``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger.app import Ledger
from ledger.products import events as ev
from ledger.settings import Settings


def definition(ledger: Ledger, version: int) -> dict[str, object]:
    term = ledger.products.catalog.get("term-life")
    return {**{k: v for k, v in term.to_json().items() if k not in ("digest", "table_digests")}, "version": version}


def published(ledger: Ledger) -> list[tuple[str, int]]:
    return [(e.facts["product_id"], e.facts["version"]) for e in ledger.workflow.history(ev.STREAM)]


@pytest.mark.usefixtures("backend")
def test_two_processes_first_selling_one_version_record_it_once(settings: Settings, ledger: Ledger) -> None:
    other = Ledger.open(settings)
    other.start()
    try:
        # The same new version held by both (as a data file shipped to every host), sold first by both at once.
        product = ledger.products.catalog.publish(definition(ledger, 7))
        assert other.products.catalog.publish(definition(other, 7)).digest == product.digest
        barrier = threading.Barrier(2)

        def first_sale(target: Ledger) -> None:
            barrier.wait()
            target.products.ensure_published(target.products.catalog.get("term-life", 7))

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(first_sale, (ledger, other)))
        assert published(ledger).count(("term-life", 7)) == 1
    finally:
        other.close()


def test_a_version_another_worker_publishes_is_sold_here_once_the_writer_says_so(settings: Settings,
                                                                                 ledger: Ledger) -> None:
    other = Ledger.open(settings)
    try:
        ledger.products.publish(definition(ledger, 2), actor={"role": "admin", "party": "ops"})
        assert other.products.catalog.get("term-life").version == 1  # not heard of yet: still the older version
        other.products.committed({"policy:P1"})  # a batch that did not touch the products stream
        assert other.products.catalog.get("term-life").version == 1
        other.products.committed({ev.STREAM, "policy:P2"})  # as the serving process's writer tells each worker
        assert other.products.catalog.get("term-life").version == 2
        assert other.products.catalog.get("term-life", 2).digest == ledger.products.catalog.get("term-life", 2).digest
    finally:
        other.close()
