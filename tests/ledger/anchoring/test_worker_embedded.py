"""The anchoring worker on the embedded chain: anchoring, crash recovery, documents, outages, restarts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.anchoring import DocumentRegistryContract, DocumentStatus, LedgerAnchorContract
from ledger.anchoring.worker import Anchorer
from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import AnchorUnavailable, NotFound
from ledger.log import merkle, proofs
from ledger.log.checkpoint import open_checkpoint
from ledger.log.note import NoteVerifier
from ledger.log.statements import sign_event
from ledger.services.anchoring import AnchorService
from ledger.services.documents import Registration
from ledger.settings import Settings
from ledger.store.anchors import CHECKPOINT, CONFIRMED, PENDING, SENT, SKIPPED
from tests.conftest import free_port
from tests.factories import POLICY_ADMIN_SCOPE


class Crash(BaseException):
    """Stands for the process dying between sending a transaction and recording it."""


def make_settings(tmp_path: Path, **changes: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path / "data", "checkpoint_interval": 0.2, "anchor_interval": 0.01,
                                 "origin": "test.lifeledger/log", "chain_url": "embedded"}
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


HOLDERS = ["in-process", "shared"]


@contextlib.contextmanager
def anchoring_ledger(tmp_path: Path, holder: str, **changes: object) -> Iterator[Ledger]:
    """A ledger anchoring on the embedded chain: held in its own process, or held by another ledger (as the serving
    process of ``serve --workers`` holds it) and reached by JSON-RPC over its Unix socket."""
    with contextlib.ExitStack() as stack:
        settings = make_settings(tmp_path, **changes)
        if holder == "shared":
            holding = stack.enter_context(contextlib.closing(Ledger.open(settings)))
            settings = settings.model_copy(update={
                "chain_socket": stack.enter_context(holding.chain_for_workers(tmp_path / "chain.sock"))})
        ledger = stack.enter_context(contextlib.closing(Ledger.open(settings)))
        ledger.start(anchoring=False)  # rounds are run by hand in these tests
        yield ledger


@pytest.fixture(params=HOLDERS)
def chained(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Ledger]:
    with anchoring_ledger(tmp_path, request.param) as ledger:
        yield ledger


def grow(ledger: Ledger, count: int, *, start: int = 0) -> None:
    key_id = "system-1"
    try:
        ledger.keys.get(key_id)
    except NotFound:
        ledger.keys.register(key_id=key_id, owner="policy-admin", public_key=SEED_KEY.public_key,
                             scope=POLICY_ADMIN_SCOPE)
    ledger.intake.append_many([sign_event(key=SEED_KEY, event_id=f"e{n}", type="policy.issued", stream=f"policy:p{n}",
                                          payload={"n": n}, data_subject=f"customer:{n}")
                        for n in range(start, start + count)], owner="policy-admin")
    ledger.log.checkpoint_now()


SEED_KEY = SigningKey.from_seed("system-1", bytes(range(32)))


def anchor_contract(ledger: Ledger) -> LedgerAnchorContract:
    anchorer = ledger.anchoring.anchorer
    assert anchorer is not None and anchorer._chain is not None
    return LedgerAnchorContract(anchorer._chain, anchorer.addresses()["LedgerAnchor"])


def test_latest_checkpoint_is_anchored_and_confirmed(chained: Ledger) -> None:
    grow(chained, 25)
    assert chained.anchoring.anchorer is not None
    chained.anchoring.anchorer.run_once()  # deploys, queues and sends
    chained.anchoring.anchorer.run_once()  # follows the receipt
    state = chained.anchoring.status()
    assert state.anchored_tree_size == 26 and state.lag == 0
    job = state.anchors[0]
    assert (job.status, job.tree_size, job.confirmations) == (CONFIRMED, 26, 1)
    on_chain = anchor_contract(chained).root_of(26)
    assert on_chain is not None and on_chain.root == chained.log.latest_checkpoint().root  # type: ignore[union-attr]
    assert on_chain.block_number == job.block_number


def test_anchor_proof_checks_out_against_the_contract(chained: Ledger) -> None:
    grow(chained, 10)
    grow(chained, 10, start=10)
    assert chained.anchoring.anchorer is not None
    with pytest.raises(NotFound, match="not yet covered"):
        chained.anchoring.proof(3)
    chained.anchoring.anchorer.run_once()
    chained.anchoring.anchorer.run_once()
    proof = chained.anchoring.proof(3)
    verifier = NoteVerifier.from_vkey(chained.log.vkey)
    first = open_checkpoint(proof.checkpoint.note, verifier)
    anchored = open_checkpoint(proof.anchored_checkpoint.note, verifier)
    assert (first.size, anchored.size) == (11, 21)
    proofs.verify_inclusion(index=3, size=first.size, leaf_hash=merkle.leaf_hash(proof.leaf),
                            proof=proof.inclusion.hashes, root=first.root)
    proofs.verify_consistency(first=first.size, second=anchored.size, first_root=first.root,
                              second_root=anchored.root, proof=proof.consistency.hashes)
    assert anchor_contract(chained).root_of(anchored.size).root == anchored.root  # type: ignore[union-attr]


def test_only_the_newest_checkpoint_is_sent(chained: Ledger) -> None:
    assert chained.anchoring.anchorer is not None
    for n in range(3):
        grow(chained, 5, start=n * 5)
    chained.anchoring.anchorer.run_once()
    chained.anchoring.anchorer.run_once()
    jobs = chained.anchoring.jobs.recent_jobs(kind=CHECKPOINT)
    assert [(j.tree_size, j.status) for j in jobs] == [(16, CONFIRMED)]
    grow(chained, 5, start=15)
    chained.anchoring.anchorer.run_once()
    grow(chained, 5, start=20)
    chained.anchoring.anchorer.run_once()  # follows 21, queues 26 (21 was sent, so it is not skipped)
    chained.anchoring.anchorer.run_once()
    statuses = {j.tree_size: j.status for j in chained.anchoring.jobs.recent_jobs(kind=CHECKPOINT)}
    assert statuses == {16: CONFIRMED, 21: CONFIRMED, 26: CONFIRMED}


def test_crash_between_send_and_record_neither_loses_nor_repeats(chained: Ledger) -> None:
    grow(chained, 8)

    def die(*_: object) -> None:
        raise Crash

    crashing = Anchorer(chained.store, settings=chained.settings, after_send=die)
    with pytest.raises(Crash):
        crashing.run_once()
    job = chained.anchoring.jobs.recent_jobs(kind=CHECKPOINT)[0]
    assert (job.status, job.attempts, job.tx_hash) == (PENDING, 1, None)  # sent, but the record says pending
    assert crashing._chain is not None
    height = crashing._chain.block_number()
    crashing.close()

    restarted = Anchorer(chained.store, settings=chained.settings)
    try:
        restarted.run_once()
        job = chained.anchoring.jobs.job(job.id)
        assert job.status == CONFIRMED and job.last_error == "found on chain"
        assert restarted._chain is not None and restarted._chain.block_number() == height  # nothing sent again
    finally:
        restarted.close()


def test_documents_are_registered_in_batches_then_superseded_and_revoked(chained: Ledger) -> None:
    assert chained.anchoring.anchorer is not None
    digests = [bytes([1]) + n.to_bytes(31, "big") for n in range(300)]
    subject = b"\x07" * 32
    chained.documents.register([Registration(digest=d, subject=subject, kind=1, version=1) for d in digests])
    newer = b"\x02" * 32
    chained.documents.supersede(old_digest=digests[0], new_digest=newer, version=2)
    chained.documents.revoke(digest=digests[1], reason_code=4)
    for _ in range(8):
        chained.anchoring.anchorer.run_once()
    jobs = chained.anchoring.jobs.recent_jobs(kind="documents")
    assert [j.status for j in jobs] == [CONFIRMED] * 4
    assert sorted(len(chained.anchoring.jobs.ops_of_job(j.id)) for j in jobs) == [1, 1, 44, 256]
    chain = chained.anchoring.anchorer._chain
    assert chain is not None
    registry = DocumentRegistryContract(chain, chained.anchoring.anchorer.addresses()["DocumentRegistry"])
    assert registry.document_status(digests[299]).status == DocumentStatus.VALID
    assert registry.document_status(digests[0]).superseded_by == newer
    assert registry.document_status(newer).version == 2
    assert registry.document_status(digests[1]).status == DocumentStatus.REVOKED
    assert chained.anchoring.anchorer.document_status(digests[2])["status"] == "valid"


def test_bad_document_input_is_refused_before_queueing(chained: Ledger) -> None:
    from ledger.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match=r"registrations\[0\]\.subject"):
        chained.documents.register([Registration(digest=b"\x01" * 32, subject=b"\x00" * 32, kind=1, version=1)])
    with pytest.raises(ValidationFailed, match="kind"):
        chained.documents.register([Registration(digest=b"\x01" * 32, subject=b"\x01" * 32, kind=300, version=1)])
    assert chained.anchoring.jobs.unassigned_ops(limit=10) == []


def test_unreachable_chain_never_blocks_appends(tmp_path: Path) -> None:
    ledger = Ledger.open(make_settings(tmp_path, chain_url=f"http://127.0.0.1:{free_port()}"))
    ledger.start(anchoring=False)
    try:
        grow(ledger, 12)
        assert ledger.anchoring.anchorer is not None
        with pytest.raises(AnchorUnavailable):
            ledger.anchoring.anchorer.run_once()
        assert ledger.log.size() == 13 and ledger.log.latest_checkpoint().tree_size == 13  # type: ignore[union-attr]
        state = ledger.anchoring.status()
        assert state.configured and state.anchored_tree_size == 0 and state.lag == 13
        with TestClient(create_app(ledger=ledger)) as client:
            health = client.get("/healthz").json()
            assert (health["status"], health["anchoring"], health["anchor_lag"]) == ("ok", "failing", 13)
            error = health["anchoring_error"]
            assert error == ledger.anchoring.anchorer.last_error and "127.0.0.1" in error
    finally:
        ledger.close()


def test_embedded_chain_and_anchors_survive_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = Ledger.open(settings)
    first.start(anchoring=False)
    grow(first, 6)
    assert first.anchoring.anchorer is not None
    first.anchoring.anchorer.run_once()
    first.anchoring.anchorer.run_once()
    addresses = first.anchoring.anchorer.addresses()
    note = first.log.latest_checkpoint().note  # type: ignore[union-attr]
    first.close()

    second = Ledger.open(settings)
    second.start(anchoring=False)
    try:
        assert second.anchoring.anchorer is not None
        grow(second, 4, start=6)
        second.anchoring.anchorer.run_once()
        second.anchoring.anchorer.run_once()
        assert second.anchoring.anchorer.addresses() == addresses  # no second deployment
        anchor = anchor_contract(second)
        old = open_checkpoint(note, NoteVerifier.from_vkey(second.log.vkey))
        assert anchor.root_of(old.size).root == old.root  # type: ignore[union-attr]
        assert anchor.latest().tree_size == 11
        assert {j.tree_size: j.status for j in second.anchoring.jobs.recent_jobs(kind=CHECKPOINT)} == {
            7: CONFIRMED, 11: CONFIRMED}
    finally:
        second.close()


@pytest.mark.parametrize("holder", HOLDERS)
def test_sent_jobs_wait_for_the_required_confirmations(tmp_path: Path, holder: str) -> None:
    with anchoring_ledger(tmp_path, holder, anchor_confirmations=3) as ledger:
        grow(ledger, 3)
        assert ledger.anchoring.anchorer is not None
        ledger.anchoring.anchorer.run_once()  # sends
        chain = ledger.anchoring.anchorer._chain
        assert chain is not None
        sent_in = chain.block_number()
        # the embedded chain mines only on demand: the worker mines the blocks it waits for
        ledger.anchoring.anchorer.run_once()
        job = ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT)[0]
        assert (job.status, job.confirmations, job.block_number) == (CONFIRMED, 3, sent_in)
        assert chain.block_number() == sent_in + 2
        assert SKIPPED not in ledger.anchoring.jobs.count_jobs()


def test_check_anchors_compares_confirmed_anchors_with_the_chain(chained: Ledger) -> None:
    from sqlalchemy import update

    from ledger.store import schema as t

    assert chained.anchoring.anchorer is not None
    grow(chained, 5)
    chained.anchoring.anchorer.run_once()
    chained.anchoring.anchorer.run_once()
    grow(chained, 5, start=5)  # a checkpoint of 11 that is not anchored yet
    assert chained.anchoring.anchorer.check_anchors() == []
    with chained.store.engine.begin() as conn:  # claim the unanchored checkpoint was anchored
        conn.execute(update(t.anchor_jobs).values(tree_size=11))
    worker = chained.anchoring.worker()
    assert worker.check_anchors() == [("anchors[size=11]", f"not on chain {worker.chain_id()}")]


def test_verify_chain_catches_a_history_rewritten_with_its_checkpoints(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from api.cli import app
    from tests.ledger.journal.test_audit import _rewrite_history

    settings = make_settings(tmp_path)
    ledger = Ledger.open(settings)
    ledger.start(anchoring=False)
    grow(ledger, 9)
    assert ledger.anchoring.anchorer is not None
    ledger.anchoring.anchorer.run_once()
    ledger.anchoring.anchorer.run_once()
    ledger.close()
    for name, value in (("LIFELEDGER_ORIGIN", settings.origin), ("LIFELEDGER_CHAIN_URL", "embedded")):
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    clean = runner.invoke(app, ["verify", "--chain", "--data-dir", str(settings.data_dir)])
    assert clean.exit_code == 0, clean.output
    assert "1 roots read from the chain" in clean.output

    ledger = Ledger.open(settings)
    ledger.start(anchoring=False)
    ledger.checkpointer.stop()
    _rewrite_history(ledger, index=9, recorded_at="2099-01-01T00:00:00.000000Z")  # the last entry, re-dated
    ledger.close()
    assert runner.invoke(app, ["verify", "--data-dir", str(settings.data_dir)]).exit_code == 0  # self-consistent
    caught = runner.invoke(app, ["verify", "--chain", "--data-dir", str(settings.data_dir)])
    assert caught.exit_code == 1
    assert "trusted[size=10]: chain" in caught.output and "root differs from the root recomputed" in caught.output


def test_health_and_metrics_report_anchoring(chained: Ledger) -> None:
    grow(chained, 4)
    assert chained.anchoring.anchorer is not None
    chained.anchoring.anchorer.run_once()
    chained.anchoring.anchorer.run_once()
    with TestClient(create_app(ledger=chained)) as client:
        health = client.get("/healthz").json()
        assert (health["anchoring"], health["anchor_lag"], health["anchoring_error"]) == ("ok", 0, None)
        metrics = client.get("/metrics").text
    assert "lifeledger_anchored_tree_size 5.0" in metrics
    assert 'lifeledger_anchor_jobs{status="confirmed"} 1.0' in metrics


def test_a_digest_is_registered_once(chained: Ledger) -> None:
    from ledger.errors import Conflict, ValidationFailed

    item = Registration(digest=b"\x05" * 32, subject=b"\x06" * 32, kind=1, version=1)
    chained.documents.register([item])
    with pytest.raises(Conflict, match="already registered or queued"):
        chained.documents.register([replace(item, version=2)])
    with pytest.raises(ValidationFailed, match="twice"):
        chained.documents.register([replace(item, digest=b"\x07" * 32), replace(item, digest=b"\x07" * 32)])
    assert len(chained.anchoring.jobs.unassigned_ops(limit=10)) == 1


def test_only_one_worker_holds_the_lease(chained: Ledger) -> None:
    grow(chained, 3)
    assert chained.anchoring.anchorer is not None
    chained.anchoring.anchorer.run_once()
    chained.anchoring.anchorer._drop_connection()  # release the embedded chain, as another process would not share it
    other = Anchorer(chained.store, settings=chained.settings)
    try:
        other.run_once()
        assert other.standby and other._chain is None  # it never touched the chain
        chained.anchoring.anchorer.run_once()
        assert not chained.anchoring.anchorer.standby
    finally:
        other.close()
    assert [j.status for j in chained.anchoring.jobs.recent_jobs(kind=CHECKPOINT)] == [CONFIRMED]


def test_a_foreign_anchor_on_our_contract_is_an_alarm_not_a_skip(chained: Ledger) -> None:
    from ledger.store.anchors import FAILED

    grow(chained, 3)
    assert chained.anchoring.anchorer is not None
    chained.anchoring.anchorer.run_once()
    chained.anchoring.anchorer.run_once()
    anchor_contract(chained).anchor(2**64 - 1, b"\x09" * 32)  # someone with the anchoring key, not this log
    grow(chained, 3, start=3)
    chained.anchoring.anchorer.run_once()
    job = chained.anchoring.jobs.recent_jobs(kind=CHECKPOINT)[0]
    assert job.status == FAILED and "not this log's" in (job.last_error or "")
    with TestClient(create_app(ledger=chained)) as client:
        health = client.get("/healthz").json()
    assert health["anchoring"] == "failing" and "failed" in health["anchoring_error"]


def test_redeploy_is_refused_while_the_contracts_are_alive(chained: Ledger) -> None:
    from ledger.errors import ValidationFailed

    assert chained.anchoring.anchorer is not None
    chained.anchoring.anchorer.run_once()
    with pytest.raises(ValidationFailed, match="still there"):
        chained.anchoring.anchorer.deploy(redeploy=True)


def test_chain_urls_are_scrubbed_of_credentials() -> None:
    from ledger.anchoring.chain import scrub

    text = ("cannot reach http://ops:hunter2@node.example:8545/v3/SECRET?token=abc: Max retries exceeded with "
            "url: /v3/SECRET (Caused by refused)")
    cleaned = scrub(text)
    assert "hunter2" not in cleaned and "SECRET" not in cleaned and "token" not in cleaned
    assert "http://node.example:8545" in cleaned


def test_the_contracts_admin_can_be_another_account(tmp_path: Path) -> None:
    from ledger.anchoring import ANCHORER_ROLE, DEFAULT_ADMIN_ROLE

    admin = "0x" + "ab" * 20
    ledger = Ledger.open(make_settings(tmp_path, chain_admin=admin))
    try:
        assert ledger.anchoring.anchorer is not None
        ledger.anchoring.anchorer.run_once()
        anchor = anchor_contract(ledger)
        chain = ledger.anchoring.anchorer._chain
        assert chain is not None
        assert anchor.has_role(DEFAULT_ADMIN_ROLE, admin) and not anchor.has_role(DEFAULT_ADMIN_ROLE, chain.sender)
        assert anchor.has_role(ANCHORER_ROLE, chain.sender)
    finally:
        ledger.close()


def test_processes_standing_by_report_the_lease_holders_last_round(chained: Ledger) -> None:
    """Every process on the database tells the same anchoring story: a standby one reports the holder's round."""
    grow(chained, 3)
    holder = chained.anchoring.anchorer
    assert holder is not None
    other = Anchorer(chained.store, settings=chained.settings)
    service = AnchorService(chained.anchoring.jobs, log=chained.log, anchorer=other,
                            chain_url=chained.settings.chain_url)
    try:
        holder.run_once()
        other.run_once()
        assert other.standby and not holder.standby
        state = service.status()
        assert (state.standby, state.last_error) == (False, None)  # the holder's round went well

        def unreachable() -> None:
            raise AnchorUnavailable("chain unreachable: connection refused")

        real = holder._connected
        holder._connected = unreachable  # type: ignore[method-assign]
        with pytest.raises(AnchorUnavailable):
            holder.run_once()
        state = service.status()
        assert state.last_error == holder.last_error == "chain unreachable: connection refused"
        assert not state.standby
        with TestClient(create_app(ledger=chained)) as client:  # the holder's own view says the same
            health = client.get("/healthz").json()
        assert (health["anchoring"], health["anchoring_error"]) == ("failing", state.last_error)

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("could not reach postgresql://ledger:s3cret@db.internal/ledger: SELECT * FROM x")

        holder._connected = broken  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            holder.run_once()
        shown = service.status().last_error  # only the kind of an unexpected error, never its text
        assert shown == "internal error (RuntimeError); the server log has the details"

        holder._connected = real  # type: ignore[method-assign]
        holder.run_once()
        assert service.status().last_error is None

        lease = chained.anchoring.jobs.lease("anchoring")
        assert lease is not None and lease.owner == holder._lease_owner and lease.round_at is not None
        # The holder stops (its lease runs out) after a failed round; another process takes the lease over.
        holder._connected = unreachable  # type: ignore[method-assign]
        with pytest.raises(AnchorUnavailable):
            holder.run_once()
        assert service.status().last_error == "chain unreachable: connection refused"
        renewed = chained.anchoring.jobs.lease("anchoring")  # that round renewed the lease: take it over after it
        assert renewed is not None and renewed.last_error == "chain unreachable: connection refused"
        assert chained.anchoring.jobs.try_lease("anchoring", owner="another-host:1:x", ttl=30,
                                                now=renewed.expires_at + 1)
        state = service.status()  # the new holder has not finished a round: the old one's failure is not its own
        assert (state.standby, state.last_error) == (True, None)
        taken = chained.anchoring.jobs.lease("anchoring")
        assert taken is not None and (taken.owner, taken.round_at, taken.last_error) == ("another-host:1:x", None,
                                                                                         None)
    finally:
        other.close()


def test_a_holder_that_cannot_renew_its_lease_reports_it(chained: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.errors import StorageError

    holder = chained.anchoring.anchorer
    assert holder is not None
    holder.run_once()

    def locked(*args: object, **kwargs: object) -> bool:
        raise StorageError("writing the anchoring outbox failed in the database (ref 0123456789ab); the server log "
                           "has the details")

    monkeypatch.setattr(holder.jobs, "try_lease", locked)
    with pytest.raises(StorageError):
        holder.run_once()
    with TestClient(create_app(ledger=chained)) as client:
        health = client.get("/healthz").json()
    assert health["anchoring"] == "failing" and "anchoring outbox failed" in health["anchoring_error"]


def test_a_round_that_outlives_its_lease_sends_nothing_once_another_process_has_it(chained: Ledger) -> None:
    """A slow round whose lease ran out and was taken over stops before its transaction goes out; a round well
    inside its lease does not write the lease again."""
    grow(chained, 3)
    holder = chained.anchoring.anchorer
    assert holder is not None
    jobs = chained.anchoring.jobs
    queue = holder._queue_checkpoint

    def queue_then_lose_the_lease(chain: object) -> None:
        queue(chain)  # type: ignore[arg-type]
        held = jobs.lease("anchoring")
        assert held is not None and held.owner == holder._lease_owner
        # the round took longer than the lease: another process takes it over once it has run out
        assert jobs.try_lease("anchoring", owner="another-host:1:x", ttl=3600, now=held.expires_at + 1)
        holder._renewed_at -= 3600  # the holder's own clock: its last renewal was that long ago

    holder._queue_checkpoint = queue_then_lose_the_lease  # type: ignore[method-assign]
    holder.run_once()
    assert holder.standby
    [job] = jobs.recent_jobs(kind=CHECKPOINT)
    assert job.status == PENDING and job.tx_hash is None  # queued by the round, never sent by it
    lease = jobs.lease("anchoring")
    assert lease is not None and lease.owner == "another-host:1:x" and lease.round_at is None


def test_a_job_another_process_took_up_since_it_was_read_is_left_to_it(chained: Ledger) -> None:
    """A sender acting on a job as it read it, after the process that took the lease over has sent it, neither
    sends it again nor overwrites what that process recorded."""
    grow(chained, 3)
    holder = chained.anchoring.anchorer
    assert holder is not None
    chain, _, _ = holder._connected()
    holder._queue_checkpoint(chain)
    jobs = chained.anchoring.jobs
    [read] = jobs.open_jobs(CHECKPOINT, chain.chain_id, holder._address(CHECKPOINT))
    assert (read.status, read.attempts) == (PENDING, 0)
    theirs = b"\x5a" * 32  # what the other process recorded as it sent the job
    assert jobs.update_job(read.id, status=SENT, attempts=1, tx_hash=theirs, sent_at="2026-12-03T00:00:00Z",
                           expect={"status": PENDING, "attempts": 0})
    height = chain.block_number()
    holder._sender._send(read)  # the stale sender goes on with the job as it read it
    assert chain.block_number() == height  # nothing sent
    after = jobs.job(read.id)
    assert (after.status, after.attempts, after.tx_hash) == (SENT, 1, theirs)


def test_a_checkpoint_job_being_sent_elsewhere_is_not_skipped_for_a_larger_one(
        chained: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Queueing a larger checkpoint skips the open jobs never tried, as read; not one another process has since
    started sending."""
    grow(chained, 3)
    holder = chained.anchoring.anchorer
    assert holder is not None
    chain, _, _ = holder._connected()
    jobs = chained.anchoring.jobs
    holder._queue_checkpoint(chain)
    [read] = jobs.open_jobs(CHECKPOINT, chain.chain_id, holder._address(CHECKPOINT))
    assert (read.status, read.attempts) == (PENDING, 0)
    assert jobs.update_job(read.id, status=SENT, attempts=1, tx_hash=b"\x5a" * 32)  # sent by the other process
    monkeypatch.setattr(holder.jobs, "open_jobs", lambda *args: [read])  # as the holder read them a moment before
    grow(chained, 2, start=3)
    holder._last_enqueued = float("-inf")
    holder._queue_checkpoint(chain)
    assert jobs.job(read.id).status == SENT


def test_a_transaction_signed_again_after_a_stale_nonce_is_recorded_and_sent_in_the_same_attempt(
        tmp_path: Path) -> None:
    """With a local key, a first broadcast the node refuses (a stale nonce) is signed again with a fresh nonce:
    the new hash takes the first's place in the job's row, and it goes out in the same round."""
    key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    with anchoring_ledger(tmp_path, "in-process", chain_private_key=key) as ledger:
        anchorer = ledger.anchoring.anchorer
        assert anchorer is not None
        anchorer.run_once()  # binds to the contracts; nothing to anchor yet
        chain = anchorer._chain
        assert chain is not None
        eth = chain.web3.eth
        broadcast = eth.send_raw_transaction
        sent: list[object] = []

        def first_refused(raw: object) -> object:
            sent.append(raw)
            if len(sent) == 1:
                raise ValueError({"code": -32000, "message": "nonce too low"})
            return broadcast(raw)

        eth.send_raw_transaction = first_refused
        try:
            grow(ledger, 4)
            anchorer.run_once()
        finally:
            eth.send_raw_transaction = broadcast
        [job] = ledger.anchoring.jobs.recent_jobs(kind=CHECKPOINT)
        assert len(sent) == 2 and (job.status, job.attempts) == (SENT, 1)
        anchorer.run_once()  # follows the recorded hash: the one that went out
        job = ledger.anchoring.jobs.job(job.id)
        assert job.status == CONFIRMED and job.attempts == 1


def test_a_round_well_inside_its_lease_renews_it_once(chained: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    grow(chained, 3)
    holder = chained.anchoring.anchorer
    assert holder is not None
    renewals: list[float] = []
    take = holder.jobs.try_lease

    def counted(name: str, **kwargs: Any) -> bool:
        renewals.append(kwargs["now"])
        return take(name, **kwargs)

    monkeypatch.setattr(holder.jobs, "try_lease", counted)
    holder.run_once()
    assert len(renewals) == 1 and not holder.standby  # taken at the start; the checks after it wrote nothing
    [job] = chained.anchoring.jobs.recent_jobs(kind=CHECKPOINT)
    assert job.tx_hash is not None  # and the round sent its transaction
