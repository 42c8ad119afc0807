#!/usr/bin/env python3
"""Compile the Solidity contracts offline and write the committed artifacts in ``ledger/artifacts/``.

The compiler is the npm ``solc`` package driven through ``tools/solc/solc`` (a solc-compatible wrapper), so
py-solc-x works without downloading a native compiler. Compiler version, optimizer and EVM version come from
``contracts/compiler.json``, the file ``hardhat.config.js`` reads too.

Usage::

    python scripts/build_contracts.py           # (re)write ledger/artifacts/*.json
    python scripts/build_contracts.py --check   # compile in memory; exit 1 if the artifacts differ

Exit status: 0 on success, 1 if ``--check`` found a difference, 2 if the toolchain is missing or the
compilation failed (one line on stderr says why).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = "contracts"
ARTIFACTS_DIR = Path("ledger") / "artifacts"
COMPILER_CONFIG = Path(CONTRACTS_DIR) / "compiler.json"
SOLC_WRAPPER = Path("tools") / "solc" / "solc"
ARTIFACT_FORMAT = "lifeledger-artifact-1"
OUTPUT_SELECTION = ["abi", "metadata", "evm.bytecode.object", "evm.deployedBytecode.object"]


class BuildError(Exception):
    """The toolchain is missing or the compiler refused the sources."""


def load_compiler_config(root: Path = ROOT) -> dict[str, Any]:
    """Read ``contracts/compiler.json``: ``version``, ``optimizer`` {``enabled``, ``runs``}, ``evmVersion``."""
    config = json.loads((root / COMPILER_CONFIG).read_text(encoding="utf-8"))
    for key in ("version", "optimizer", "evmVersion"):
        if key not in config:
            raise BuildError(f"{COMPILER_CONFIG} lacks the key {key!r}")
    return dict(config)


def check_toolchain(root: Path = ROOT) -> Path:
    """Return the solc wrapper's path; raise :class:`BuildError` if node or the npm packages are missing."""
    if shutil.which("node") is None:
        raise BuildError("node is not on PATH: install Node.js 20 or newer, then run `npm ci`")
    for package in ("solc", "@openzeppelin/contracts"):
        if not (root / "node_modules" / package / "package.json").is_file():
            raise BuildError(f"node_modules/{package} is missing: run `npm ci` in {root}")
    wrapper = root / SOLC_WRAPPER
    if not wrapper.is_file():
        raise BuildError(f"{SOLC_WRAPPER} is missing")
    return wrapper


def standard_json_input(root: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Standard JSON input with every ``contracts/**/*.sol`` inlined; imports resolve through the wrapper."""
    sources = {
        path.relative_to(root).as_posix(): {"content": path.read_text(encoding="utf-8")}
        for path in sorted((root / CONTRACTS_DIR).rglob("*.sol"))
    }
    if not sources:
        raise BuildError(f"no Solidity sources under {root / CONTRACTS_DIR}")
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": config["evmVersion"],
            "optimizer": config["optimizer"],
            "outputSelection": {"*": {"*": OUTPUT_SELECTION}},
        },
    }


def compile_artifacts(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """Compile the contracts and return ``{contract name: artifact}`` for every deployable contract.

    Raises :class:`BuildError` if the toolchain is missing, the compiler version differs from the pinned one,
    or the compiler reports an error.
    """
    import solcx
    from solcx.exceptions import SolcError

    wrapper = check_toolchain(root)
    config = load_compiler_config(root)
    try:
        long_version = solcx.wrapper.get_version_str_from_solc_binary(wrapper)
        output = solcx.compile_standard(standard_json_input(root, config), solc_binary=wrapper)
    except SolcError as exc:
        raise BuildError(f"solc failed: {str(exc).strip().splitlines()[0]}") from exc
    if long_version.split("+")[0] != config["version"]:
        raise BuildError(f"node_modules has solc {long_version}, {COMPILER_CONFIG} pins {config['version']}")
    for diagnostic in output.get("errors", []):  # only warnings and infos reach here
        print(diagnostic.get("formattedMessage", diagnostic.get("message", "")).rstrip(), file=sys.stderr)

    artifacts: dict[str, dict[str, Any]] = {}
    for source_name, contracts in sorted(output.get("contracts", {}).items()):
        for name, compiled in sorted(contracts.items()):
            bytecode = compiled["evm"]["bytecode"]["object"]
            if not bytecode:
                continue  # interfaces and abstract contracts are not deployable
            if name in artifacts:
                raise BuildError(f"two deployable contracts are named {name}")
            metadata = json.loads(compiled["metadata"])
            artifacts[name] = {
                "format": ARTIFACT_FORMAT,
                "contractName": name,
                "sourceName": source_name,
                "abi": compiled["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "compiler": {
                    "version": metadata["compiler"]["version"],
                    "settings": {"evmVersion": config["evmVersion"], "optimizer": config["optimizer"]},
                },
                "sources": {
                    unit: {"keccak256": info["keccak256"], "license": info.get("license")}
                    for unit, info in sorted(metadata["sources"].items())
                },
                "bytecodeSha256": hashlib.sha256(bytes.fromhex(bytecode)).hexdigest(),
                "metadata": compiled["metadata"],
            }
    if not artifacts:
        raise BuildError("the compiler produced no deployable contract")
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    """The artifact's file text: sorted keys, two-space indent, trailing newline (byte-for-byte stable)."""
    return json.dumps(artifact, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def differences(root: Path = ROOT) -> list[str]:
    """Compile in memory; return one line per artifact file that is missing, stale or unexpected."""
    expected = {f"{name}.json": render(artifact) for name, artifact in compile_artifacts(root).items()}
    directory = root / ARTIFACTS_DIR
    present = {path.name: path for path in directory.glob("*.json")} if directory.is_dir() else {}
    problems = []
    for file_name, text in sorted(expected.items()):
        if file_name not in present:
            problems.append(f"{ARTIFACTS_DIR / file_name}: missing")
        elif present[file_name].read_text(encoding="utf-8") != text:
            problems.append(f"{ARTIFACTS_DIR / file_name}: differs from a fresh compile")
    unexpected = sorted(present.keys() - expected.keys())
    problems.extend(f"{ARTIFACTS_DIR / name}: not produced by the sources" for name in unexpected)
    return problems


def write(root: Path = ROOT) -> list[Path]:
    """Compile and (re)write every artifact; remove artifact files no source produces. Returns the paths."""
    artifacts = compile_artifacts(root)
    directory = root / ARTIFACTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in sorted(artifacts.items()):
        path = directory / f"{name}.json"
        text = render(artifact)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in directory.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compile in memory and compare with the artifacts")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = differences()
            for line in problems:
                print(line, file=sys.stderr)
            if problems:
                print("artifacts are stale: run python scripts/build_contracts.py", file=sys.stderr)
                return 1
            print("artifacts match a fresh compile")
            return 0
        for path in write():
            print(path.relative_to(ROOT))
        return 0
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
