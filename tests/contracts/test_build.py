"""Offline compilation: the solc wrapper, and artifacts that a fresh compile reproduces byte for byte."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_contracts.py"
WRAPPER = ROOT / "tools" / "solc" / "solc"

pytestmark = [
    pytest.mark.hardhat,
]


@pytest.fixture(scope="module")
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_contracts", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_artifacts_match_a_fresh_compile():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "artifacts match a fresh compile" in done.stdout


def test_artifacts_record_the_pinned_compiler_and_sources(build: ModuleType):
    config = json.loads((ROOT / "contracts" / "compiler.json").read_text())
    for name in ("LedgerAnchor", "DocumentRegistry"):
        artifact = json.loads((ROOT / "ledger" / "artifacts" / f"{name}.json").read_text())
        assert artifact["compiler"]["version"].startswith(config["version"] + "+commit.")
        settings = {"evmVersion": config["evmVersion"], "optimizer": config["optimizer"]}
        assert artifact["compiler"]["settings"] == settings
        assert f"contracts/{name}.sol" in artifact["sources"]
        assert "@openzeppelin/contracts/access/AccessControl.sol" in artifact["sources"]
        metadata = json.loads(artifact["metadata"])
        assert metadata["settings"]["evmVersion"] == config["evmVersion"]
        assert metadata["settings"]["optimizer"] == config["optimizer"]
        assert len(artifact["bytecode"]) > len(artifact["deployedBytecode"]) > 2


def test_check_reports_missing_stale_and_unexpected_artifacts(build: ModuleType, tmp_path: Path):
    root = tmp_path / "project"
    shutil.copytree(ROOT / "contracts", root / "contracts")
    shutil.copytree(ROOT / "tools", root / "tools")
    (root / "node_modules").symlink_to(ROOT / "node_modules")
    written = build.write(root)
    assert sorted(path.name for path in written) == ["DocumentRegistry.json", "LedgerAnchor.json"]
    for path in written:
        assert path.read_text() == (ROOT / "ledger" / "artifacts" / path.name).read_text()

    artifacts = root / "ledger" / "artifacts"
    tampered = json.loads((artifacts / "LedgerAnchor.json").read_text())
    tampered["bytecode"] = tampered["bytecode"][:-2] + "00"
    (artifacts / "LedgerAnchor.json").write_text(build.render(tampered))
    (artifacts / "DocumentRegistry.json").unlink()
    (artifacts / "Leftover.json").write_text("{}\n")
    assert build.differences(root) == [
        "ledger/artifacts/DocumentRegistry.json: missing",
        "ledger/artifacts/LedgerAnchor.json: differs from a fresh compile",
        "ledger/artifacts/Leftover.json: not produced by the sources",
    ]


def test_missing_toolchain_is_one_clear_line(build: ModuleType, tmp_path: Path):
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    with pytest.raises(build.BuildError, match=r"node_modules/solc is missing: run `npm ci`"):
        build.compile_artifacts(tmp_path)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: node is not on PATH: install Node.js 20 or newer, then run `npm ci`"
    ]


def test_wrapper_answers_version_like_native_solc():
    done = subprocess.run([str(WRAPPER), "--version"], capture_output=True, text=True, timeout=60, check=True)
    lines = done.stdout.splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert lines[1].startswith("Version: 0.8.28+commit.")


def test_wrapper_writes_large_outputs_whole_through_a_pipe():
    source = "contract C%d { function f(uint x) external pure returns (uint) { return x * %d; } }"
    sources = {f"c{i}.sol": {"content": "pragma solidity 0.8.28;\n" + source % (i, i)} for i in range(40)}
    request = {
        "language": "Solidity",
        "sources": sources,
        "settings": {"outputSelection": {"*": {"*": ["abi", "evm.bytecode", "evm.deployedBytecode"]}}},
    }
    done = subprocess.run(
        [str(WRAPPER), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert len(done.stdout) > 4 * 65536
    output = json.loads(done.stdout)
    assert len(output["contracts"]) == 40
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"]


def test_wrapper_resolves_packages_and_refuses_files_outside_the_project():
    request = {
        "language": "Solidity",
        "sources": {
            "ok.sol": {"content": 'pragma solidity 0.8.28;\nimport "@openzeppelin/contracts/utils/Pausable.sol";'},
            "bad.sol": {"content": 'pragma solidity 0.8.28;\nimport "/etc/hostname";'},
        },
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    done = subprocess.run(
        [str(WRAPPER), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    errors = [e["formattedMessage"] for e in json.loads(done.stdout)["errors"] if e["severity"] == "error"]
    assert len(errors) == 1 and "/etc/hostname" in errors[0] and "outside of allowed directories" in errors[0]
