"""One-time codes that confirm a high-risk servicing request on a second channel: issue, check, and the outbox.

A code is drawn from ``secrets``, kept only as an HMAC, and sent in a message (Chinese and English) that the
messaging system picks up; the message text, the code's only plain copy, is wiped once delivered or once the
code is used up. Nothing here is journal data. Every check of a well-formed code spends one of its tries, compares
the code and settles it in one database statement, so no number of concurrent guesses can test more codes than the
tries allow, and a right code is never failed by a guess that ran beside it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ledger.clock import Clock
from ledger.errors import ConfigurationError, Refused, ValidationFailed
from ledger.log.identifiers import utc_timestamp
from ledger.store.codes import CodeRow, CodeStore

MIN_KEY = 16
CHANNEL = re.compile(r"[a-z][a-z0-9-]{0,15}")
MAX_ID = 128


def _duration(seconds: int) -> tuple[str, str]:
    """How long a code is valid, in Chinese and English words."""
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} 分钟", f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} 秒", f"{seconds} second{'s' if seconds != 1 else ''}"


def _version(code_mac: bytes) -> str:
    """A message's version: names its code without telling anything of the code's HMAC."""
    return hashlib.sha256(b"lifeledger code message version\0" + code_mac).hexdigest()[:16]


def _text(value: str, *, field: str, longest: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise ValidationFailed(f"{field} must be 1-{longest} characters, got {value!r}", field=field)
    return value


class OneTimeCodes:
    """Codes of ``digits`` digits, valid ``ttl_seconds`` after issue, for at most ``tries`` checks each.

    ``key`` (at least 16 bytes, secret) keys the HMAC the codes are kept as; another key confirms nothing.
    Raises ``ConfigurationError`` for a short key or parameters out of range.
    """

    def __init__(self, store: CodeStore, *, clock: Clock, key: bytes, ttl_seconds: int = 600, tries: int = 5,
                 digits: int = 6) -> None:
        if len(key) < MIN_KEY:
            raise ConfigurationError(f"the one-time code key must be at least {MIN_KEY} bytes, got {len(key)}")
        if not 30 <= ttl_seconds <= 86_400:
            raise ConfigurationError(f"ttl_seconds must be 30-86400, got {ttl_seconds}")
        if not 1 <= tries <= 20:
            raise ConfigurationError(f"tries must be 1-20, got {tries}")
        if not 4 <= digits <= 10:
            raise ConfigurationError(f"digits must be 4-10, got {digits}")
        self._store = store
        self._clock = clock
        self._key = key
        self._ttl = ttl_seconds
        self._tries = tries
        self._digits = digits

    def _mac(self, request_id: str, code: str) -> bytes:
        return hmac.new(self._key, f"{request_id}:{code}".encode(), hashlib.sha256).digest()

    def terms(self, now: datetime, channel: str = "sms") -> dict[str, Any]:
        """What a code issued at ``now`` on ``channel`` will be: the channel, its expiry time and its tries (what
        ``issue`` at the same ``now`` returns), for recording the sending before the code is drawn."""
        return {"channel": channel, "expires_at": utc_timestamp(now + timedelta(seconds=self._ttl)),
                "tries": self._tries}

    def issue(self, request_id: str, *, party: str, channel: str = "sms", purpose_zh: str,
              purpose_en: str, now: datetime | None = None) -> dict[str, Any]:
        """Draw a new code for ``request_id`` and queue the message carrying it to ``party`` on ``channel``.

        A code sent before for the same request is replaced (its tries start over). ``now`` (default: the
        clock's) is the issue time. Returns the channel, expiry time and number of tries, never the code. Raises
        ``ValidationFailed`` for an empty or over-long request id, party or purpose or a malformed channel name,
        and ``Refused`` (rule ``OTP-CONFIRMED``) when the request was already confirmed.
        """
        _text(request_id, field="request_id", longest=MAX_ID)
        _text(party, field="party", longest=MAX_ID)
        _text(purpose_zh, field="purpose_zh", longest=200)
        _text(purpose_en, field="purpose_en", longest=200)
        if not isinstance(channel, str) or not CHANNEL.fullmatch(channel):
            raise ValidationFailed(f"channel must be 1-16 characters a-z 0-9 - starting with a letter, got "
                                   f"{channel!r}", field="channel")
        code = f"{secrets.randbelow(10 ** self._digits):0{self._digits}d}"
        now = now or self._clock.now()
        expires_at = self.terms(now, channel)["expires_at"]
        valid_zh, valid_en = _duration(self._ttl)
        row = CodeRow(
            request_id=request_id, party=party, channel=channel, code_mac=self._mac(request_id, code),
            tries_left=self._tries, expires_at=expires_at, created_at=utc_timestamp(now),
            message_zh=f"您正在申请{purpose_zh}，验证码 {code}，{valid_zh}内有效。如非本人操作，请勿提供并致电客服。",
            message_en=(f"Your code for {purpose_en} is {code}, valid for {valid_en}. If you did not ask for this, "
                        "do not share it and call us."))
        if not self._store.put(row):
            raise self._confirmed()
        return {"channel": channel, "expires_at": expires_at, "tries": self._tries}

    def check(self, request_id: str, code: str) -> None:
        """Return if ``code`` is the request's current code, marking the request confirmed; raise otherwise.

        Raises ``ValidationFailed`` (field ``code``) when the code is not exactly ``digits`` ASCII digits (no try
        is spent), and ``Refused`` with rule ``OTP-NONE`` (no code was issued), ``OTP-CONFIRMED`` (the code was
        used already), ``OTP-EXHAUSTED`` (no tries left: the request needs a new code), ``OTP-EXPIRED`` or
        ``OTP-WRONG`` (the message says how many tries are left), or ``OTP-BUSY`` when, three times over, the
        code was used up by other checks and sent again between this check's read and its try.
        """
        if (not isinstance(code, str) or len(code) != self._digits or not code.isascii()
                or not code.isdigit()):
            raise ValidationFailed(f"code must be exactly {self._digits} digits 0-9", field="code")
        for reads in range(4):  # a code used up, then sent again, before this check's try is read again
            now = self._clock.now()
            row = self._store.get(request_id)
            refusal = self._out_of_play(request_id, row, now)
            if refusal is not None:
                raise refusal
            if reads == 3:
                break
            attempt = self._store.try_code(request_id, self._mac(request_id, code), utc_timestamp(now))
            if attempt is None:  # expired, used up, confirmed or failed since the read
                continue
            if attempt.confirmed:
                return
            if attempt.left == 0:
                raise self._exhausted(request_id, now, wrong=True)
            left = attempt.left
            raise Refused(f"the code is wrong; {left} {'try' if left == 1 else 'tries'} left", rule="OTP-WRONG",
                          zh=f"验证码错误，还可尝试 {left} 次。", field="code")
        raise Refused("the code was used up and sent again while it was checked; try again", rule="OTP-BUSY",
                      zh="验证码已重新发送，请重试。", field="code")

    def _out_of_play(self, request_id: str, row: CodeRow | None, now: datetime) -> Refused | None:
        """Why ``row``'s code cannot be tried (none sent, confirmed, used up or expired), or None if it can."""
        if row is None:
            return self._none()
        if row.confirmed_at is not None:
            return self._confirmed()
        if row.failed_at is not None or row.tries_left <= 0:
            return self._exhausted(request_id, now)
        if now >= datetime.fromisoformat(row.expires_at):
            return self._expired()
        return None

    def _none(self) -> Refused:
        return Refused("no code was sent for this request; ask for one first", rule="OTP-NONE",
                       zh="该申请尚未发送验证码，请先获取验证码。", field="code")

    def _confirmed(self) -> Refused:
        return Refused("this request was already confirmed with its code", rule="OTP-CONFIRMED",
                       zh="该申请已通过验证码确认。", field="code")

    def _expired(self) -> Refused:
        return Refused("the code has expired; ask for a new one", rule="OTP-EXPIRED", zh="验证码已过期，请重新获取。",
                       field="code")

    def _exhausted(self, request_id: str, now: datetime, *, wrong: bool = False) -> Refused:
        self._store.mark_failed(request_id, utc_timestamp(now))  # only a code with no tries left
        if wrong:
            return Refused("the code is wrong and no tries are left; ask for a new one", rule="OTP-EXHAUSTED",
                           zh="验证码错误，尝试次数已用完，请重新获取。", field="code")
        return Refused("no tries are left for this code; ask for a new one", rule="OTP-EXHAUSTED",
                       zh="验证码尝试次数已用完，请重新获取。", field="code")

    def pending(self, limit: int = 100) -> list[dict[str, Any]]:
        """Messages for the messaging system to send, oldest first: codes still in play and not yet expired.

        Each carries its ``version``, which names the code it carries (a code sent again has another): the
        messaging system gives it back to ``delivered``."""
        rows = self._store.pending(limit, live_at=utc_timestamp(self._clock.now()))
        return [{"id": row.request_id, "version": _version(row.code_mac), "party": row.party, "channel": row.channel,
                 "message_zh": row.message_zh, "message_en": row.message_en, "created_at": row.created_at,
                 "expires_at": row.expires_at}
                for row in rows]

    def delivered(self, messages: Sequence[tuple[str, str]]) -> int:
        """Mark these messages, (request id, version) pairs from ``pending``, delivered (by the messaging system),
        wiping the code from them; returns how many changed. A message whose code was sent again since it was
        read is left alone: the new code, not yet delivered, keeps its message."""
        current = []
        for request_id, version in dict.fromkeys(messages):
            row = self._store.get(request_id)
            if row is not None and hmac.compare_digest(_version(row.code_mac).encode(), version.encode()):
                current.append((request_id, row.code_mac))
        return self._store.mark_delivered(current, utc_timestamp(self._clock.now()))

    def sweep(self) -> int:
        """Wipe the messages of codes that expired undelivered; returns how many (for a periodic job)."""
        return self._store.wipe_expired(utc_timestamp(self._clock.now()))

    def status(self, request_id: str) -> dict[str, Any] | None:
        """Where the request's code stands (channel, expiry, tries left, confirmed or failed time, delivery
        time), or None when none was issued; never the code or its HMAC."""
        row = self._store.get(request_id)
        if row is None:
            return None
        return {"channel": row.channel, "expires_at": row.expires_at, "tries_left": row.tries_left,
                "confirmed_at": row.confirmed_at, "failed_at": row.failed_at, "delivered_at": row.delivered_at}
