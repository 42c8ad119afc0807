"""One-time codes for the second confirmation of high-risk servicing requests, on SQLite and PostgreSQL: the
right code confirms once, wrong ones spend a bounded number of tries, codes expire, and the plain code lives
only in the outbox message until it is delivered."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select

from ledger.clock import FixedClock
from ledger.errors import ConfigurationError, Refused, ValidationFailed
from ledger.services.codes import OneTimeCodes
from ledger.settings import Settings
from ledger.store import Store
from ledger.store import schema as t
from ledger.store.codes import CodeStore

pytestmark = pytest.mark.usefixtures("backend")

KEY = b"k" * 32
START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SURRENDER = {"purpose_zh": "退保", "purpose_en": "surrender"}


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.open(settings.resolved_database_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def codes(store: Store, clock: FixedClock) -> OneTimeCodes:
    return OneTimeCodes(CodeStore(store.engine, write_lock=store.write_lock), clock=clock, key=KEY)


def sent_code(codes: OneTimeCodes, request_id: str = "SR-1") -> str:
    """The code as the messaging system reads it from the outbox (the same in both languages)."""
    [message] = [m for m in codes.pending() if m["id"] == request_id]
    found = {re.search(r"\d{6}", message["message_zh"]).group(), re.search(r"\d{6}", message["message_en"]).group()}  # type: ignore[union-attr]
    assert len(found) == 1
    return found.pop()


def refusal(call: Any) -> tuple[str, str, str]:
    with pytest.raises(Refused) as caught:
        call()
    return caught.value.rule, caught.value.message, caught.value.zh


def rule_of(call: Any) -> str:
    return refusal(call)[0]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_issue_queues_a_bilingual_message_and_the_right_code_confirms_once(codes: OneTimeCodes) -> None:
    issued = codes.issue("SR-1", party="P-1", **SURRENDER)
    assert issued == {"channel": "sms", "expires_at": "2025-03-01T08:10:00.000000Z", "tries": 5}
    [message] = codes.pending()
    code = sent_code(codes)
    assert re.fullmatch(r"[0-9a-f]{16}", message.pop("version"))
    assert message == {
        "id": "SR-1", "party": "P-1", "channel": "sms", "created_at": "2025-03-01T08:00:00.000000Z",
        "expires_at": "2025-03-01T08:10:00.000000Z",
        "message_zh": f"您正在申请退保，验证码 {code}，10 分钟内有效。如非本人操作，请勿提供并致电客服。",
        "message_en": f"Your code for surrender is {code}, valid for 10 minutes. If you did not ask for this, do not "
                      "share it and call us."}

    codes.check("SR-1", code)
    status = codes.status("SR-1")
    assert status is not None and status["confirmed_at"] == "2025-03-01T08:00:00.000000Z"
    assert status["failed_at"] is None
    assert codes.pending() == []  # the message is wiped once the code is used
    assert rule_of(lambda: codes.check("SR-1", code)) == "OTP-CONFIRMED"
    assert rule_of(lambda: codes.issue("SR-1", party="P-1", **SURRENDER)) == "OTP-CONFIRMED"


def test_a_wrong_code_spends_a_try_and_says_how_many_are_left(codes: OneTimeCodes) -> None:
    codes.issue("SR-1", party="P-1", **SURRENDER)
    code = sent_code(codes)
    assert refusal(lambda: codes.check("SR-1", wrong(code))) == \
        ("OTP-WRONG", "the code is wrong; 4 tries left", "验证码错误，还可尝试 4 次。")
    assert [rule_of(lambda: codes.check("SR-1", wrong(code))) for _ in range(2)] == ["OTP-WRONG"] * 2
    assert refusal(lambda: codes.check("SR-1", wrong(code))) == \
        ("OTP-WRONG", "the code is wrong; 1 try left", "验证码错误，还可尝试 1 次。")
    assert codes.status("SR-1")["tries_left"] == 1  # type: ignore[index]
    codes.check("SR-1", code)  # the last try still confirms


def test_five_wrong_codes_exhaust_it_and_then_the_right_one_fails_too(codes: OneTimeCodes) -> None:
    codes.issue("SR-1", party="P-1", **SURRENDER)
    code = sent_code(codes)
    rules = [rule_of(lambda: codes.check("SR-1", wrong(code))) for _ in range(5)]
    assert rules == ["OTP-WRONG"] * 4 + ["OTP-EXHAUSTED"]
    assert rule_of(lambda: codes.check("SR-1", code)) == "OTP-EXHAUSTED"
    status = codes.status("SR-1")
    assert status is not None and (status["tries_left"], status["confirmed_at"]) == (0, None)
    assert status["failed_at"] == "2025-03-01T08:00:00.000000Z"
    assert codes.pending() == []


def test_a_code_expires_after_its_time(codes: OneTimeCodes, clock: FixedClock) -> None:
    codes.issue("SR-1", party="P-1", **SURRENDER)
    codes.issue("SR-2", party="P-1", **SURRENDER)
    first, second = sent_code(codes, "SR-1"), sent_code(codes, "SR-2")
    clock.advance(timedelta(seconds=599))
    codes.check("SR-1", first)
    clock.advance(timedelta(seconds=1))
    assert refusal(lambda: codes.check("SR-2", second)) == \
        ("OTP-EXPIRED", "the code has expired; ask for a new one", "验证码已过期，请重新获取。")
    assert codes.status("SR-2")["tries_left"] == 5  # type: ignore[index]
    assert codes.pending() == []  # an expired code is not worth sending
    assert codes.sweep() == 1
    assert codes.sweep() == 0


def test_issuing_again_replaces_the_code_and_gives_the_tries_back(codes: OneTimeCodes) -> None:
    codes.issue("SR-1", party="P-1", **SURRENDER)
    old = sent_code(codes)
    for _ in range(4):
        rule_of(lambda: codes.check("SR-1", wrong(old)))
    new = old
    while new == old:  # a fresh draw repeats the old code one time in a million
        codes.issue("SR-1", party="P-1", channel="email", purpose_zh="变更受益人", purpose_en="a beneficiary change")
        new = sent_code(codes)
    assert codes.status("SR-1") == {"channel": "email", "expires_at": "2025-03-01T08:10:00.000000Z",
                                    "tries_left": 5, "confirmed_at": None, "failed_at": None, "delivered_at": None}
    assert "变更受益人" in codes.pending()[0]["message_zh"]
    assert refusal(lambda: codes.check("SR-1", old))[:2] == ("OTP-WRONG", "the code is wrong; 4 tries left")
    codes.check("SR-1", new)


def test_an_exhausted_code_can_be_sent_again(codes: OneTimeCodes) -> None:
    codes.issue("SR-1", party="P-1", **SURRENDER)
    code = sent_code(codes)
    for _ in range(5):
        rule_of(lambda: codes.check("SR-1", wrong(code)))
    codes.issue("SR-1", party="P-1", **SURRENDER)
    codes.check("SR-1", sent_code(codes))


FULLWIDTH = "".join(chr(0xFF10 + int(digit)) for digit in "123456")  # digits to str.isdigit, not ASCII


@pytest.mark.parametrize("malformed", ["12345", "1234567", "12a456", FULLWIDTH, " 123456", "", "-12345", "12 456"])
def test_a_malformed_code_is_rejected_without_spending_a_try(codes: OneTimeCodes, malformed: str) -> None:
    codes.issue("SR-1", party="P-1", **SURRENDER)
    with pytest.raises(ValidationFailed) as caught:
        codes.check("SR-1", malformed)
    assert caught.value.field == "code"
    assert codes.status("SR-1")["tries_left"] == 5  # type: ignore[index]


def test_checking_a_request_without_a_code_is_refused(codes: OneTimeCodes) -> None:
    assert refusal(lambda: codes.check("SR-none", "123456"))[0] == "OTP-NONE"
    assert codes.status("SR-none") is None


def columns(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(t.servicing_codes)).one()._mapping)


def test_the_code_is_kept_only_as_its_hmac_and_leaves_the_database_once_delivered(
        codes: OneTimeCodes, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[int] = []

    def draw(below: int) -> int:
        drawn.append(below)
        return 482_913

    monkeypatch.setattr(secrets, "randbelow", draw)
    codes.issue("SR-1", party="P-1", **SURRENDER)
    assert drawn == [1_000_000]
    row = columns(store)
    assert row["code_mac"] == hmac.new(KEY, b"SR-1:482913", hashlib.sha256).digest()
    holding = {name for name, value in row.items()
               if (b"482913" in value if isinstance(value, bytes) else "482913" in str(value))}
    assert holding == {"message_zh", "message_en"}
    assert "482913" not in repr(codes.status("SR-1"))

    [message] = codes.pending()
    assert codes.delivered([("SR-1", message["version"]), ("SR-unknown", message["version"])]) == 1
    assert codes.delivered([("SR-1", message["version"])]) == 0
    row = columns(store)
    assert (row["message_zh"], row["message_en"], row["delivered_at"]) == (None, None, "2025-03-01T08:00:00.000000Z")
    with store.engine.connect() as conn:  # nowhere in any table of the database
        for name in inspect(conn).get_table_names():
            for found in conn.exec_driver_sql(f"SELECT * FROM {name}"):
                assert "482913" not in repr(tuple(found)), name
    codes.check("SR-1", "482913")  # still confirms: the HMAC is enough


def test_a_message_read_before_its_code_was_sent_again_marks_nothing_delivered(
        codes: OneTimeCodes, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter([111_111, 222_222])
    monkeypatch.setattr(secrets, "randbelow", lambda below: next(drawn))
    codes.issue("SR-1", party="P-1", **SURRENDER)
    [first] = codes.pending()
    codes.issue("SR-1", party="P-1", **SURRENDER)  # the customer asks again while the first is being sent
    [second] = codes.pending()
    assert first["version"] != second["version"]
    assert codes.delivered([("SR-1", first["version"])]) == 0  # the new code was not delivered by this
    assert [m["message_en"] for m in codes.pending()] == [second["message_en"]]
    assert sent_code(codes) == "222222"
    assert codes.delivered([("SR-1", "0" * 16)]) == 0
    assert codes.delivered([("SR-1", second["version"])]) == 1
    codes.check("SR-1", "222222")


def test_the_hmac_key_matters(codes: OneTimeCodes, store: Store, clock: FixedClock) -> None:
    codes.issue("SR-1", party="P-1", **SURRENDER)
    code = sent_code(codes)
    other = OneTimeCodes(CodeStore(store.engine, write_lock=store.write_lock), clock=clock, key=b"o" * 32)
    assert refusal(lambda: other.check("SR-1", code))[:2] == ("OTP-WRONG", "the code is wrong; 4 tries left")
    codes.check("SR-1", code)


def test_concurrent_wrong_guesses_stay_within_the_tries(codes: OneTimeCodes) -> None:
    codes.issue("SR-1", party="P-1", **SURRENDER)
    code = sent_code(codes)
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 25)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        rules = list(pool.map(lambda guess: rule_of(lambda: codes.check("SR-1", guess)), guesses))
    assert rules.count("OTP-WRONG") == 4 and rules.count("OTP-EXHAUSTED") == 20
    assert rule_of(lambda: codes.check("SR-1", code)) == "OTP-EXHAUSTED"


def test_concurrent_right_codes_confirm_once(codes: OneTimeCodes) -> None:
    codes.issue("SR-1", party="P-1", **SURRENDER)
    code = sent_code(codes)

    def attempt(_: int) -> str:
        try:
            codes.check("SR-1", code)
        except Refused as refused:
            return refused.rule
        return "confirmed"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(16)))
    assert outcomes.count("confirmed") == 1 and outcomes.count("OTP-CONFIRMED") == 15


def test_the_right_code_sent_twice_at_once_after_wrong_ones_confirms_and_is_never_failed(
        codes: OneTimeCodes) -> None:
    for round_ in range(6):  # the last try and one more right code race; a lost race used to fail the code
        request_id = f"SR-{round_}"
        codes.issue(request_id, party="P-1", **SURRENDER)
        code = sent_code(codes, request_id)
        for _ in range(4):
            rule_of(lambda request_id=request_id, code=code: codes.check(request_id, wrong(code)))

        def attempt(_: int, request_id: str = request_id, code: str = code) -> str:
            try:
                codes.check(request_id, code)
            except Refused as refused:
                return refused.rule
            return "confirmed"

        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = sorted(pool.map(attempt, range(4)))
        assert outcomes == ["OTP-CONFIRMED"] * 3 + ["confirmed"], outcomes
        status = codes.status(request_id)
        assert status is not None and status["failed_at"] is None and status["confirmed_at"] is not None


class UsedUpAndSentAgain(CodeStore):
    """The real table, where for the first ``races`` checks other guesses use the code up just before the check's
    try and a new code is sent just after it: the race a resend makes."""

    def __init__(self, store: Store, clock: FixedClock, *, races: int) -> None:
        super().__init__(store.engine, write_lock=store.write_lock)
        self.issuer = OneTimeCodes(CodeStore(store.engine, write_lock=store.write_lock), clock=clock, key=KEY)
        self.races = races

    def try_code(self, request_id: str, code_mac: bytes, at: str) -> Any:
        if self.races <= 0:
            return super().try_code(request_id, code_mac, at)
        self.races -= 1
        while super().try_code(request_id, b"\0" * 32, at) is not None:  # other guesses use the code up
            pass
        tried = super().try_code(request_id, code_mac, at)
        self.issuer.issue(request_id, party="P-1", **SURRENDER)
        return tried


def test_a_code_sent_again_during_the_check_is_read_again_and_never_failed(store: Store, clock: FixedClock) -> None:
    codes = OneTimeCodes(UsedUpAndSentAgain(store, clock, races=1), clock=clock, key=KEY)
    codes.issue("SR-1", party="P-1", **SURRENDER)
    old = sent_code(codes)
    # the old code is gone; the check reads the new one and spends one of its tries, not all of them
    assert refusal(lambda: codes.check("SR-1", old))[:2] == ("OTP-WRONG", "the code is wrong; 4 tries left")
    status = codes.status("SR-1")
    assert status is not None and (status["tries_left"], status["failed_at"]) == (4, None)


def test_a_code_sent_again_on_every_try_is_busy_not_failed(store: Store, clock: FixedClock) -> None:
    codes = OneTimeCodes(UsedUpAndSentAgain(store, clock, races=3), clock=clock, key=KEY)
    codes.issue("SR-1", party="P-1", **SURRENDER)
    assert refusal(lambda: codes.check("SR-1", sent_code(codes)))[:2] == (
        "OTP-BUSY", "the code was used up and sent again while it was checked; try again")
    status = codes.status("SR-1")
    assert status is not None and (status["tries_left"], status["failed_at"], status["confirmed_at"]) == \
        (5, None, None)


def test_a_code_confirmed_by_another_check_before_the_last_try_is_confirmed_not_busy(store: Store,
                                                                                     clock: FixedClock) -> None:
    class ConfirmedMeanwhile(UsedUpAndSentAgain):
        def try_code(self, request_id: str, code_mac: bytes, at: str) -> Any:
            if self.races > 0:
                return super().try_code(request_id, code_mac, at)
            current = self.get(request_id)
            assert current is not None
            CodeStore.try_code(self, request_id, current.code_mac, at)  # another check, with the right code
            return CodeStore.try_code(self, request_id, code_mac, at)

    codes = OneTimeCodes(ConfirmedMeanwhile(store, clock, races=2), clock=clock, key=KEY)
    codes.issue("SR-1", party="P-1", **SURRENDER)
    assert rule_of(lambda: codes.check("SR-1", "000000")) == "OTP-CONFIRMED"


def test_bad_inputs_and_settings_are_named(codes: OneTimeCodes, store: Store, clock: FixedClock) -> None:
    cases: list[tuple[str, Callable[[], object]]] = [
        ("request_id", lambda: codes.issue("", party="P-1", **SURRENDER)),
        ("party", lambda: codes.issue("SR-1", party=" ", **SURRENDER)),
        ("purpose_en", lambda: codes.issue("SR-1", party="P-1", purpose_zh="退保", purpose_en="")),
        ("channel", lambda: codes.issue("SR-1", party="P-1", channel="SMS!", **SURRENDER)),
    ]
    for field, call in cases:
        with pytest.raises(ValidationFailed) as caught:
            call()
        assert caught.value.field == field
    assert codes.status("SR-1") is None
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        OneTimeCodes(CodeStore(store.engine), clock=clock, key=b"short")
    with pytest.raises(ConfigurationError, match="digits"):
        OneTimeCodes(CodeStore(store.engine), clock=clock, key=KEY, digits=3)


def test_other_lengths_and_lifetimes_are_spelled_out(store: Store, clock: FixedClock) -> None:
    codes = OneTimeCodes(CodeStore(store.engine, write_lock=store.write_lock), clock=clock, key=KEY,
                         ttl_seconds=90, tries=2, digits=8)
    assert codes.issue("SR-1", party="P-1", **SURRENDER)["tries"] == 2
    [message] = codes.pending()
    assert "90 秒内有效" in message["message_zh"] and "valid for 90 seconds" in message["message_en"]
    code = re.search(r"\d{8}", message["message_en"]).group()  # type: ignore[union-attr]
    with pytest.raises(ValidationFailed):
        codes.check("SR-1", code[:6])
    codes.check("SR-1", code)
