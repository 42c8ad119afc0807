"""Group appends: all or none, at consecutive positions, only where the decision saw the stream."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import Conflict, SignatureError
from ledger.log.statements import sign_event
from ledger.projections import streams
from ledger.services.documents import Registration
from ledger.services.intake import Draft, Receipt
from ledger.settings import Settings
from tests.factories import at_once, policy_event

pytestmark = pytest.mark.usefixtures("backend")
ROOT = Path(__file__).resolve().parents[3]


def position(ledger: Ledger, stream: str) -> int:
    """The stream's last sequence number, as a decision would load it."""
    row = ledger.store.rows.read(streams.TABLE, [(stream,)]).get((stream,))
    return 0 if row is None else int(row["last_seq"])


def test_a_group_lands_at_consecutive_positions(ledger: Ledger, system_key: SigningKey) -> None:
    ledger.intake.append(policy_event(system_key, 0, stream="policy:other"), owner="policy-admin")
    group = [policy_event(system_key, n, stream="policy:p1", type=kind)
             for n, kind in enumerate(("policy.applied", "policy.underwritten", "policy.issued"), start=1)]
    receipts = ledger.intake.append_all(group, owner="policy-admin", expected={"policy:p1": 0})
    assert [r.index for r in receipts] == [2, 3, 4] and [r.seq for r in receipts] == [1, 2, 3]
    again = ledger.intake.append_all(group, owner="policy-admin", expected={"policy:p1": 0})  # a retry
    assert [r.index for r in again] == [2, 3, 4] and all(r.duplicate for r in again)
    assert ledger.log.size() == 5


def test_a_stale_position_records_nothing_and_names_stream_expected_and_actual(ledger: Ledger,
                                                                                system_key: SigningKey) -> None:
    ledger.intake.append(policy_event(system_key, 1), owner="policy-admin")
    size = ledger.log.size()
    with pytest.raises(Conflict) as refused:
        ledger.intake.append_all([policy_event(system_key, 2), policy_event(system_key, 3)], owner="policy-admin",
                                 expected={"policy:p1": 0})
    assert refused.value.message.startswith("stream 'policy:p1' is at position 1, not at 0")
    assert refused.value.field == "expected_seq"
    assert ledger.log.size() == size and position(ledger, "policy:p1") == 1


def test_one_bad_event_sinks_the_whole_group(ledger: Ledger, system_key: SigningKey) -> None:
    size = ledger.log.size()
    good = policy_event(system_key, 1)
    revoked_meanwhile = sign_event(key=SigningKey.generate("stranger-1"), event_id="evt-2", type="policy.issued",
                                   stream="policy:p2", payload={}, data_subject="customer:c1")
    with pytest.raises(SignatureError):  # refused before anything is queued
        ledger.intake.append_all([good, revoked_meanwhile], owner="policy-admin")
    ledger.documents.register([Registration(digest=b"\x01" * 32, subject=b"\x02" * 32, kind=1)])
    size = ledger.log.size()
    with pytest.raises(Conflict, match="already registered"):  # a projector refuses the second event
        ledger.documents.register([Registration(digest=b"\x03" * 32, subject=b"\x02" * 32, kind=1),
                                   Registration(digest=b"\x01" * 32, subject=b"\x02" * 32, kind=1)])
    assert ledger.log.size() == size
    assert position(ledger, "document:" + "02" * 32) == 1  # the first event of the group left no trace
    assert ledger.anchoring.jobs.unassigned_ops(limit=10)[-1].digest == b"\x01" * 32
    assert len(ledger.anchoring.jobs.unassigned_ops(limit=10)) == 1


def test_a_refused_group_leaves_the_other_units_of_its_batch_alone(ledger: Ledger, system_key: SigningKey) -> None:
    """A group refused inside a shared commit: the single events committed with it still land."""
    ledger.intake.append(policy_event(system_key, 1), owner="policy-admin")

    def single(n: int) -> Receipt:
        return ledger.intake.append(policy_event(system_key, 10 + n, stream=f"policy:s{n}"), owner="policy-admin")

    def group() -> list[Receipt]:
        return ledger.intake.append_all([policy_event(system_key, 20), policy_event(system_key, 21)],
                                        owner="policy-admin", expected={"policy:p1": 0})

    *singles, grouped = at_once([partial(single, 0), partial(single, 1), group], expect=(Conflict,))
    assert isinstance(grouped, Conflict)
    assert all(isinstance(receipt, Receipt) and receipt.seq == 1 for receipt in singles)
    assert position(ledger, "policy:s0") == position(ledger, "policy:s1") == 1
    assert ledger.log.size() == 4


def test_concurrent_deciders_on_one_stream_exactly_one_wins(ledger: Ledger) -> None:
    """Two clerks approve the same request at once: both decide on position 0, one lands, the other is told the
    stream moved, reloads, sees the approval and decides there is nothing to do."""
    stream = "request:r1"
    ledger.intake.emit(Draft("request.submitted", stream, {"operation": "address_change"}))
    both_loaded = threading.Barrier(2)
    outcome: dict[str, list[str]] = {}

    def clerk(name: str) -> None:
        tries: list[str] = []
        while True:
            seen = position(ledger, stream)
            approved = any(ledger.log.entry(i).type == "request.approved" for i in range(ledger.log.size()))
            if not tries:
                both_loaded.wait()
            if approved:  # the decision: approve only what is not approved yet
                tries.append("nothing to do")
                break
            try:
                ledger.intake.emit_all([Draft("request.approved", stream, {"by": name})], expected={stream: seen})
                tries.append("approved")
                break
            except Conflict as exc:
                tries.append(exc.message)
        outcome[name] = tries

    clerks = [threading.Thread(target=clerk, args=(name,)) for name in ("clerk-a", "clerk-b")]
    for thread in clerks:
        thread.start()
    for thread in clerks:
        thread.join()
    assert sorted(tries[-1] for tries in outcome.values()) == ["approved", "nothing to do"]
    loser = next(tries for tries in outcome.values() if tries[-1] == "nothing to do")
    assert loser[0] == f"stream {stream!r} is at position 2, not at 1 where the decision was made; reload it " \
                       f"and decide again"
    assert [ledger.log.entry(i).type for i in range(ledger.log.size())].count("request.approved") == 1
    assert position(ledger, stream) == 2


CRASH = """
import os, sys
from ledger.app import Ledger
from ledger.services.intake import Draft
from ledger.settings import Settings
from ledger.store.session import WriterSession

ledger = Ledger.open(Settings(data_dir=sys.argv[1], database_url=sys.argv[2] or None, origin=sys.argv[3],
                             chain_url="none"))
ledger.start()
ledger.intake.emit(Draft("request.submitted", "request:r1", {"n": 0}))
def die_after_the_entries(self, cursor, changes):  # the group's entries are inserted; its rows are next
    os._exit(9)

WriterSession._write_changes = die_after_the_entries
ledger.intake.emit_all([Draft("request.noted", "request:r1", {"n": n}) for n in range(1, 4)])
"""


def test_a_crash_in_the_middle_of_a_group_records_none_of_it(settings: Settings) -> None:
    url = settings.database_url or ""
    crashed = subprocess.run([sys.executable, "-c", CRASH, str(settings.data_dir), url, settings.origin],
                             capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ})
    assert crashed.returncode == 9, crashed.stderr
    reopened = Ledger.open(settings)
    try:
        assert reopened.log.size() == 1
        assert position(reopened, "request:r1") == 1
        reopened.log.checkpoint_now()
        report = reopened.audit.verify()
        assert report.ok, [str(p) for p in report.problems]
        reopened.start()
        after = reopened.intake.emit(Draft("request.noted", "request:r1", {"n": 1}))
        assert (after.index, after.seq) == (1, 2)
    finally:
        reopened.close()
