"""The writers' turn on a SQLite file: threads and processes on one database take it one at a time."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import ConfigurationError
from ledger.log.statements import sign_event
from ledger.settings import Settings
from ledger.store import Store, locking
from ledger.store.locking import DOOR_SUFFIX, LOCK_SUFFIX, WriteLock
from tests.factories import POLICY_ADMIN_SCOPE

HOLD = """
import sys
from pathlib import Path
from ledger.store.locking import WriteLock
lock = WriteLock(Path(sys.argv[1]))
with lock:
    print("held", flush=True)
    sys.stdin.readline()
"""


@contextlib.contextmanager
def holding(database: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the writers' turn on ``database`` until a line is written to its stdin."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(database)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[3])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def taken_within(lock: WriteLock, seconds: float) -> threading.Event:
    """Start taking ``lock`` on another thread; the event is set once it is held (it is then let go)."""
    got = threading.Event()

    def take() -> None:
        with lock:
            got.set()

    threading.Thread(target=take, daemon=True).start()
    got.wait(seconds)
    return got


def test_another_process_holding_the_turn_makes_this_one_wait_until_it_lets_go(tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    with holding(database) as holder:
        lock = WriteLock(database)
        waiting = taken_within(lock, 0.3)
        assert not waiting.is_set()  # the other process has the turn
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert waiting.wait(10)  # taken within a short pause of its letting go
        lock.close()
    assert (tmp_path / f"ledger.db{LOCK_SUFFIX}").exists()


def test_a_process_that_never_lets_go_is_waited_for_only_so_long(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A process stopped while holding the turn does not hang every writer: after ``PATIENCE`` a writer goes on
    without the file's lock (SQLite's own locking and busy timeout then decide)."""
    monkeypatch.setattr(locking, "PATIENCE", 0.3)
    database = tmp_path / "ledger.db"
    with holding(database):
        lock = WriteLock(database)
        started = time.monotonic()
        with lock:
            waited = time.monotonic() - started
        assert 0.3 <= waited < 5
        assert "writing without it" in caplog.text
        lock.close()


def test_an_unopenable_lock_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / f"ledger.db{LOCK_SUFFIX}").mkdir()  # a directory where the lock file should be
    with pytest.raises(ConfigurationError, match="writers' lock file"):
        WriteLock(tmp_path / "ledger.db")


def test_an_unopenable_door_is_a_configuration_error_and_leaves_no_descriptor(tmp_path: Path) -> None:
    (tmp_path / f"ledger.db{DOOR_SUFFIX}").mkdir()
    before = len(list(Path("/proc/self/fd").iterdir()))
    with pytest.raises(ConfigurationError, match=r"writer\.door"):
        WriteLock(tmp_path / "ledger.db")
    assert len(list(Path("/proc/self/fd").iterdir())) == before


def test_a_door_this_user_may_not_create_leaves_the_turn_alone(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    opened = locking._open

    def refuse_the_door(path: Path) -> int:  # as in a data dir this user may not write (root may write any)
        if path.name.endswith(DOOR_SUFFIX):
            try:
                raise PermissionError(13, "Permission denied")
            except PermissionError as exc:
                raise ConfigurationError(f"cannot open the writers' lock file {path}: {exc.strerror}") from exc
        return opened(path)

    monkeypatch.setattr(locking, "_open", refuse_the_door)
    first, second = WriteLock(tmp_path / "ledger.db"), WriteLock(tmp_path / "ledger.db")
    with first:
        assert not taken_within(second, 0.2).is_set()  # the turn still excludes
    assert taken_within(second, 5).is_set()
    first.close()
    second.close()


def test_a_waiter_stopped_at_the_door_costs_others_the_door_patience_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(locking, "DOOR_PATIENCE", 0.2)
    database = tmp_path / "ledger.db"
    door = os.open(tmp_path / f"ledger.db{DOOR_SUFFIX}", os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(door, fcntl.LOCK_EX)  # a waiter that took the door and stopped there
        lock = WriteLock(database)
        started = time.monotonic()
        with lock:
            waited = time.monotonic() - started
        lock.close()
    finally:
        os.close(door)
    assert 0.2 <= waited < 2
    assert "the writers' door" in caplog.text and "waiting for the turn without it" in caplog.text


def test_two_locks_on_one_file_in_one_process_exclude_each_other_and_threads_take_turns(tmp_path: Path) -> None:
    first, second = WriteLock(tmp_path / "ledger.db"), WriteLock(tmp_path / "ledger.db")
    with first:
        assert first.locked()
        assert not taken_within(second, 0.2).is_set()
        assert not taken_within(first, 0.2).is_set()  # another thread of the same holder waits too
    assert taken_within(second, 5).is_set()
    first.close()
    second.close()


def test_a_read_only_database_makes_no_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "copy.db"
    Store.open(f"sqlite:///{path}").close()
    (tmp_path / f"copy.db{LOCK_SUFFIX}").unlink()
    (tmp_path / f"copy.db{DOOR_SUFFIX}").unlink()
    copy = Store(f"sqlite:///{path}", read_only=True)
    try:
        assert copy.write_lock is not None and copy.write_lock.path is None
    finally:
        copy.close()
    assert not (tmp_path / f"copy.db{LOCK_SUFFIX}").exists()
    assert not (tmp_path / f"copy.db{DOOR_SUFFIX}").exists()


def test_two_ledgers_on_one_file_append_at_once_without_a_batch_refused_at_the_head(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Each writer places its batch holding the turn, against the head as the other left it: no batch is
    placed, refused by the head's compare-and-set and placed again."""
    first = Ledger.open(settings)
    second = Ledger.open(settings)
    try:
        key = SigningKey.generate("policy-admin-1")
        first.keys.register(key_id=key.key_id, owner="policy-admin", public_key=key.public_key,
                            scope=POLICY_ADMIN_SCOPE)
        events = {ledger: [sign_event(key=key, event_id=f"evt-{name}-{n}", type="premium.collected",
                                      stream=f"policy:{name}{n % 7}", payload={"amount": f"{n}.00"},
                                      data_subject=f"customer:{name}{n % 3}") for n in range(150)]
                  for ledger, name in ((first, "a"), (second, "b"))}
        receipts: dict[Ledger, list[int]] = {}

        def write(ledger: Ledger) -> None:
            receipts[ledger] = [ledger.intake.append(event, owner="policy-admin").index
                                for event in events[ledger]]

        caplog.set_level(logging.DEBUG, logger="ledger.journal.writer")
        threads = [threading.Thread(target=write, args=(ledger,)) for ledger in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(receipts[first] + receipts[second]) == list(range(1, 301))  # after the key's entry
        assert first.store.size() == second.store.size() == 301
        assert not [r for r in caplog.records if "reloading" in r.getMessage()]
        first.log.checkpoint_now()
        report = first.audit.verify()
        assert report.ok, [str(problem) for problem in report.problems]
    finally:
        second.close()
        first.close()


BUSY = """
import sys, time
from pathlib import Path
from ledger.store.locking import WriteLock
lock = WriteLock(Path(sys.argv[1]))
print("busy", flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:  # a busy journal writer: batch after batch, the turn let go only between them
    with lock:
        time.sleep(0.003)
"""


def test_a_writer_taking_turn_after_turn_does_not_shut_out_another_process(tmp_path: Path) -> None:
    """A process that wants one write while another takes the turn back to back (the serving process's journal
    writer under load) gets it after the batch in progress, not whenever its poll happens to fall between two."""
    database = tmp_path / "ledger.db"
    busy = subprocess.Popen([sys.executable, "-c", BUSY, str(database), "6"], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[3])
    try:
        assert busy.stdout is not None and busy.stdout.readline().strip() == "busy"
        lock = WriteLock(database)
        waits = []
        try:
            for _ in range(20):
                started = time.monotonic()
                with lock:
                    waits.append(time.monotonic() - started)
                time.sleep(0.01)
        finally:
            lock.close()
        assert max(waits) < 0.5, sorted(waits)[-5:]  # a few ms each; without the door, seconds
        assert busy.poll() is None, "the busy writer ended before the waits were measured"
    finally:
        busy.kill()
        busy.wait()
