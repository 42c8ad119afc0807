"""Product versions as the journal knows them, with several processes on one database (``serve --workers``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger.app import Ledger
from ledger.products import events as ev
from ledger.settings import Settings
from tests.conftest import started


def definition(ledger: Ledger, version: int) -> dict[str, object]:
    term = ledger.products.catalog.get("term-life")
    return {**{k: v for k, v in term.to_json().items() if k not in ("digest", "table_digests")}, "version": version}


def published(ledger: Ledger) -> list[tuple[str, int]]:
    return [(e.facts["product_id"], e.facts["version"]) for e in ledger.workflow.history(ev.STREAM)]


ADMIN = {"role": "admin", "party": "ops"}


@pytest.fixture
def other(settings: Settings, ledger: Ledger) -> Iterator[Ledger]:
    """A second process on the same database (another worker that has not heard of what ``ledger`` records)."""
    with started(settings) as opened:
        yield opened


@pytest.mark.usefixtures("backend")
def test_two_processes_first_selling_one_version_record_it_once(ledger: Ledger, other: Ledger) -> None:
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


def test_a_version_another_worker_publishes_is_sold_here_once_the_writer_says_so(ledger: Ledger,
                                                                                 other: Ledger) -> None:
    ledger.products.publish(definition(ledger, 2), actor=ADMIN)
    assert other.products.catalog.get("term-life").version == 1  # not heard of yet: still the older version
    other.products.committed({"policy:P1"})  # a batch that did not touch the products stream
    assert other.products.catalog.get("term-life").version == 1
    other.products.committed({ev.STREAM, "policy:P2"})  # as the serving process's writer tells each worker
    assert other.products.catalog.get("term-life").version == 2
    assert other.products.catalog.get("term-life", 2).digest == ledger.products.catalog.get("term-life", 2).digest


def test_versions_published_through_two_workers_at_once_open_again_in_any_order(settings: Settings, ledger: Ledger,
                                                                                other: Ledger) -> None:
    """One worker publishes v3 while another, not yet told of it, publishes v2: the journal holds v3 then v2, and
    every ledger opened on it afterwards holds both, the newest sold."""
    ledger.products.publish(definition(ledger, 3), actor=ADMIN)
    other.products.publish(definition(other, 2), actor=ADMIN)
    assert published(ledger)[-2:] == [("term-life", 3), ("term-life", 2)]
    other.products.committed({ev.STREAM})
    assert other.products.catalog.versions("term-life")[-2:] == [2, 3]
    assert other.products.catalog.get("term-life").version == 3
    reopened = Ledger.open(settings)  # used to fail: "version must be newer than the newest held (3), got 2"
    try:
        assert reopened.products.catalog.versions("term-life")[-2:] == [2, 3]
    finally:
        reopened.close()


def test_a_version_another_worker_published_with_other_content_is_refused_here(ledger: Ledger,
                                                                              other: Ledger) -> None:
    from ledger.errors import Conflict, NotFound

    ledger.products.publish(definition(ledger, 2), actor=ADMIN)
    changed = definition(other, 2)
    changed["waiting_period_days"] = int(changed["waiting_period_days"]) + 30  # type: ignore[call-overload]
    with pytest.raises(Conflict, match=r"published at entry \d+ with other content"):
        other.products.publish(changed, actor=ADMIN)
    with pytest.raises(NotFound):  # what the journal never recorded is not sold here
        other.products.catalog.get("term-life", 2)
    assert published(ledger).count(("term-life", 2)) == 1
