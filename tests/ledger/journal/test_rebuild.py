"""Rebuilding projection tables: consistent while writers append, each projector on its own, with signs of life."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import pytest
from sqlalchemy import select, update

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import Conflict, StorageError
from ledger.journal import rebuild as rebuilding
from ledger.journal.audit import audit
from ledger.journal.opening import Opener
from ledger.journal.rebuild import rebuild
from ledger.journal.replay import Replay
from ledger.log.note import NoteVerifier
from ledger.log.statements import EntryRecord, Statement
from ledger.projections.base import Column, Fact, Key, Rows, TableSpec
from ledger.projections.registry import core_projectors
from ledger.settings import Settings
from ledger.store import EntryRow, Store
from ledger.store.rows import RowStore
from tests.factories import POLICY_ADMIN_SCOPE, policy_event

pytestmark = pytest.mark.usefixtures("backend")

CORE = ["streams", "system_keys", "documents"]


def opener(ledger: Ledger) -> Opener:
    return Opener(ledger.store, ledger.secrets.master_key)


def stored(store: Store, name: str) -> dict[Key, dict[str, Any]]:
    spec = store.rows.specs[name]
    return {spec.key_of(row): row for row in store.rows.scan(name)}


def fresh_replay(ledger: Ledger) -> Replay:
    """The final log folded from scratch through the ledger's projectors."""
    replay, facts = Replay(ledger.registry.projectors), opener(ledger)
    for row in ledger.store.iter_entries(0, None):
        assert replay.fold(Fact(index=row.idx, record=EntryRecord.from_leaf(row.leaf), facts=facts.facts(row.idx))) \
            == []
    return replay


# -- a rebuild while writers append -----------------------------------------------------------------------------


def waiting_for_appends(store: Store, *, appended: int) -> Any:
    """``store.iter_entries`` whose first pass pauses after its first entry until ``appended`` more entries were
    committed: the window in which a rebuild that read the size without holding the head lost them."""
    original = store.iter_entries
    passes: list[tuple[int, int | None]] = []

    def iter_entries(start: int = 0, end: int | None = None, *, chunk: int = 5000) -> Iterator[EntryRow]:
        first = not passes
        passes.append((start, end))
        for n, row in enumerate(original(start, end, chunk=chunk)):
            yield row
            if first and n == 0:
                target, deadline = store.size() + appended, time.monotonic() + 30
                while store.size() < target and time.monotonic() < deadline:
                    time.sleep(0.005)
                assert store.size() >= target, "the appenders did not get going"

    return iter_entries


def test_a_rebuild_while_writers_append_ends_as_a_replay_of_the_final_log(
        ledger: Ledger, system_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(24):
        ledger.intake.append(policy_event(system_key, n, stream=f"policy:p{n % 3}"), owner="policy-admin")
    before = ledger.log.size()
    stop, errors = threading.Event(), []

    def append(worker: int) -> None:
        n = 0
        while not stop.is_set():
            # A new stream for every event: the writer writes its row once, so a row a rebuild wiped stays wiped.
            event = policy_event(system_key, 1_000_000 * (worker + 1) + n, stream=f"policy:w{worker}-{n}")
            try:
                ledger.intake.append(event, owner="policy-admin")
            except Exception as exc:
                errors.append(exc)
                return
            n += 1

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(4)]
    with monkeypatch.context() as patched:
        patched.setattr(ledger.store, "iter_entries", waiting_for_appends(ledger.store, appended=20))
        for thread in threads:
            thread.start()
        try:
            rebuild(ledger.store, ledger.registry, CORE, opener(ledger))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
    assert errors == []
    entries = list(ledger.store.iter_entries(0, None))
    assert len(entries) == ledger.log.size() >= before + 20
    counts, last = Counter(row.stream for row in entries), {row.stream: row.idx for row in entries}
    assert {key[0]: (row["last_seq"], row["last_idx"]) for key, row in stored(ledger.store, "streams").items()} \
        == {stream: (counts[stream], last[stream]) for stream in counts}
    replay = fresh_replay(ledger)
    for name in CORE:
        assert stored(ledger.store, name) == replay.rows.table(name), name
    assert ledger.store.rows.stale() == []


def test_a_rebuild_that_fails_replaces_no_table(ledger: Ledger, system_key: SigningKey,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ledger.intake.append(policy_event(system_key, 1), owner="policy-admin")
    streams = ledger.store.rows.tables["streams"]
    with ledger.store.engine.begin() as conn:
        conn.execute(update(streams).values(last_seq=99))
    replace = RowStore._replace

    def failing(self: RowStore, conn: Any, name: str, rows: Iterable[dict[str, Any]]) -> None:
        if name == "system_keys":
            raise StorageError("the disk is full")
        replace(self, conn, name, rows)

    monkeypatch.setattr(RowStore, "_replace", failing)
    with pytest.raises(StorageError, match="the disk is full"):
        rebuild(ledger.store, ledger.registry, ["streams", "system_keys"], opener(ledger))
    with ledger.store.engine.connect() as conn:
        assert set(conn.execute(select(streams.c.last_seq)).scalars()) == {99}  # streams was not replaced either


# -- one projector refusing an entry on replay ------------------------------------------------------------------


class Picky:
    """Counts policy entries by type; told to, it refuses one type on replay (after writing its row, which the
    refusal must undo), as today's system keys projector refuses a weak key registered by an old writer."""

    name: ClassVar[str] = "picky"
    needs_facts: ClassVar[bool] = False
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec("picky", (Column("type", "text"), Column("entries", "int")), key=("type",)),)
    refuses: ClassVar[str | None] = None

    def handles(self, type: str) -> bool:
        return type.startswith("policy.")

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        return [("picky", (statement.type,))]

    def apply(self, rows: Rows, fact: Fact) -> None:
        row = rows.get("picky", (fact.type,)) or {"type": fact.type, "entries": 0}
        rows.put("picky", {**row, "entries": row["entries"] + 1})
        if fact.type == Picky.refuses:
            raise Conflict(f"{fact.type} is not folded here")


@pytest.fixture
def picky(settings: Settings) -> Iterator[Ledger]:
    """A ledger that registered ``Picky`` first: the streams projector comes after it, system keys after that."""
    opened = Ledger.open(settings, projectors=[Picky(), *core_projectors()])
    opened.start()
    try:
        yield opened
    finally:
        opened.close()


def old_log(ledger: Ledger) -> tuple[int, int, int]:
    """Entries written while ``Picky`` took everything: p1 ends with a lapse, p2 starts with one."""
    key = SigningKey.generate("policy-admin-1")
    ledger.keys.register(key_id=key.key_id, owner="policy-admin", public_key=key.public_key,
                         scope=POLICY_ADMIN_SCOPE)
    appended = [ledger.intake.append(policy_event(key, n, stream=stream, type=type), owner="policy-admin")
                for n, (stream, type) in enumerate([("policy:p1", "policy.issued"), ("policy:p1", "policy.lapsed"),
                                                    ("policy:p2", "policy.lapsed"), ("policy:p2", "policy.issued")])]
    return appended[1].index, appended[2].index, appended[3].index


def test_an_entry_one_projector_refuses_on_replay_is_folded_by_the_others(
        picky: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    p1_lapsed, p2_lapsed, p2_issued = old_log(picky)
    monkeypatch.setattr(Picky, "refuses", "policy.lapsed")
    with caplog.at_level(logging.WARNING, logger="ledger.journal.rebuild"):
        rebuild(picky.store, picky.registry, ["picky", "streams"], opener(picky))
    assert stored(picky.store, "streams")[("policy:p1",)] == {"stream": "policy:p1", "last_seq": 2,
                                                              "last_idx": p1_lapsed}
    assert stored(picky.store, "streams")[("policy:p2",)] == {"stream": "policy:p2", "last_seq": 2,
                                                              "last_idx": p2_issued}
    assert stored(picky.store, "picky") == {("policy.issued",): {"type": "policy.issued", "entries": 2}}
    assert [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING] == [
        f"rebuild: entry {index} not folded into picky's tables: policy.lapsed is not folded here"
        for index in (p1_lapsed, p2_lapsed)]


def test_the_audit_replays_as_the_rebuild_does(picky: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    p1_lapsed, p2_lapsed, _ = old_log(picky)
    monkeypatch.setattr(Picky, "refuses", "policy.lapsed")
    picky.log.checkpoint_now()
    report = audit(picky.store, verifier=NoteVerifier.from_vkey(picky.log.vkey),
                   ledger_public_key=picky.secrets.ledger.public_key, origin=picky.settings.origin,
                   master_key=picky.secrets.master_key, registry=picky.registry)
    # Named: each refusal, and the row the old writer folded that a replay does not. Not named: any stream
    # position, as it would be if the refused entries were dropped from the streams replay as well.
    assert [str(problem) for problem in report.problems] == [
        f"entries[{p1_lapsed}]: replay refused the entry in picky: policy.lapsed is not folded here",
        f"entries[{p2_lapsed}]: replay refused the entry in picky: policy.lapsed is not folded here",
        "picky[policy.lapsed]: projection row not derived from any entry"]
    rebuild(picky.store, picky.registry, ["picky", "streams"], opener(picky))
    assert [str(problem) for problem in audit(
        picky.store, verifier=NoteVerifier.from_vkey(picky.log.vkey),
        ledger_public_key=picky.secrets.ledger.public_key, origin=picky.settings.origin,
        master_key=picky.secrets.master_key, registry=picky.registry).problems] == [
        f"entries[{p1_lapsed}]: replay refused the entry in picky: policy.lapsed is not folded here",
        f"entries[{p2_lapsed}]: replay refused the entry in picky: policy.lapsed is not folded here"]


# -- progress ---------------------------------------------------------------------------------------------------


def test_a_rebuild_logs_its_progress_and_its_time(ledger: Ledger, system_key: SigningKey,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    for n in range(4):
        ledger.intake.append(policy_event(system_key, n), owner="policy-admin")
    assert ledger.log.size() == 5  # the key's registration, then four
    monkeypatch.setattr(rebuilding, "PROGRESS_EVERY", 2)
    calls: list[tuple[int, int]] = []
    with caplog.at_level(logging.INFO, logger="ledger.journal.rebuild"):
        rebuild(ledger.store, ledger.registry, ["streams"], opener(ledger),
                progress=lambda done, total: calls.append((done, total)), log_every=2)
    messages = [record.getMessage() for record in caplog.records if record.name == "ledger.journal.rebuild"]
    assert [message.split(" (")[0] for message in messages[:2]] == [
        "rebuilding streams: 2 of 5 entries replayed", "rebuilding streams: 4 of 5 entries replayed"]
    assert all(message.endswith("s)") for message in messages[:2]), messages
    assert len(messages) == 3 and messages[2].startswith("rebuilt projection tables streams from 5 entries in ")
    assert messages[2].endswith("s")
    assert calls == [(2, 5), (4, 5)]
