"""Journal appends on a real SQLite file and a real PostgreSQL server: idempotency, order, keys, erasure."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.crypto.keys import SigningKey
from ledger.errors import Conflict, ErasedError, SignatureError, StorageError, ValidationFailed
from ledger.log import merkle, proofs
from ledger.log.identifiers import utc_timestamp
from ledger.log.reserved import ERASURES_STREAM, SUBJECT_ERASED
from ledger.log.statements import EntryRecord, sign_event
from ledger.services.intake import Draft
from ledger.settings import Settings
from ledger.store.session import WriterSession
from tests.factories import POLICY_ADMIN_SCOPE

pytestmark = pytest.mark.usefixtures("backend")


def event(key: SigningKey, n: int, *, stream: str = "policy:p1", seq: int | None = None, amount: str = "10.00",
          subject: str = "customer:c1"):
    return sign_event(key=key, event_id=f"evt-{n}", type="premium.collected", stream=stream,
                      payload={"amount": amount, "currency": "CNY"}, data_subject=subject, seq=seq)


def test_append_returns_receipt_and_stores_canonical_leaf(ledger: Ledger, system_key: SigningKey) -> None:
    receipt = ledger.intake.append(event(system_key, 1), owner="policy-admin")
    row = ledger.log.entry(receipt.index)
    assert receipt.index == 1  # entry 0 is the key registration
    assert row.leaf_hash == merkle.leaf_hash(row.leaf) == receipt.leaf_hash
    record = EntryRecord.from_leaf(row.leaf)
    assert record.statement.event_id == "evt-1" and record.seq == 1 and record.key_id == "policy-admin-1"
    assert b"CNY" not in row.leaf  # the payload never enters the public leaf
    opened = ledger.subjects.open_payload(receipt.index)
    assert opened.payload == {"amount": "10.00", "currency": "CNY"}


def test_same_event_id_same_content_returns_original_receipt(ledger: Ledger, system_key: SigningKey) -> None:
    first_event = event(system_key, 1)
    first = ledger.intake.append(first_event, owner="policy-admin")
    again = ledger.intake.append(first_event, owner="policy-admin")
    assert again.duplicate and (again.index, again.leaf_hash) == (first.index, first.leaf_hash)
    assert ledger.log.size() == 2


def test_same_event_id_different_content_is_conflict(ledger: Ledger, system_key: SigningKey) -> None:
    ledger.intake.append(event(system_key, 1), owner="policy-admin")
    with pytest.raises(Conflict, match="already used") as info:
        ledger.intake.append(event(system_key, 1, amount="99.00"), owner="policy-admin")
    assert info.value.field == "statement.event_id"
    assert ledger.log.size() == 2


def test_duplicates_inside_one_batch(ledger: Ledger, system_key: SigningKey) -> None:
    original = event(system_key, 7)
    results = ledger.intake.append_many([original, original, event(system_key, 7, amount="1.00")], owner="policy-admin")
    assert not results[0].duplicate and results[1].duplicate and results[1].index == results[0].index
    assert isinstance(results[2], Conflict)
    assert ledger.log.size() == 2


def test_optimistic_concurrency_on_stream_seq(ledger: Ledger, system_key: SigningKey) -> None:
    assert ledger.intake.append(event(system_key, 1, seq=1), owner="policy-admin").seq == 1
    assert ledger.intake.append(event(system_key, 2), owner="policy-admin").seq == 2
    with pytest.raises(Conflict, match="stale") as info:
        ledger.intake.append(event(system_key, 3, seq=2), owner="policy-admin")
    assert info.value.field == "statement.seq"
    assert ledger.intake.append(event(system_key, 4, seq=3), owner="policy-admin").seq == 3


def test_bad_signature_and_payload_are_refused_and_nothing_recorded(ledger: Ledger, system_key: SigningKey) -> None:
    good = event(system_key, 1)
    forged = type(good)(statement=good.statement, key_id=good.key_id, signature=bytes(64), payload=good.payload,
                        salt=good.salt, data_subject=good.data_subject)
    with pytest.raises(SignatureError):
        ledger.intake.append(forged, owner="policy-admin")
    tampered = type(good)(statement=good.statement, key_id=good.key_id, signature=good.signature,
                          payload={"amount": "1000000.00", "currency": "CNY"}, salt=good.salt,
                          data_subject=good.data_subject)
    with pytest.raises(ValidationFailed, match="payload_hash"):
        ledger.intake.append(tampered, owner="policy-admin")
    assert ledger.log.size() == 1


def test_unknown_foreign_and_revoked_keys(ledger: Ledger, system_key: SigningKey) -> None:
    stranger = SigningKey.generate("stranger-1")
    with pytest.raises(SignatureError, match="not registered"):
        ledger.intake.append(event(stranger, 1), owner="policy-admin")
    with pytest.raises(SignatureError, match="does not belong"):
        ledger.intake.append(event(system_key, 2), owner="claims-core")
    ledger.intake.append(event(system_key, 3), owner="policy-admin")
    ledger.keys.revoke(key_id=system_key.key_id, reason="seed leaked")
    with pytest.raises(SignatureError, match="revoked"):
        ledger.intake.append(event(system_key, 4), owner="policy-admin")
    assert [k.status for k in ledger.keys.registered()] == ["revoked"]


def test_rotation_retires_old_key_and_history_is_in_the_journal(ledger: Ledger, system_key: SigningKey) -> None:
    new = SigningKey.generate("policy-admin-2")
    receipt = ledger.keys.rotate(old_key_id=system_key.key_id, key_id=new.key_id, public_key=new.public_key)
    with pytest.raises(SignatureError, match="retired"):
        ledger.intake.append(event(system_key, 1), owner="policy-admin")
    ledger.intake.append(event(new, 2), owner="policy-admin")
    old_state = ledger.keys.get(system_key.key_id)
    assert old_state.status == "retired" and old_state.ended_idx == receipt.index
    assert ledger.log.entry(receipt.index).type == "ledger.key.rotated"
    with pytest.raises(Conflict, match="taken"):
        ledger.keys.register(key_id=new.key_id, owner="policy-admin", public_key=new.public_key,
                             scope=POLICY_ADMIN_SCOPE)


def test_reserved_types_and_the_ledger_key_are_not_for_systems(ledger: Ledger, system_key: SigningKey) -> None:
    sneaky = sign_event(key=system_key, event_id="x1", type="ledger.key.registered", stream="system:policy-admin",
                        payload={"key_id": "evil-key", "owner": "x", "public_key": "AAAA"}, data_subject="ledger")
    with pytest.raises(ValidationFailed, match="reserved"):
        ledger.intake.append(sneaky, owner="policy-admin")


def test_many_threads_append_without_gaps_or_duplicates(ledger: Ledger, system_key: SigningKey) -> None:
    total = 400
    with ThreadPoolExecutor(max_workers=16) as pool:
        receipts = list(pool.map(lambda n: ledger.intake.append(event(system_key, n, stream=f"policy:p{n % 7}"),
                                                                owner="policy-admin"), range(total)))
    indexes = sorted(r.index for r in receipts)
    assert indexes == list(range(1, total + 1))
    assert ledger.journal.batches < total + 1  # concurrent appends were grouped into shared commits
    per_stream: dict[str, list[int]] = {}
    for r in sorted(receipts, key=lambda r: r.index):
        per_stream.setdefault(r.stream, []).append(r.seq)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in per_stream.values())


def test_two_ledgers_on_one_database_keep_one_history(settings, system_key: SigningKey, ledger: Ledger) -> None:
    """A second writer process (here: a second Ledger on the same database) never forks the log."""
    other = Ledger.open(settings)
    try:
        barrier = threading.Barrier(2)

        def run(target: Ledger, offset: int) -> list[int]:
            barrier.wait()
            return [target.intake.append(event(system_key, offset + n, stream=f"policy:s{offset + n}"),
                                         owner="policy-admin").index for n in range(60)]

        with ThreadPoolExecutor(max_workers=2) as pool:
            a, b = pool.map(run, (ledger, other), (0, 1000))
        assert sorted(a + b) == list(range(1, 121))
    finally:
        other.close()
    assert ledger.log.size() == 121


def test_erasure_keeps_proofs_and_blocks_new_events(ledger: Ledger, system_key: SigningKey) -> None:
    receipt = ledger.intake.append(event(system_key, 1, subject="customer:gone"), owner="policy-admin")
    ledger.log.checkpoint_now()
    assert ledger.subjects.erase("customer:gone") == 1
    with pytest.raises(ErasedError):
        ledger.subjects.open_payload(receipt.index)
    root = ledger.log.tree_root(ledger.log.size())
    proof = ledger.log.inclusion_proof(index=receipt.index, tree_size=ledger.log.size())
    proofs.verify_inclusion(index=receipt.index, size=ledger.log.size(), leaf_hash=receipt.leaf_hash,
                            proof=proof.hashes, root=root)
    with pytest.raises(Conflict, match="erased"):
        ledger.intake.append(event(system_key, 2, subject="customer:gone"), owner="policy-admin")


def test_recorded_at_never_goes_backwards(ledger: Ledger, system_key: SigningKey) -> None:
    receipts = [ledger.intake.append(event(system_key, n), owner="policy-admin") for n in range(20)]
    stamps = [r.recorded_at for r in receipts]
    assert stamps == sorted(stamps)


def test_overlong_and_reserved_fields_are_refused_before_queueing(ledger: Ledger, system_key: SigningKey) -> None:
    with pytest.raises(ValidationFailed) as info:
        event(system_key, 1, stream="a" * 40 + ":x")
    assert info.value.field == "statement.stream"
    with pytest.raises(ValidationFailed, match="written only by the ledger"):
        ledger.intake.append(event(system_key, 2, stream="system:policy-admin"), owner="policy-admin")
    with pytest.raises(ValidationFailed, match="reserved") as info:
        ledger.intake.append(event(system_key, 3, subject="ledger"), owner="policy-admin")
    assert info.value.field == "data_subject"
    assert ledger.log.size() == 1


def test_a_retry_after_the_key_was_revoked_still_gets_its_receipt(ledger: Ledger, system_key: SigningKey) -> None:
    recorded = event(system_key, 1)
    first = ledger.intake.append(recorded, owner="policy-admin")
    ledger.keys.revoke(key_id=system_key.key_id, reason="rotated out")
    fresh = Ledger.open(ledger.settings)  # no key cache: the duplicate is found in the store
    try:
        again = fresh.intake.append(recorded, owner="policy-admin")
        assert again.duplicate and again.index == first.index
        with pytest.raises(SignatureError, match="revoked"):
            fresh.intake.append(event(system_key, 2), owner="policy-admin")
    finally:
        fresh.close()


def test_one_failing_event_does_not_sink_its_batch(ledger: Ledger, system_key: SigningKey,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.errors import StorageError

    real_commit = WriterSession.commit_batch

    def commit(session, batch):  # type: ignore[no-untyped-def]
        if any(entry.event_id == "evt-poison" for entry in batch.entries):
            raise StorageError("the database refused a row")
        real_commit(session, batch)

    monkeypatch.setattr(WriterSession, "commit_batch", commit)
    poison = sign_event(key=system_key, event_id="evt-poison", type="premium.collected", stream="policy:p9",
                        payload={}, data_subject="customer:c1")
    results = ledger.intake.append_many([event(system_key, 1), poison, event(system_key, 2)], owner="policy-admin")
    assert [type(r).__name__ for r in results] == ["Receipt", "StorageError", "Receipt"]
    assert ledger.log.size() == 3


def test_an_append_that_times_out_says_the_outcome_is_unknown(ledger: Ledger, system_key: SigningKey,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import time as clock

    from ledger.errors import StorageError

    real_commit = WriterSession.commit_batch
    monkeypatch.setattr(WriterSession, "commit_batch",
                        lambda session, batch: (clock.sleep(0.5), real_commit(session, batch)))
    slow = event(system_key, 1)
    with pytest.raises(StorageError, match="outcome is unknown; retry with the same event"):
        ledger.journal.append(slow, owner="policy-admin", timeout=0.1)
    retried = ledger.intake.append(slow, owner="policy-admin")  # it was recorded after all: the retry says so
    assert retried.duplicate and retried.index == 1 and ledger.log.size() == 2


def test_a_host_with_other_keys_cannot_open_the_database(settings, ledger: Ledger, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ledger.errors import ConfigurationError

    other = settings.model_copy(update={"data_dir": tmp_path / "other-host",
                                        "database_url": settings.resolved_database_url})
    with pytest.raises(ConfigurationError, match="belongs to the ledger with checkpoint key"):
        Ledger.open(other)


def test_recorded_at_never_goes_backwards_when_the_clock_does(settings: Settings) -> None:
    """The ledger's clock is set back an hour (an NTP step, a restored VM): entries keep their order in time,
    within one process and across a restart that reads the last recorded time from the journal."""
    start = datetime.now(UTC).replace(microsecond=0)
    clock = FixedClock(start)
    key = SigningKey.generate("policy-admin-1")

    def event(key: SigningKey, n: int, *, stream: str):  # type: ignore[no-untyped-def]
        return sign_event(key=key, event_id=f"evt-{n}", type="premium.collected", stream=stream, payload={"n": n},
                          data_subject="customer:c1", occurred_at=utc_timestamp(start - timedelta(hours=2)))

    first = Ledger.open(settings, clock=clock)
    first.start()
    try:
        first.keys.register(key_id=key.key_id, owner="policy-admin", public_key=key.public_key,
                            scope=POLICY_ADMIN_SCOPE)
        early = first.intake.append(event(key, 1, stream="policy:t1"), owner="policy-admin")
        clock.advance(timedelta(hours=-1))
        later = first.intake.append(event(key, 2, stream="policy:t2"), owner="policy-admin")
        assert later.recorded_at >= early.recorded_at == utc_timestamp(start)
    finally:
        first.close()
    second = Ledger.open(settings, clock=clock)
    second.start()
    try:
        restarted = second.intake.append(event(key, 3, stream="policy:t3"), owner="policy-admin")
        assert restarted.recorded_at >= early.recorded_at
        clock.advance(timedelta(hours=1, seconds=1))
        assert second.intake.append(event(key, 4, stream="policy:t4"), owner="policy-admin").recorded_at \
            == utc_timestamp(start + timedelta(seconds=1))  # and it follows the clock again once it catches up
    finally:
        second.close()


def test_a_retry_of_an_event_with_its_seq_gets_its_receipt(ledger: Ledger, system_key: SigningKey) -> None:
    """The stream moved on by this very event: the retry is not a stale position but a recorded event."""
    positioned = event(system_key, 1, seq=1)
    first = ledger.intake.append(positioned, owner="policy-admin")
    again = ledger.intake.append(positioned, owner="policy-admin")
    assert again.duplicate and again.index == first.index and again.seq == 1
    with pytest.raises(Conflict, match="stale or ahead"):
        ledger.intake.append(event(system_key, 2, seq=1), owner="policy-admin")
    assert ledger.log.size() == 2


def test_a_refused_group_with_an_erasure_keeps_the_subjects_key(ledger: Ledger, system_key: SigningKey) -> None:
    """Erasing inside a group that is then refused must not destroy the key: nothing of the group is recorded."""
    kept = ledger.intake.append(event(system_key, 1, subject="customer:kept"), owner="policy-admin")
    size = ledger.log.size()
    with pytest.raises(Conflict, match="erased"):  # the group's second event is for the subject it erases
        ledger.intake.emit_all([Draft(SUBJECT_ERASED, ERASURES_STREAM, {"subject": "customer:kept"}),
                                Draft("ledger.note", "ledger:notes", {"n": 1}, data_subject="customer:kept")])
    assert ledger.log.size() == size
    assert ledger.subjects.open_payload(kept.index).payload == {"amount": "10.00", "currency": "CNY"}
    later = ledger.intake.append(event(system_key, 2, subject="customer:kept"), owner="policy-admin")
    assert ledger.subjects.open_payload(later.index).payload["amount"] == "10.00"


def test_a_failed_batch_does_not_leave_an_erased_subjects_key_behind(ledger: Ledger, system_key: SigningKey,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process erases a subject; this writer's next batch fails for another reason (the database was
    locked); the batch after must not seal a new event under the key it had cached."""
    ledger.intake.append(event(system_key, 1, subject="customer:gone"), owner="policy-admin")  # key now cached
    other = Ledger.open(ledger.settings)
    try:
        other.subjects.erase("customer:gone")
    finally:
        other.close()
    real_commit = WriterSession.commit
    failures = iter([StorageError("database is locked")])

    def locked_once(self: WriterSession, **kwargs: Any) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real_commit(self, **kwargs)

    monkeypatch.setattr(WriterSession, "commit", locked_once)
    with pytest.raises(StorageError, match="locked"):
        ledger.intake.append(event(system_key, 2, subject="customer:other"), owner="policy-admin")
    with pytest.raises(Conflict, match="erased"):
        ledger.intake.append(event(system_key, 3, subject="customer:gone"), owner="policy-admin")
    assert ledger.log.size() == 3  # the key registration, evt-1 and the erasure


def test_an_event_id_reused_with_a_bad_signature_fails_alone(ledger: Ledger, system_key: SigningKey) -> None:
    """A refused event whose id was used for other content is that event's Conflict, not its whole batch's."""
    ledger.intake.append(event(system_key, 1), owner="policy-admin")
    impostor = event(SigningKey.generate(system_key.key_id), 1, amount="9.99")  # other key, other content
    good = [event(system_key, n, stream=f"policy:g{n}") for n in range(2, 300)]
    pending = [ledger.journal.submit(e, owner="policy-admin") for e in good[:150]]
    refused = ledger.journal.submit(impostor, owner="policy-admin")
    pending += [ledger.journal.submit(e, owner="policy-admin") for e in good[150:]]
    with pytest.raises((SignatureError, Conflict)):
        refused.result(30)
    assert all(p.result(30)[0].index > 0 for p in pending)
    assert ledger.log.size() == 2 + len(good)


def test_appends_queued_behind_a_stop_are_told_at_once(ledger: Ledger, system_key: SigningKey,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Appends that arrive while the writer is stopping are failed by ``stop``, not left to their timeout."""
    ledger.intake.append(event(system_key, 1), owner="policy-admin")
    journal = ledger.journal
    writer = journal._thread
    assert writer is not None
    journal._queue.put(None)  # the writer takes its stop ...
    writer.join(timeout=10)
    monkeypatch.setattr(journal, "start", lambda: None)  # ... and appends still arrive before stop() returns
    pending = [journal.submit(event(system_key, n, stream=f"policy:q{n}"), owner="policy-admin") for n in (2, 3)]
    journal.stop()
    for outcome in pending:
        with pytest.raises(StorageError, match="journal stopped"):
            outcome.result(1)
    assert ledger.log.size() == 2
