"""Worker processes' appends through the serving process's one writer (``serve --workers``), on a real SQLite file
and a real Unix socket: receipts, errors with their fields, one history from many threads, and a writer that
goes away."""

from __future__ import annotations

import pickle
import queue
import socket
import stat
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ledger import errors
from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import Conflict, LedgerError, Refused, SignatureError, StorageError, StreamMoved
from ledger.journal import remote
from ledger.journal.remote import RemoteJournal, error_form, error_of, unit_form
from ledger.journal.server import JournalServer
from ledger.journal.units import Unit
from ledger.journal.writer import Journal
from ledger.log.statements import sign_event
from ledger.servicing import events as ev
from ledger.settings import Settings
from tests.factories import policy_event


@pytest.fixture
def address() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ll-journal-") as private:  # short: a socket path has 107 bytes
        yield Path(private) / "journal.sock"


@pytest.fixture
def serving(ledger: Ledger, address: Path) -> Iterator[Path]:
    with ledger.writer_for_workers(address) as served:
        yield served


def worker(settings: Settings, address: Path) -> Ledger:
    opened = Ledger.open(settings.model_copy(update={"journal_socket": address}))
    opened.start()
    return opened


@pytest.fixture
def workers(settings: Settings, serving: Path) -> Iterator[list[Ledger]]:
    opened = [worker(settings, serving) for _ in range(2)]
    try:
        yield opened
    finally:
        for ledger in opened:
            ledger.close()


def test_a_worker_appends_through_the_serving_writer(ledger: Ledger, workers: list[Ledger],
                                                     system_key: SigningKey, serving: Path) -> None:
    one = workers[0]
    assert isinstance(one.journal, RemoteJournal) and not isinstance(ledger.journal, RemoteJournal)
    assert stat.S_IMODE(serving.stat().st_mode) == 0o600 and stat.S_IMODE(serving.parent.stat().st_mode) == 0o700
    before = ledger.journal.batches
    receipt = one.intake.append(policy_event(system_key, 1), owner="policy-admin")
    assert receipt.index == 1 and receipt.seq == 1 and not receipt.duplicate
    assert ledger.log.entry(1).leaf_hash == receipt.leaf_hash == one.log.entry(1).leaf_hash
    assert ledger.journal.batches == before + 1  # committed by the serving process's writer ...
    assert (one.journal.appended, one.journal.batches) == (1, 0)  # ... not by the worker's
    opened = one.subjects.open_payload(1)
    assert opened.payload == {"product": "TERM20", "n": 1}


def test_groups_and_many_keep_their_meaning_across_the_socket(ledger: Ledger, workers: list[Ledger],
                                                             system_key: SigningKey) -> None:
    one = workers[0]
    group = [policy_event(system_key, n, type=kind) for n, kind in
             enumerate(("policy.applied", "policy.underwritten", "policy.issued"), start=1)]
    receipts = one.intake.append_all(group, owner="policy-admin", expected={"policy:p1": 0})
    assert [r.index for r in receipts] == [1, 2, 3] and [r.seq for r in receipts] == [1, 2, 3]
    assert all(r.duplicate for r in one.intake.append_all(group, owner="policy-admin", expected={"policy:p1": 0}))
    many = one.intake.append_many([policy_event(system_key, 4, stream="policy:p2"), group[0],
                                   policy_event(system_key, 1, stream="policy:p2", amount="99.00")],
                                  owner="policy-admin")
    assert many[0].index == 4 and many[1].duplicate and many[1].index == 1
    assert isinstance(many[2], Conflict) and many[2].field == "statement.event_id"
    assert ledger.log.size() == 5


def test_errors_cross_with_their_class_and_fields(ledger: Ledger, workers: list[Ledger],
                                                  system_key: SigningKey) -> None:
    one, two = workers
    one.intake.append(policy_event(system_key, 1), owner="policy-admin")
    size = ledger.log.size()
    with pytest.raises(StreamMoved) as moved:
        two.intake.append_all([policy_event(system_key, 2), policy_event(system_key, 3)], owner="policy-admin",
                              expected={"policy:p1": 0})
    assert (moved.value.stream, moved.value.expected, moved.value.actual) == ("policy:p1", 0, 1)
    assert moved.value.field == "expected_seq" and "is at position 1, not at 0" in moved.value.message
    stranger = sign_event(key=SigningKey.generate("stranger-1"), event_id="evt-9", type="policy.issued",
                          stream="policy:p9", payload={}, data_subject="customer:c1")
    with pytest.raises(SignatureError):
        two.intake.append(stranger, owner="policy-admin")
    assert ledger.log.size() == size


@pytest.mark.parametrize("error", [
    StreamMoved("moved", stream="policy:p1", expected=2, actual=3),
    Refused("no", rule="R-1", zh="不", field="input.x"),
    errors.IndexTaken("taken"),
    StorageError("disk"),
    Conflict("clash", field="statement.seq"),
])
def test_every_ledger_error_keeps_its_class_message_and_fields(error: LedgerError) -> None:
    again = error_of(error_form(error))
    assert type(again) is type(error) and str(again) == str(error) and vars(again) == vars(error)


def test_an_error_from_outside_the_hierarchy_is_a_storage_error() -> None:
    class Odd(Conflict):
        pass

    assert type(error_of(error_form(Odd("odd", field="x")))) is Conflict  # its nearest class in ledger.errors
    plain = error_of(error_form(RuntimeError("secret detail")))
    assert type(plain) is StorageError and "secret detail" not in plain.message
    assert type(error_of(("NotAnError", "text", {}))) is StorageError


def test_threads_in_two_workers_keep_one_history(ledger: Ledger, workers: list[Ledger],
                                                 system_key: SigningKey) -> None:
    barrier = threading.Barrier(8)

    def run(thread: int) -> list[int]:
        target = workers[thread % 2]
        barrier.wait()
        return [target.intake.append(policy_event(system_key, thread * 100 + n, stream=f"policy:t{thread}"),
                                     owner="policy-admin").index for n in range(25)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        found = [index for indexes in pool.map(run, range(8)) for index in indexes]
    assert sorted(found) == list(range(1, 201))
    assert sum(one.journal.appended for one in workers) == 200
    assert ledger.audit.verify().ok


def test_a_worker_hears_at_once_when_the_writer_goes_away(settings: Settings, ledger: Ledger, address: Path,
                                                          system_key: SigningKey) -> None:
    idle = Journal(ledger.store, master_key=ledger.secrets.master_key,
                   ledger_public_key=ledger.secrets.ledger.public_key, registry=ledger.registry)  # never started
    server = JournalServer(idle, address=address)
    server.start()
    one = worker(settings, address)
    try:
        pending = one.journal.submit(policy_event(system_key, 1), owner="policy-admin")
        time.sleep(0.2)
        assert not pending.done()  # queued in the serving process, which does not write
        started = time.monotonic()
        server.stop()
        with pytest.raises(StorageError, match=r"lost the journal writer.*unknown, so retry"):
            pending.result(10)
        assert time.monotonic() - started < 5
        with pytest.raises(StorageError, match="cannot reach the journal writer"):  # it tries to connect again
            one.intake.append(policy_event(system_key, 2), owner="policy-admin")
        assert not address.exists()
        with ledger.writer_for_workers(address):  # the writer is back: the next append reaches it
            receipt = one.intake.append(policy_event(system_key, 3), owner="policy-admin")
        assert receipt.index == 1 and ledger.log.size() == 2
    finally:
        one.close()


def test_a_worker_that_stops_reading_holds_up_no_one(ledger: Ledger, workers: list[Ledger], serving: Path,
                                                     system_key: SigningKey) -> None:
    """A peer that sends thousands of units and never reads their answers fills its socket; the writer only
    hands answers to that peer's sender, so every other worker's appends go on."""
    stranger = SigningKey.generate("stranger-1")
    refused = [Unit([sign_event(key=stranger, event_id=f"bad-{n}", type="policy.issued", stream="policy:p9",
                                payload={"n": n}, data_subject="customer:c1")], "policy-admin") for n in range(4000)]
    data = pickle.dumps((0, [unit_form(unit) for unit in refused]))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.connect(str(serving))
        silent.sendall(struct.pack("!I", len(data)) + data)  # 4,000 refusals to answer, none of them read
        deadline = time.monotonic() + 30
        while not ledger.journal._queue.empty():  # the writer has taken them all
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        started = time.monotonic()
        receipt = workers[0].journal.append(policy_event(system_key, 1), owner="policy-admin", timeout=5)
        assert receipt.index == 1 and time.monotonic() - started < 2


def test_a_worker_without_a_writer_to_reach_says_so(settings: Settings, ledger: Ledger, address: Path) -> None:
    with pytest.raises(StorageError, match="cannot reach the journal writer"):
        worker(settings, address)


def test_a_receiver_that_fails_fails_what_waits_and_the_next_append_connects_again(
        ledger: Ledger, workers: list[Ledger], system_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> None:
    one = workers[0]

    def broken(form: object) -> LedgerError:
        raise RuntimeError("an answer this worker cannot read")

    monkeypatch.setattr(remote, "error_of", broken)
    stranger = sign_event(key=SigningKey.generate("stranger-1"), event_id="evt-9", type="policy.issued",
                          stream="policy:p9", payload={}, data_subject="customer:c1")
    started = time.monotonic()
    with pytest.raises(StorageError, match="RuntimeError: an answer this worker cannot read"):
        one.journal.append(stranger, owner="policy-admin", timeout=30)
    assert time.monotonic() - started < 5  # at once, not at the append's timeout
    monkeypatch.undo()
    assert one.intake.append(policy_event(system_key, 1), owner="policy-admin").index == 1


def test_every_worker_hears_which_streams_a_batch_moved(workers: list[Ledger], system_key: SigningKey) -> None:
    """Live progress in one worker follows a change another worker records: the serving process tells every
    worker the streams of each committed batch."""
    heard: queue.Queue[set[str]] = queue.Queue()
    workers[1].journal.listen(heard.put)
    workers[0].intake.append(policy_event(system_key, 1, stream="policy:p7"), owner="policy-admin")
    deadline = time.monotonic() + 5
    streams: set[str] = set()
    while "policy:p7" not in streams:
        streams |= heard.get(timeout=max(0.0, deadline - time.monotonic()))


def test_live_progress_in_one_worker_follows_a_change_recorded_in_another(ledger: Ledger,
                                                                         workers: list[Ledger]) -> None:
    """The wiring of ``serve --workers``: a request's watcher in a worker wakes when the serving process's writer
    commits a batch that moved the request's stream, whichever worker recorded it. Servicing streams are the
    ledger's own, so the commit is announced directly on the serving journal (what ``_commit`` does after a
    batch; ``test_every_worker_hears_which_streams_a_batch_moved`` covers that step with a real append)."""
    woken = threading.Event()
    stop = workers[1].servicing.watch("SX", woken.set)
    try:
        ledger.journal._committed({ev.stream_of("SY"), "policy:SX"})  # other requests, other kinds: no wake
        time.sleep(0.3)
        assert not woken.is_set()
        ledger.journal._committed({ev.stream_of("SX")})
        assert woken.wait(5)
    finally:
        stop()


def test_a_product_version_published_through_one_worker_is_sold_by_the_other(workers: list[Ledger]) -> None:
    one, other = workers
    term = one.products.catalog.get("term-life")
    newer = {**{k: v for k, v in term.to_json().items() if k not in ("digest", "table_digests")},
             "version": term.version + 1}
    other.intake.stats()  # the other worker is up and connected to the writer
    one.products.publish(newer, actor={"role": "admin", "party": "ops"})
    deadline = time.monotonic() + 5
    while other.products.catalog.get("term-life").version != term.version + 1:
        assert time.monotonic() < deadline, "the other worker never heard of the new version"
        time.sleep(0.02)
