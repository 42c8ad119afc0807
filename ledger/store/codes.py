"""Storage of one-time confirmation codes: their keyed hashes, tries left, and the outbox of messages carrying them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, not_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from ledger.store import schema as t
from ledger.store.database import storage_error
from ledger.store.locking import WriteLock

_codes = t.servicing_codes


@dataclass(frozen=True)
class CodeRow:
    """One request's code: its HMAC (never the code), what is left of it, and the message that carries it.

    ``message_zh`` / ``message_en`` hold the plain code until the message is delivered or the code is used up,
    then they are None. Times are RFC 3339 UTC text as written by ``utc_timestamp``.
    """

    request_id: str
    party: str
    channel: str
    code_mac: bytes
    tries_left: int
    expires_at: str
    created_at: str
    message_zh: str | None
    message_en: str | None
    delivered_at: str | None = None
    confirmed_at: str | None = None
    failed_at: str | None = None


@dataclass(frozen=True)
class Attempt:
    """What one check of a code did: the tries left after it, and whether it confirmed the request."""

    left: int
    confirmed: bool


def _row(found: Any) -> CodeRow:
    return CodeRow(request_id=found.request_id, party=found.party, channel=found.channel,
                   code_mac=bytes(found.code_mac), tries_left=int(found.tries_left), expires_at=found.expires_at,
                   created_at=found.created_at, message_zh=found.message_zh, message_en=found.message_en,
                   delivered_at=found.delivered_at, confirmed_at=found.confirmed_at, failed_at=found.failed_at)


# A code still in play: neither used to confirm nor given up on.
_LIVE = (_codes.c.confirmed_at.is_(None), _codes.c.failed_at.is_(None))
_WIPED = {"message_zh": None, "message_en": None}


class CodeStore:
    """The ``servicing_codes`` table. Every change is one statement, so concurrent checks cannot overspend or race."""

    def __init__(self, engine: Engine, *, write_lock: WriteLock | None = None) -> None:
        self._engine = engine
        self._write_lock = write_lock  # the journal writer's, on SQLite (see WriterSession)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction, taken in turn with the journal writer on SQLite."""
        if self._write_lock is None:
            with self._engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self._engine.begin() as conn:
            yield conn

    def put(self, row: CodeRow) -> bool:
        """Store a request's code, replacing the one sent before unless that one already confirmed the request.

        Returns False (and changes nothing) when the request's code was already used to confirm it. Raises
        ``StorageError`` when the database fails.
        """
        values = {"request_id": row.request_id, "party": row.party, "channel": row.channel,
                  "code_mac": row.code_mac, "tries_left": row.tries_left, "expires_at": row.expires_at,
                  "created_at": row.created_at, "message_zh": row.message_zh, "message_en": row.message_en,
                  "delivered_at": row.delivered_at, "confirmed_at": row.confirmed_at, "failed_at": row.failed_at}
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        inserting = insert(_codes).values(values)
        upsert = inserting.on_conflict_do_update(
            index_elements=["request_id"],
            set_={name: inserting.excluded[name] for name in values if name != "request_id"},
            where=_codes.c.confirmed_at.is_(None)).returning(_codes.c.request_id)
        try:
            with self._writing() as conn:  # a row comes back only when one was written (rowcount varies by driver)
                return conn.execute(upsert).first() is not None
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="storing a one-time code") from exc

    def get(self, request_id: str) -> CodeRow | None:
        try:
            with self._engine.connect() as conn:
                found = conn.execute(select(_codes).where(_codes.c.request_id == request_id)).first()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading a one-time code") from exc
        return None if found is None else _row(found)

    def try_code(self, request_id: str, code_mac: bytes, at: str) -> Attempt | None:
        """Spend one try of a code still in play and compare it, in one statement: the try, the comparison and
        its outcome (confirmed when ``code_mac`` is the code's, failed when it is not and that was the last try,
        the message texts wiped either way) are one change, so concurrent checks are taken one after another.

        Returns None, changing nothing, when no try could be taken: no code, none left, the code expired by
        ``at``, or confirmed or failed already. Raises ``StorageError`` when the database fails.
        """
        # The comparison is of keyed hashes: how far two of them agree says nothing about the code without the key.
        right = _codes.c.code_mac == code_mac
        last = _codes.c.tries_left == 1
        ends = or_(right, last)
        statement = (update(_codes)
                     .where(_codes.c.request_id == request_id, _codes.c.tries_left > 0, _codes.c.expires_at > at,
                            *_LIVE)
                     .values(tries_left=_codes.c.tries_left - 1,
                             confirmed_at=case((right, at), else_=None),
                             failed_at=case((and_(not_(right), last), at), else_=None),
                             message_zh=case((ends, None), else_=_codes.c.message_zh),
                             message_en=case((ends, None), else_=_codes.c.message_en))
                     .returning(_codes.c.tries_left, _codes.c.confirmed_at))
        try:
            with self._writing() as conn:
                found = conn.execute(statement).first()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="checking a one-time code") from exc
        return None if found is None else Attempt(left=int(found.tries_left), confirmed=found.confirmed_at is not None)

    def mark_failed(self, request_id: str, at: str) -> bool:
        """Give up on a code still in play whose tries are used up, and wipe its message texts; returns whether
        one was. A code sent again meanwhile has its tries and is left alone."""
        statement = (update(_codes).where(_codes.c.request_id == request_id, _codes.c.tries_left <= 0, *_LIVE)
                     .values(failed_at=at, **_WIPED))
        try:
            with self._writing() as conn:
                return bool(conn.execute(statement).rowcount)
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="failing a one-time code") from exc

    def pending(self, limit: int, *, live_at: str | None = None) -> list[CodeRow]:
        """Messages not yet delivered whose codes are still in play, oldest first, at most ``limit``; with
        ``live_at``, only codes that expire after that time."""
        query = (select(_codes)
                 .where(_codes.c.delivered_at.is_(None), _codes.c.message_zh.is_not(None), *_LIVE)
                 .order_by(_codes.c.created_at, _codes.c.request_id).limit(limit))
        if live_at is not None:
            query = query.where(_codes.c.expires_at > live_at)
        try:
            with self._engine.connect() as conn:
                return [_row(found) for found in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="reading one-time code messages") from exc

    def mark_delivered(self, messages: Sequence[tuple[str, bytes]], at: str) -> int:
        """Record that the messages of these (request id, code HMAC) pairs were delivered and wipe their texts;
        returns how many changed. A message delivered before, or whose code was replaced since (another HMAC),
        is left as it is: the code sent again was not delivered by this."""
        wanted = sorted(set(messages))
        if not wanted:
            return 0
        statement = (update(_codes)
                     .where(_codes.c.request_id == bindparam("rid"), _codes.c.code_mac == bindparam("mac"),
                            _codes.c.delivered_at.is_(None))
                     .values(delivered_at=at, **_WIPED))
        changed = 0
        try:
            with self._writing() as conn:
                for request_id, code_mac in wanted:
                    changed += int(conn.execute(statement, {"rid": request_id, "mac": code_mac}).rowcount)
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="marking one-time code messages delivered") from exc
        return changed

    def wipe_expired(self, at: str) -> int:
        """Wipe the message texts of codes that expired by ``at`` (no longer worth sending); returns how many."""
        statement = (update(_codes).where(_codes.c.expires_at <= at, _codes.c.message_zh.is_not(None))
                     .values(**_WIPED))
        try:
            with self._writing() as conn:
                return int(conn.execute(statement).rowcount)
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="wiping expired one-time code messages") from exc
