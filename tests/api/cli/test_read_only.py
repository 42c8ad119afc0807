"""Commands that only read make nothing, and every expected failure is one line on stderr with a non-zero exit."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from ledger.app import Ledger
from ledger.crypto.keys import LocalKeys, SigningKey
from ledger.settings import Settings
from tests.factories import POLICY_ADMIN_SCOPE
from tests.servers import LIFELEDGER

runner = CliRunner()
LEGACY = Path(__file__).resolve().parents[2] / "data" / "legacy-v1"
VERBOSE_HINT = "--verbose"

# Commands that read a ledger, or change one that must already be there: none may make a ledger on the way
# (`token` never did: test_commands.py holds it to that).
NEEDS_A_LEDGER = [
    ["verify"],
    ["keys", "list"],
    ["checkpoint"],
    ["keys", "scope", "crm-1", "--type", "contact.*", "--stream", "customer"],
    ["keys", "revoke", "crm-1", "--reason", "gone"],
]


def one_line_error(stderr: str) -> str:
    """The only line of ``stderr``, which must be an ``error:`` line."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command line in a process of its own: what a terminal would show, logging included."""
    return subprocess.run([*LIFELEDGER, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LIFELEDGER_CHAIN_URL": "none", **env})


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: its modification time and bytes."""
    return {str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.read_bytes())
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("command", NEEDS_A_LEDGER, ids=" ".join)
def test_a_missing_data_dir_is_named_and_not_made(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "nowhere"
    result = runner.invoke(app, [*command, "--data-dir", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in one_line_error(result.stderr)
    assert not missing.exists()


@pytest.mark.parametrize("command", NEEDS_A_LEDGER, ids=" ".join)
def test_an_empty_data_dir_stays_empty(tmp_path: Path, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'keys'} holds no ledger keys" in one_line_error(result.stderr)
    assert list(tmp_path.iterdir()) == []  # no keys, no database


def test_keys_without_a_database_make_no_database(tmp_path: Path) -> None:
    LocalKeys.load_or_create(tmp_path)
    before = snapshot(tmp_path)
    for command in (["verify"], ["keys", "list"]):
        result = runner.invoke(app, [*command, "--data-dir", str(tmp_path)])
        assert result.exit_code == 2
        assert f"no ledger database at {tmp_path / 'ledger.db'}" in one_line_error(result.stderr)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", NEEDS_A_LEDGER, ids=" ".join)
def test_an_empty_database_file_is_refused_and_left_empty(tmp_path: Path, command: list[str]) -> None:
    """An empty file is not a ledger: a command that only reads must not make it one (migrate it, claim it)."""
    LocalKeys.load_or_create(tmp_path)
    (tmp_path / "ledger.db").write_bytes(b"")
    result = runner.invoke(app, [*command, "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert f"no lifeledger database at {tmp_path / 'ledger.db'}" in one_line_error(result.stderr)
    assert (tmp_path / "ledger.db").read_bytes() == b""


@pytest.mark.parametrize("command", [["keys", "list"], ["verify"],
                                     ["keys", "register", "--key-id", "crm-1", "--owner", "crm", "--public-key",
                                      "A" * 43 + "=", "--type", "*", "--stream", "*"]], ids=" ".join)
def test_a_data_dir_that_is_a_file_is_one_line_naming_it(tmp_path: Path, command: list[str]) -> None:
    a_file = tmp_path / "ledger-here"
    a_file.write_text("not a folder")
    for data_dir in (a_file, a_file / "below"):
        result = run(*command, "--data-dir", str(data_dir))
        assert result.returncode == 2, result.stderr
        assert str(data_dir) in one_line_error(result.stderr)
    assert a_file.read_text() == "not a folder"


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[tuple[Path, tuple[str, ...]]]:
    """A folder no new folder can be made in, and the reasons the system may give: read-only by its mode, or (for
    root, whom modes do not stop) a kernel file system that refuses new folders (sysfs, else procfs)."""
    if os.geteuid() == 0:
        if Path("/sys/kernel").is_dir():
            yield Path("/sys/kernel"), ("Operation not permitted", "Permission denied")
        else:
            yield Path("/proc"), ("No such file or directory", "Operation not permitted", "Permission denied")
        return
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        yield locked, ("Permission denied",)
    finally:
        locked.chmod(0o700)


def test_a_data_dir_that_cannot_be_made_is_one_line_naming_it(unwritable: tuple[Path, tuple[str, ...]]) -> None:
    folder, reasons = unwritable
    data_dir = folder / "lifeledger-test-data"
    result = run("keys", "register", "--key-id", "crm-1", "--owner", "crm", "--public-key", "A" * 43 + "=",
                 "--type", "*", "--stream", "*", "--data-dir", str(data_dir))
    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert f"cannot make the data directory {data_dir}" in line
    assert line.endswith(reasons)
    assert not data_dir.exists()


def test_a_database_error_is_one_line_and_the_driver_speaks_only_when_asked(tmp_path: Path) -> None:
    LocalKeys.load_or_create(tmp_path)
    (tmp_path / "ledger.db").write_bytes(b"not a database, " * 512)
    result = run("verify", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert "failed in the database" in line and VERBOSE_HINT in line and "Traceback" not in result.stderr
    verbose = run("--verbose", "verify", "--data-dir", str(tmp_path))
    assert verbose.returncode == 2
    assert "file is not a database" in verbose.stderr and "Traceback" in verbose.stderr
    assert verbose.stderr.splitlines()[-1].startswith("error: ")


def test_a_malformed_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    result = run("keys", "list", "--data-dir", str(tmp_path), LIFELEDGER_ORIGIN="two words")
    assert result.returncode == 2
    assert one_line_error(result.stderr).startswith("error: LIFELEDGER_ORIGIN: ")


def _ledger_with_a_key(data: Path) -> str:
    """A ledger at ``data`` holding a key registration and a checkpoint, closed; returns its verifier key."""
    ledger = Ledger.open(Settings(data_dir=data, chain_url="none", origin="test.lifeledger/log"))
    ledger.start()
    try:
        key = SigningKey.generate("policy-admin-1")
        ledger.keys.register(key_id=key.key_id, owner="policy-admin", public_key=key.public_key,
                             scope=POLICY_ADMIN_SCOPE)
        assert ledger.log.checkpoint_now() is not None
        return ledger.log.vkey
    finally:
        ledger.close()


def data_files(folder: Path) -> dict[str, tuple[int, bytes]]:
    """``snapshot`` without what a reader of a WAL database may create beside it and which holds no data: the
    ``-shm`` index and an empty ``-wal`` file. The database and a ``-wal`` file holding commits must not change."""
    return {name: found for name, found in snapshot(folder).items()
            if not name.endswith("-shm") and not (name.endswith("-wal") and not found[1])}


def test_audit_reads_a_copy_and_writes_nothing_to_it(tmp_path: Path) -> None:
    vkey = _ledger_with_a_key(tmp_path / "data")
    copy = tmp_path / "co#py %41"  # characters a SQLite URI would read as a fragment and an escape
    copy.mkdir()
    (copy / "ledger.db").write_bytes((tmp_path / "data" / "ledger.db").read_bytes())
    before = data_files(copy)
    audited = run("audit", "--database-url", f"sqlite:///{copy / 'ledger.db'}", "--vkey", vkey)
    assert audited.returncode == 0, audited.stderr
    assert "audit ok: 1 entries, 1 checkpoints" in audited.stdout
    assert data_files(copy) == before
    # VACUUM INTO makes a copy in rollback-journal mode: audited as it is, its header left alone.
    with sqlite3.connect(copy / "ledger.db") as conn:
        conn.execute(f"VACUUM INTO '{copy / 'vacuumed.db'}'")
    before = data_files(copy)
    vacuumed = run("audit", "--database-url", f"sqlite:///{copy / 'vacuumed.db'}", "--vkey", vkey)
    assert vacuumed.returncode == 0, vacuumed.stderr
    assert "audit ok: 1 entries, 1 checkpoints" in vacuumed.stdout
    assert data_files(copy) == before


def test_audit_of_a_copy_with_a_live_wal_file_leaves_both_files_alone(tmp_path: Path) -> None:
    """Committed rows still in the ``-wal`` file are read, and closing does not fold them into the database."""
    vkey = _ledger_with_a_key(tmp_path / "data")
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "ledger.db").write_bytes((tmp_path / "data" / "ledger.db").read_bytes())
    holder = sqlite3.connect(copy / "ledger.db")  # keeps the WAL file from being folded in when it closes
    holder.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the WAL as a reader
    writer = sqlite3.connect(copy / "ledger.db")
    writer.execute("CREATE TABLE scratch (x)")  # a committed write that stays in the -wal file
    writer.commit()
    writer.close()
    live = tmp_path / "live"
    live.mkdir()
    for name in ("ledger.db", "ledger.db-wal"):
        (live / name).write_bytes((copy / name).read_bytes())
    holder.close()
    assert (live / "ledger.db-wal").stat().st_size > 0
    before = data_files(live)
    audited = run("audit", "--database-url", f"sqlite:///{live / 'ledger.db'}", "--vkey", vkey)
    assert audited.returncode == 0, audited.stderr
    assert data_files(live) == before


def test_audit_refuses_a_database_at_an_older_schema_revision_and_leaves_it_alone(tmp_path: Path) -> None:
    copy = tmp_path / "legacy.db"
    copy.write_bytes((LEGACY / "ledger.db").read_bytes())
    before = data_files(tmp_path)
    vkey = "legacy.lifeledger/log+8ae40448+AY4YjpzDNkLHEFTtuHUi/8wktNU/2PEAGL1DvVErHX3t"
    result = run("audit", "--database-url", f"sqlite:///{copy}", "--vkey", vkey)
    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert f"{copy} is at schema revision 0004" in line and "never migrates" in line
    assert data_files(tmp_path) == before


@pytest.mark.parametrize("content", [b"", b"plain text, not a database"], ids=["empty", "text"])
def test_audit_of_a_missing_or_foreign_file_makes_and_changes_nothing(tmp_path: Path, content: bytes) -> None:
    vkey = "legacy.lifeledger/log+8ae40448+AY4YjpzDNkLHEFTtuHUi/8wktNU/2PEAGL1DvVErHX3t"
    missing = tmp_path / "gone" / "ledger.db"
    result = run("audit", "--database-url", f"sqlite:///{missing}", "--vkey", vkey)
    assert result.returncode == 2
    assert f"no database at {missing}" in one_line_error(result.stderr)
    assert not missing.parent.exists()
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(content)
    result = run("audit", "--database-url", f"sqlite:///{foreign}", "--vkey", vkey)
    assert result.returncode == 2
    assert f"{foreign} is not a SQLite database" in one_line_error(result.stderr)
    assert foreign.read_bytes() == content and sorted(p.name for p in tmp_path.iterdir()) == ["foreign.db"]
