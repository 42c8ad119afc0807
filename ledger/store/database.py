"""The database connection: SQLite (WAL) by default, PostgreSQL by URL; driver errors wrapped where they arise."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, QueuePool, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from ledger.errors import StorageError

log = logging.getLogger(__name__)


def storage_error(exc: BaseException, *, doing: str = "database operation") -> StorageError:
    """Log a driver or internal failure in full and return an error safe to show a caller.

    The caller sees only a reference; the statement, its parameters (other callers' rows) and the driver's
    message stay in the server log.
    """
    reference = uuid.uuid4().hex[:12]
    log.error("%s failed (ref %s): %s: %s", doing, reference, type(exc).__name__, exc)
    return StorageError(f"{doing} failed in the database (ref {reference}); the server log has the details")


def _sqlite_setup(engine: Engine, *, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun explicitly below
        cursor = dbapi_connection.cursor()
        if not read_only:  # switching to WAL rewrites the header of a rollback-journal database
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def sqlite_path(url: str) -> str:
    """The file a ``sqlite:///`` URL names (empty or ``:memory:`` for an in-memory database)."""
    return url.split("///", 1)[-1].split("?", 1)[0]


def create(url: str, *, read_only: bool = False) -> Engine:
    """An engine for ``url`` with a pool sized for one writer and a few readers.

    ``read_only`` opens an existing database without changing a byte of it (an audited copy): a SQLite file is
    opened with ``mode=ro`` (so a missing file is an error, not a new database, and its journal mode is left as
    it is; SQLite may still create or refresh the ``-shm`` index beside it), and PostgreSQL sessions default to
    read-only transactions.
    """
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if read_only:
            # A URI names the file, each character that means something in a URI ('#', '%', '?') escaped.
            uri = f"file:{quote(path)}?mode=ro"
            engine = create_engine("sqlite://", poolclass=QueuePool, pool_size=8, max_overflow=8,
                                   creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10))
            _sqlite_setup(engine, read_only=True)
            return engine
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               pool_size=8, max_overflow=8)
        _sqlite_setup(engine, read_only=read_only)
        return engine
    engine = create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    if read_only:
        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            # Set per session, not through the URL's ``options`` (which it would replace): every transaction of
            # this engine is read-only.
            cursor = dbapi_connection.cursor()
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cursor.close()
            dbapi_connection.commit()
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision. Raises ``StorageError`` (details only in the log)."""
    from ledger.store.migrate import upgrade

    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        raise storage_error(exc, doing="migrating the database") from exc
