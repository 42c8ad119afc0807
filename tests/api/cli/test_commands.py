"""The command line, run for real: subprocesses for serve/demo/verify, Typer's runner for the rest."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, update
from typer.testing import CliRunner

from api.cli import app
from ledger.app import Ledger
from ledger.crypto.keys import LocalKeys, SigningKey
from ledger.log.encoding import b64
from ledger.settings import Settings
from ledger.store import schema as t
from tests.conftest import free_port
from tests.servers import LIFELEDGER, serving

runner = CliRunner()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIFELEDGER_CHECKPOINT_INTERVAL": "0.3"}
    return subprocess.run([*LIFELEDGER, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    # One process, whatever the machine: the other server tests run serve's default (one worker per CPU), and
    # tests/api/cli/test_serve_workers.py two workers.
    with serving(tmp_path / "data", WORKERS="1") as running:
        yield running.url, running.data


def test_demo_then_verify(server: tuple[str, Path]) -> None:
    url, data = server
    demo = cli("demo", "--events", "300", "--batch", "50", "--url", url, "--data-dir", str(data))
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "recorded 300 events, 0 rejected" in demo.stdout
    assert "verified in signed checkpoint" in demo.stdout
    assert httpx.get(f"{url}/healthz").json()["tree_size"] == 301
    verify = cli("verify", "--data-dir", str(data))
    assert verify.returncode == 0, verify.stderr
    assert "verify ok: 301 entries" in verify.stdout


def test_verify_fails_and_names_a_tampered_row(server: tuple[str, Path]) -> None:
    url, data = server
    assert cli("demo", "--events", "40", "--url", url, "--data-dir", str(data)).returncode == 0
    engine = create_engine(f"sqlite:///{data / 'ledger.db'}")
    with engine.begin() as conn:
        conn.execute(update(t.entries).where(t.entries.c.idx == 17).values(leaf_hash=bytes(32)))
    engine.dispose()
    verify = cli("verify", "--data-dir", str(data))
    assert verify.returncode == 1
    assert "entries[17]" in verify.stderr and "verify failed" in verify.stderr


def test_demo_without_a_server_or_keys_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    no_keys = cli("demo", "--events", "5", "--url", url, "--data-dir", str(tmp_path))
    assert no_keys.returncode == 2 and no_keys.stderr.count("\n") == 1
    assert no_keys.stderr.startswith(f"error: {tmp_path / 'keys'} holds no ledger keys")
    LocalKeys.load_or_create(tmp_path)
    result = cli("demo", "--events", "5", "--url", url, "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: no lifeledger answering at")


def test_keys_token_and_checkpoint_commands(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    missing = runner.invoke(app, ["checkpoint", "--data-dir", data])
    assert missing.exit_code == 2 and "no ledger data directory" in missing.output
    assert not Path(data).exists()  # cutting a checkpoint makes no ledger
    Ledger.open(Settings(data_dir=Path(data), chain_url="none")).close()
    empty = runner.invoke(app, ["checkpoint", "--data-dir", data])
    assert empty.exit_code == 2 and "log is empty" in empty.output
    generated = runner.invoke(app, ["keys", "generate", "--key-id", "crm-1", "--out", str(tmp_path / "crm.seed")])
    assert generated.exit_code == 0, generated.output
    public_key = generated.output.split("public_key ")[1].split()[0]
    assert (tmp_path / "crm.seed").stat().st_mode & 0o077 == 0
    again = runner.invoke(app, ["keys", "generate", "--key-id", "crm-1", "--out", str(tmp_path / "crm.seed")])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    unscoped = runner.invoke(app, ["keys", "register", "--key-id", "crm-1", "--owner", "crm",
                                   "--public-key", public_key, "--data-dir", data])
    assert unscoped.exit_code == 2 and "--type" in unscoped.output and "--stream" in unscoped.output
    scope = ["--type", "contact.*", "--type", "consent.recorded", "--stream", "customer"]
    registered = runner.invoke(app, ["keys", "register", "--key-id", "crm-1", "--owner", "crm",
                                     "--public-key", public_key, *scope, "--data-dir", data])
    assert registered.exit_code == 0 and "at entry 0" in registered.output, registered.output
    assert "consent.recorded, contact.*" in registered.output
    bad = runner.invoke(app, ["keys", "register", "--key-id", "crm-2", "--owner", "crm", "--public-key", "abc",
                              *scope, "--data-dir", data])
    assert bad.exit_code == 2 and "public_key" in bad.output
    weak = runner.invoke(app, ["keys", "register", "--key-id", "crm-3", "--owner", "crm",
                               "--public-key", "AQ" + "A" * 41 + "=", *scope, "--data-dir", data])
    assert weak.exit_code == 2 and "small-order point (order 1)" in weak.output, weak.output
    rescoped = runner.invoke(app, ["keys", "scope", "crm-1", "--type", "contact.updated", "--stream", "customer",
                                   "--data-dir", data])
    assert rescoped.exit_code == 0 and "contact.updated" in rescoped.output
    revoked = runner.invoke(app, ["keys", "revoke", "crm-1", "--reason", "rotated out", "--data-dir", data])
    assert revoked.exit_code == 0
    listed = runner.invoke(app, ["keys", "list", "--data-dir", data])
    assert "revoked" in listed.output and "checkpoint key: lifeledger.local/log+" in listed.output
    note = runner.invoke(app, ["checkpoint", "--data-dir", data])
    assert note.exit_code == 0 and note.output.startswith("lifeledger.local/log\n3\n")
    token = runner.invoke(app, ["token", "--role", "auditor", "--subject", "acme-audit", "--data-dir", data])
    assert token.exit_code == 0 and token.stdout.strip().count(".") == 2
    assert f"token signed with the key in {Path(data).resolve() / 'keys'}" in token.stderr
    elsewhere = tmp_path / "elsewhere"
    refused = runner.invoke(app, ["token", "--role", "auditor", "--subject", "a", "--data-dir", str(elsewhere)])
    assert refused.exit_code == 2 and "holds no ledger keys" in refused.output
    assert not elsewhere.exists()  # no keys were made on the way
    wrong_role = runner.invoke(app, ["token", "--role", "pope", "--subject", "x", "--data-dir", data])
    assert wrong_role.exit_code == 2


def test_outside_checker_script_against_a_live_log(server: tuple[str, Path], tmp_path: Path) -> None:
    url, data = server
    assert cli("demo", "--events", "20", "--url", url, "--data-dir", str(data)).returncode == 0
    script = [sys.executable, str(Path(__file__).resolve().parents[3] / "scripts" / "check_log.py"), "--url", url]
    saved = tmp_path / "checkpoint.txt"
    first = subprocess.run([*script, "--entry", "0", "--entry", "20", "--save", str(saved)], capture_output=True,
                           text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "entry 20 ok: included in the tree of 21" in first.stdout
    assert cli("demo", "--events", "15", "--url", url, "--data-dir", str(data)).returncode == 0
    later = subprocess.run([*script, "--since", str(saved)], capture_output=True, text=True, timeout=60)
    assert later.returncode == 0, later.stderr
    assert "consistency ok: the tree of 37 extends the saved tree of 21" in later.stdout
    forged = saved.read_text().replace("\n21\n", "\n22\n")
    saved.write_text(forged)
    rejected = subprocess.run([*script, "--since", str(saved)], capture_output=True, text=True, timeout=60)
    assert rejected.returncode == 1 and "signature does not verify" in rejected.stderr


def test_outside_audit_without_keys_or_master_key(server: tuple[str, Path], tmp_path: Path) -> None:
    url, data = server
    assert cli("demo", "--events", "30", "--url", url, "--data-dir", str(data)).returncode == 0
    # The key's whole life is published evidence: its scope changed, rotated to a successor that is revoked.
    (demo_key,) = httpx.get(f"{url}/v1/log/key").json()["system_keys"]
    successor = b64(SigningKey.generate("successor").public_key)
    for change in (["scope", demo_key["key_id"], "--type", "policy.*", "--stream", "policy"],
                   ["rotate", demo_key["key_id"], "--key-id", "successor", "--public-key", successor],
                   ["revoke", "successor", "--reason", "compromised"]):
        done = cli("keys", *change, "--data-dir", str(data))
        assert done.returncode == 0, done.stderr
    vkey = httpx.get(f"{url}/v1/log/key").json()["vkey"]
    time.sleep(0.5)  # a checkpoint covering the key events (the server cuts one every 0.3 s)
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(httpx.get(f"{url}/v1/log/checkpoint").text)
    database = f"sqlite:///{data / 'ledger.db'}"
    audited = cli("audit", "--database-url", database, "--vkey", vkey, "--evidence-from", url,
                  "--checkpoint", str(saved))
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert "audit ok: 34 entries" in audited.stdout and "1 saved checkpoints held" in audited.stdout
    blind = cli("audit", "--database-url", database, "--vkey", vkey)
    # no key history: signatures cannot be proven
    assert blind.returncode == 1 and "cannot be checked: its registration is sealed" in blind.stderr
    wrong = cli("audit", "--database-url", database, "--vkey", "other.example/log+00000000+AQ==")
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: ")

    # A log that cannot be read is no finding about the copy: the audit did not run (exit 2), whatever it met.
    nobody = cli("audit", "--database-url", database, "--vkey", vkey, "--evidence-from", f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode == 2 and "cannot read the key events" in nobody.stderr, nobody.stderr
    with failing_log() as broken:
        half = cli("audit", "--database-url", database, "--vkey", vkey, "--evidence-from", broken)
    assert half.returncode == 2, half.stdout + half.stderr
    assert "the audit could not be run: cannot read key event 0" in half.stderr and "answered 500" in half.stderr
    assert "audit failed" not in half.stdout + half.stderr


@contextlib.contextmanager
def failing_log() -> Iterator[str]:
    """A log that lists its keys but fails every key event with a 500."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            listing = self.path == "/v1/log/key"
            body = json.dumps({"system_keys": []}).encode() if listing else b"{}"
            self.send_response(200 if listing else 500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
