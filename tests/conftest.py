"""Shared fixtures: real SQLite files, a throwaway PostgreSQL server, ledgers and registered system keys."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import Ledger
from ledger.clock import FixedClock
from ledger.crypto.keys import SigningKey
from ledger.settings import Settings
from tests.api.routes.servicing_helpers import START
from tests.factories import POLICY_ADMIN_SCOPE


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` as a module (scripts are not a package)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server: $LIFELEDGER_TEST_POSTGRES_URL, or a throwaway cluster started here."""
    given = os.environ.get("LIFELEDGER_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries are missing: run `make test` (it installs Debian's postgresql) "
                    "or set LIFELEDGER_TEST_POSTGRES_URL")
    root = Path(tempfile.mkdtemp(prefix="lifeledger-pg-"))
    port = free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                    "--no-sync"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


_pg_counter = 0


def fresh_pg_database(base_url: str) -> str:
    """Create a new empty database on the test server and return its URL."""
    import sqlalchemy

    global _pg_counter
    _pg_counter += 1
    name = f"ll_test_{os.getpid()}_{_pg_counter}_{int(time.time() * 1000) % 10**8}"
    engine = sqlalchemy.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def hardhat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``hardhat node`` for the whole session on a free loopback port; stopped by its PID at the end."""
    from tests.chain_nodes import NodeProcess

    node = NodeProcess("hardhat", free_port(), tmp_path_factory.mktemp("hardhat"))
    node.start()
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings on a fresh data dir; a PostgreSQL database when the test is parametrised with it."""
    url = None
    if "backend" in request.fixturenames and request.getfixturevalue("backend") == "postgresql":
        url = fresh_pg_database(request.getfixturevalue("postgres_url"))
    return Settings(data_dir=tmp_path / "data", database_url=url, checkpoint_interval=0.2, chain_url="none",
                    origin="test.lifeledger/log", render_workers=0)  # the worker pool has its own test


@contextlib.contextmanager
def started(settings: Settings) -> Iterator[Ledger]:
    """A ledger opened on ``settings`` and started, closed when the block ends."""
    opened = Ledger.open(settings)
    opened.start()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    with started(settings) as opened:
        yield opened


@pytest.fixture
def clock() -> FixedClock:
    """A clock that stands still at ``START`` until a test moves it."""
    return FixedClock(START)


@pytest.fixture
def hall(settings: Settings, clock: FixedClock) -> Iterator[tuple[TestClient, Ledger]]:
    """The real app over a ledger on ``clock`` (cooling-off periods, anniversaries and claim clocks are walked
    through by moving it)."""
    ledger = Ledger.open(settings, clock=clock)
    try:
        with TestClient(create_app(ledger=ledger)) as client:
            yield client, ledger
    finally:
        ledger.close()


@pytest.fixture
def system_key(ledger: Ledger) -> SigningKey:
    """A key registered for the system 'policy-admin'."""
    key = SigningKey.generate("policy-admin-1")
    ledger.keys.register(key_id=key.key_id, owner="policy-admin", public_key=key.public_key,
                         scope=POLICY_ADMIN_SCOPE)
    return key
