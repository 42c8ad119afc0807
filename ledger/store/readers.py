"""The store's reader pool: detached DBAPI connections kept for the hot reads (the log's size, proofs' nodes).

Those reads are single plain-SQL queries where SQLAlchemy's pool and statement handling would cost more than the
lookups themselves. ``ReaderPool.query`` takes an idle connection (or opens one), runs the query in autocommit so
no transaction stays open, and gives the connection back, keeping at most ``READERS_KEPT`` idle; one that raised is
closed, and one the server dropped takes the other idle ones with it and the read is tried once more. ``Store``
owns one pool and closes it with itself.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ledger.store.database import storage_error

READERS_KEPT = 8  # idle reader connections kept for the hot reads; more open under load and close when given back
READERS_MAX = 16  # reads at once (each on its own connection); more wait their turn, as on SQLAlchemy's pool


class ReaderPool:
    """Idle reader connections of one engine, taken for one query at a time. Thread-safe."""

    def __init__(self, engine: Engine, *, is_sqlite: bool) -> None:
        self._engine = engine
        self._is_sqlite = is_sqlite
        self._idle: deque[Any] = deque()  # idle detached DBAPI connections for the hot reads (proofs, size)
        self._lock = threading.Lock()  # guards giving back against close(); taking is one atomic pop
        self._closed = False
        self._slots = threading.BoundedSemaphore(READERS_MAX)

    def query(self, sql: str, params: Sequence[Any], *, doing: str = "reading the log") -> list[tuple[Any, ...]]:
        """Run one read on a pooled DBAPI connection (autocommit, so it holds no transaction open).

        The connection is taken for this query only and given back after; one that raised is closed instead. A
        pooled connection the server dropped (a restart, an idle timeout) takes the other idle ones with it, and
        the read is tried once more on a new connection. At most ``READERS_MAX`` reads run at once. Raises
        ``StorageError`` naming what was ``doing`` (details only in the log).
        """
        with self._slots:
            return self._query(sql, params, doing=doing)

    def _query(self, sql: str, params: Sequence[Any], *, doing: str) -> list[tuple[Any, ...]]:
        try:
            conn, pooled = self._idle.pop(), True
        except IndexError:
            conn, pooled = self._connect(), False
        while True:
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(sql, params)
                    rows = list(cursor.fetchall())
                finally:
                    cursor.close()
            except Exception as exc:
                retry = pooled and self._lost(exc, conn)  # asked before closing it, which would make it say yes
                _close_quietly(conn)
                if not retry:
                    raise storage_error(exc, doing=doing) from exc
                self._drop_idle()
                conn, pooled = self._connect(), False
                continue
            except BaseException:
                _close_quietly(conn)
                raise
            with self._lock:
                if not self._closed and len(self._idle) < READERS_KEPT:
                    self._idle.append(conn)
                    return rows
            _close_quietly(conn)
            return rows

    def close(self) -> None:
        """Close the idle connections; a read still running closes its own after, instead of giving it back."""
        with self._lock:
            self._closed = True
        self._drop_idle()

    def _lost(self, exc: Exception, conn: Any) -> bool:
        """Whether ``exc`` says the server dropped ``conn`` (SQLAlchemy's dialect knows each driver's signs)."""
        try:
            return bool(self._engine.dialect.is_disconnect(exc, conn.dbapi_connection, None))  # type: ignore[arg-type]
        except Exception:
            return False

    def _connect(self) -> Any:
        try:
            raw = self._engine.raw_connection()
        except SQLAlchemyError as exc:
            raise storage_error(exc, doing="connecting a reader") from exc
        raw.detach()  # ours until closed: the engine's pool forgets it, and dispose() leaves it to close()
        if not self._is_sqlite:
            try:
                raw.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            except Exception as exc:
                _close_quietly(raw)
                raise storage_error(exc, doing="connecting a reader") from exc
        return raw

    def _drop_idle(self) -> None:
        """Close the idle connections (a read in progress gives its own back, or closes it, after)."""
        while True:
            try:
                _close_quietly(self._idle.pop())
            except IndexError:
                return


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()
