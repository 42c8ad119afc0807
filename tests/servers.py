"""A real ``lifeledger serve`` process on a free loopback port, for tests that need the whole server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import free_port

LIFELEDGER = [sys.executable, "-m", "api.cli"]


@dataclass
class Server:
    url: str
    data: Path
    process: subprocess.Popen[str]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None


@contextmanager
def serving(data: Path, *, chain: str = "none", startup: float = 90.0, **env: str) -> Iterator[Server]:
    """Start ``lifeledger serve`` on ``data`` and wait until ``/healthz`` answers; stop it afterwards.

    ``env`` adds ``LIFELEDGER_*`` settings (keys without the prefix, e.g. ``CHECKPOINT_INTERVAL="0.3"``).
    """
    port = free_port()
    environment = {**os.environ, "LIFELEDGER_CHECKPOINT_INTERVAL": "0.3", "LIFELEDGER_CHAIN_URL": chain,
                   **{f"LIFELEDGER_{name}": value for name, value in env.items()}}
    data.parent.mkdir(parents=True, exist_ok=True)
    log = data.parent / f"serve-{port}.log"  # a file, not a pipe: a full pipe would stall the server's logging
    with log.open("w") as output:
        process = subprocess.Popen([*LIFELEDGER, "serve", "--port", str(port), "--data-dir", str(data)],
                                   env=environment, stdout=output, stderr=subprocess.STDOUT, text=True,
                                   cwd=Path(__file__).resolve().parents[1])
    server = Server(url=f"http://127.0.0.1:{port}", data=data, process=process, log=log)
    try:
        deadline = time.monotonic() + startup
        while True:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"server did not start: {log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
