"""The one-time code table on SQLite and PostgreSQL: replace on re-send, a try spent, compared and settled in one
statement, the outbox of messages and its wiping."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from alembic import command
from sqlalchemy import inspect

from ledger.settings import Settings
from ledger.store import Store
from ledger.store.codes import Attempt, CodeRow, CodeStore
from ledger.store.migrate import alembic_config, head_revision

pytestmark = pytest.mark.usefixtures("backend")

T0, T1, T2, T3 = ("2025-03-01T08:00:00.000000Z", "2025-03-01T08:01:00.000000Z", "2025-03-01T08:02:00.000000Z",
                  "2025-03-01T08:03:00.000000Z")
MAC, OTHER_MAC = b"\x01" * 32, b"\x02" * 32


def code_row(request_id: str = "SR-1", *, created_at: str = T0, expires_at: str = "2025-03-01T08:10:00.000000Z",
             code_mac: bytes = MAC, tries: int = 5) -> CodeRow:
    return CodeRow(request_id=request_id, party="P-1", channel="sms", code_mac=code_mac, tries_left=tries,
                   expires_at=expires_at, created_at=created_at, message_zh=f"{request_id} 验证码 123456",
                   message_en=f"{request_id} code 123456")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.open(settings.resolved_database_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def codes(store: Store) -> CodeStore:
    return CodeStore(store.engine, write_lock=store.write_lock)


def test_a_row_comes_back_as_written_with_bytes_as_bytes(codes: CodeStore) -> None:
    row = replace(code_row(), code_mac=bytes(range(32)))
    assert codes.get("SR-1") is None
    assert codes.put(row) is True
    assert codes.get("SR-1") == row
    assert type(codes.get("SR-1").code_mac) is bytes  # type: ignore[union-attr]


def test_a_code_sent_again_replaces_the_old_one_but_not_one_that_confirmed(codes: CodeStore) -> None:
    codes.put(code_row(tries=1))
    codes.mark_delivered([("SR-1", MAC)], T1)
    assert codes.try_code("SR-1", OTHER_MAC, T1) == Attempt(left=0, confirmed=False)  # the last try fails it
    assert codes.get("SR-1").failed_at == T1  # type: ignore[union-attr]
    again = code_row(created_at=T2, code_mac=OTHER_MAC)
    assert codes.put(again) is True
    assert codes.get("SR-1") == again  # tries, delivery and failure all start over

    assert codes.try_code("SR-1", OTHER_MAC, T3) == Attempt(left=4, confirmed=True)
    assert codes.put(code_row(created_at=T3)) is False
    kept = codes.get("SR-1")
    assert kept is not None and (kept.code_mac, kept.confirmed_at, kept.created_at) == (OTHER_MAC, T3, T2)


def test_wrong_codes_spend_tries_down_to_zero_and_the_last_fails_the_code(codes: CodeStore) -> None:
    codes.put(code_row(tries=3))
    assert [codes.try_code("SR-1", OTHER_MAC, T1) for _ in range(5)] == [
        Attempt(2, False), Attempt(1, False), Attempt(0, False), None, None]
    row = codes.get("SR-1")
    assert row is not None
    assert (row.tries_left, row.failed_at, row.confirmed_at, row.message_zh, row.message_en) == \
        (0, T1, None, None, None)
    assert codes.try_code("SR-1", MAC, T2) is None  # the right code comes too late
    assert codes.try_code("SR-unknown", MAC, T1) is None


def test_a_wrong_code_keeps_the_message_until_the_code_is_settled(codes: CodeStore) -> None:
    codes.put(code_row())
    assert codes.try_code("SR-1", OTHER_MAC, T1) == Attempt(4, False)
    row = codes.get("SR-1")
    assert row is not None and (row.message_en, row.failed_at, row.confirmed_at) == ("SR-1 code 123456", None, None)


def test_no_try_is_spent_of_a_code_confirmed_failed_or_expired(codes: CodeStore) -> None:
    codes.put(code_row("SR-1"))
    codes.put(code_row("SR-2", tries=1))
    codes.put(code_row("SR-3", expires_at=T2))
    assert codes.try_code("SR-1", MAC, T1) == Attempt(4, True)
    assert codes.try_code("SR-2", OTHER_MAC, T1) == Attempt(0, False)
    assert [codes.try_code(name, MAC, T2) for name in ("SR-1", "SR-2", "SR-3")] == [None, None, None]
    assert [codes.get(name).tries_left for name in ("SR-1", "SR-2", "SR-3")] == [4, 0, 5]  # type: ignore[union-attr]


def test_concurrent_wrong_codes_never_spend_more_tries_than_there_are(codes: CodeStore) -> None:
    codes.put(code_row(tries=5))
    with ThreadPoolExecutor(max_workers=8) as pool:
        tried = list(pool.map(lambda _: codes.try_code("SR-1", OTHER_MAC, T1), range(24)))
    assert sorted(attempt.left for attempt in tried if attempt is not None) == [0, 1, 2, 3, 4]
    assert tried.count(None) == 19
    row = codes.get("SR-1")
    assert row is not None and (row.tries_left, row.failed_at) == (0, T1)


def test_concurrent_right_and_wrong_codes_settle_the_code_once_within_its_tries(codes: CodeStore) -> None:
    for round_ in range(5):
        name = f"SR-{round_}"
        codes.put(code_row(name, tries=2))
        macs = [MAC, OTHER_MAC] * 8
        with ThreadPoolExecutor(max_workers=8) as pool:
            tried = list(pool.map(lambda mac, name=name: codes.try_code(name, mac, T1), macs))
        row = codes.get(name)
        assert row is not None
        confirmed = [attempt for attempt in tried if attempt is not None and attempt.confirmed]
        if row.confirmed_at is not None:  # the right code came within the two tries
            assert len(confirmed) == 1 and row.failed_at is None
        else:  # two wrong codes came first: failed, and no right code confirmed after
            assert confirmed == [] and row.failed_at == T1
        assert len([attempt for attempt in tried if attempt is not None]) == 2 - row.tries_left


def test_confirming_needs_the_current_code_and_happens_once(codes: CodeStore) -> None:
    codes.put(code_row())
    assert codes.try_code("SR-1", OTHER_MAC, T1) == Attempt(4, False)  # a replaced code confirms nothing
    assert codes.try_code("SR-1", MAC, T1) == Attempt(3, True)
    assert codes.try_code("SR-1", MAC, T2) is None
    assert codes.mark_failed("SR-1", T2) is False
    row = codes.get("SR-1")
    assert row is not None
    assert (row.confirmed_at, row.failed_at, row.message_zh, row.message_en) == (T1, None, None, None)


def test_failing_takes_only_a_code_with_no_tries_left_and_happens_once(codes: CodeStore) -> None:
    codes.put(code_row("SR-1", tries=0))
    codes.put(code_row("SR-2"))
    assert codes.mark_failed("SR-2", T1) is False  # a code with tries left (one sent again) is left alone
    assert codes.mark_failed("SR-1", T1) is True
    assert codes.mark_failed("SR-1", T2) is False
    assert codes.try_code("SR-1", MAC, T2) is None
    row = codes.get("SR-1")
    assert row is not None and (row.failed_at, row.confirmed_at, row.message_zh, row.message_en) == \
        (T1, None, None, None)
    assert codes.get("SR-2") == code_row("SR-2")


def test_pending_lists_undelivered_codes_in_play_oldest_first(codes: CodeStore) -> None:
    codes.put(code_row("SR-c", created_at=T2))
    codes.put(code_row("SR-a", created_at=T0))
    codes.put(code_row("SR-b", created_at=T1, expires_at=T2))
    for name in ("SR-delivered", "SR-confirmed", "SR-failed"):
        codes.put(code_row(name, created_at=T0))
    codes.mark_delivered([("SR-delivered", MAC)], T1)
    codes.try_code("SR-confirmed", MAC, T1)
    codes.put(code_row("SR-failed", created_at=T0, tries=1))
    codes.try_code("SR-failed", OTHER_MAC, T1)

    assert [row.request_id for row in codes.pending(10)] == ["SR-a", "SR-b", "SR-c"]
    assert [row.request_id for row in codes.pending(2)] == ["SR-a", "SR-b"]
    assert [row.request_id for row in codes.pending(10, live_at=T2)] == ["SR-a", "SR-c"]  # SR-b expired at T2
    assert codes.pending(1)[0] == code_row("SR-a", created_at=T0)


def test_delivery_is_recorded_once_and_wipes_the_message(codes: CodeStore) -> None:
    codes.put(code_row("SR-1"))
    codes.put(code_row("SR-2"))
    codes.put(code_row("SR-3"))
    assert codes.mark_delivered([], T1) == 0
    assert codes.mark_delivered([("SR-1", MAC), ("SR-2", MAC), ("SR-2", MAC), ("SR-unknown", MAC)], T1) == 2
    assert codes.mark_delivered([("SR-1", MAC), ("SR-3", MAC)], T2) == 1  # SR-1 was delivered already
    rows = {name: codes.get(name) for name in ("SR-1", "SR-2", "SR-3")}
    assert {name: (row.delivered_at, row.message_zh, row.message_en) for name, row in rows.items()  # type: ignore[union-attr]
            } == {"SR-1": (T1, None, None), "SR-2": (T1, None, None), "SR-3": (T2, None, None)}
    assert codes.pending(10) == []


def test_delivery_of_a_code_sent_again_since_leaves_the_new_message(codes: CodeStore) -> None:
    codes.put(code_row("SR-1"))
    codes.put(code_row("SR-1", created_at=T1, code_mac=OTHER_MAC))  # sent again before the first was marked
    assert codes.mark_delivered([("SR-1", MAC)], T2) == 0
    row = codes.get("SR-1")
    assert row is not None and (row.delivered_at, row.message_en) == (None, "SR-1 code 123456")
    assert codes.mark_delivered([("SR-1", OTHER_MAC)], T2) == 1


def test_expired_messages_are_wiped(codes: CodeStore) -> None:
    codes.put(code_row("SR-old", expires_at=T1))
    codes.put(code_row("SR-new", expires_at=T3))
    assert codes.wipe_expired(T1) == 1
    assert codes.wipe_expired(T1) == 0
    assert codes.get("SR-old").message_en is None  # type: ignore[union-attr]
    assert codes.get("SR-new").message_en == "SR-new code 123456"  # type: ignore[union-attr]


def test_the_migration_goes_down_and_up_again(store: Store) -> None:
    config = alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")
    assert "servicing_codes" not in inspect(store.engine).get_table_names()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    assert "servicing_codes" in inspect(store.engine).get_table_names()
    assert store.revision() == head_revision()
