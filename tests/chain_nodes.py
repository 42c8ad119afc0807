"""Real EVM nodes for tests: ``hardhat node`` and ``anvil`` from node_modules, on free loopback ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HARDHAT = ROOT / "node_modules" / ".bin" / "hardhat"
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"


def rpc(url: str, method: str, *params: Any, timeout: float = 5) -> Any:
    """One JSON-RPC call; returns ``result`` or raises with the node's error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


class NodeProcess:
    """A node we start, wait for (``eth_chainId`` answers), and stop by PID; restartable."""

    def __init__(self, kind: str, port: int, workdir: Path) -> None:
        if kind not in ("hardhat", "anvil"):
            raise ValueError(kind)
        binary = HARDHAT if kind == "hardhat" else ANVIL
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: run `npm ci` (make test does)")
        self.kind = kind
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = workdir
        self.state = workdir / "anvil-state.json"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        if self.kind == "hardhat":
            return [str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(self.port)]
        # --state loads the chain from the file at start and writes it back at exit: a restart keeps the chain.
        return [str(ANVIL), "--host", "127.0.0.1", "--port", str(self.port), "--state", str(self.state),
                "--chain-id", "31337"]

    def start(self) -> None:
        log = (self.workdir / f"{self.kind}.log").open("ab")
        self.process = subprocess.Popen(self.command(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"})
        deadline = time.monotonic() + 90
        while True:
            try:
                rpc(self.url, "eth_chainId", timeout=2)
                return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} did not answer within 90 s; see {log.name}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the node (SIGINT, so anvil writes its state), killing it if it does not exit."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        self.process = None
