"""Keys registered before key scopes (tests/data/legacy-v1) may write anything: flagged at open, in `keys list` and
when the server starts, until `keys scope` gives them one."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from ledger.app import Ledger
from ledger.settings import Settings
from tests.servers import serving

runner = CliRunner()
LEGACY = Path(__file__).resolve().parents[2] / "data" / "legacy-v1"
ORIGIN = "legacy.lifeledger/log"
KEY = "policy-admin-2025"  # registered at entry 0, before keys had scopes
ENV = {"LIFELEDGER_ORIGIN": ORIGIN, "LIFELEDGER_CHAIN_URL": "none", "COLUMNS": "250"}
MARKER = "scope: none (legacy, may write anything)"


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    data = tmp_path / "legacy"
    shutil.copytree(LEGACY, data)
    return data


def unscoped_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno == logging.WARNING and "no scope" in
            record.getMessage()]


def test_opening_names_the_unscoped_keys_and_the_command_once(legacy: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=legacy, chain_url="none", origin=ORIGIN)
    with caplog.at_level(logging.WARNING, logger="ledger"):
        Ledger.open(settings).close()  # as the service opens it: migrated to this version's schema
    [warning] = unscoped_warnings(caplog)
    assert warning.name == "ledger.app"
    assert KEY in warning.getMessage() and "lifeledger keys scope" in warning.getMessage()


def test_keys_list_marks_an_unscoped_key_until_it_is_given_a_scope(legacy: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    refused = runner.invoke(app, ["keys", "list", "--data-dir", str(legacy)], env=ENV)
    assert refused.exit_code == 2  # not migrated by a command that only reads
    assert "is at schema revision 0004" in refused.stderr and "lifeledger serve" in refused.stderr
    Ledger.open(Settings(data_dir=legacy, chain_url="none", origin=ORIGIN)).close()  # the service migrates it
    listed = runner.invoke(app, ["keys", "list", "--data-dir", str(legacy)], env=ENV)
    assert listed.exit_code == 0, listed.output
    assert MARKER in listed.stdout
    [warning] = listed.stderr.splitlines()
    assert warning.startswith(f"warning: {KEY}: no scope") and "lifeledger keys scope" in warning
    scoped = runner.invoke(app, ["keys", "scope", KEY, "--type", "policy.*", "--type", "premium.*",
                                 "--stream", "policy", "--data-dir", str(legacy)], env=ENV)
    assert scoped.exit_code == 0, scoped.output
    listed = runner.invoke(app, ["keys", "list", "--data-dir", str(legacy)], env=ENV)
    assert listed.exit_code == 0 and listed.stderr == ""
    assert "scope: none" not in listed.stdout and "policy.*, premium.* on streams of kind policy" in listed.stdout
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ledger"):
        Ledger.open(Settings(data_dir=legacy, chain_url="none", origin=ORIGIN), create=False).close()
    assert unscoped_warnings(caplog) == []


def test_the_server_warns_once_on_one_line_as_it_starts(legacy: Path) -> None:
    with serving(legacy, ORIGIN=ORIGIN) as server:
        pass
    lines = [line for line in server.log.read_text().splitlines() if "no scope" in line]
    assert len(lines) == 1 and lines[0].startswith("WARNING") and KEY in lines[0], server.log.read_text()
