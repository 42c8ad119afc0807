#!/usr/bin/env python3
"""Check an e-policy file against the DocumentRegistry contract, with only its address, its ABI and a chain node.

No lifeledger code is imported and the file never leaves your machine: it is hashed here and the digest is
looked up with the contract's public ``documentStatus(bytes32)`` view.

    python scripts/check_epolicy.py policy.pdf --rpc http://127.0.0.1:8545 --registry 0xABC… \\
        --abi ledger/artifacts/DocumentRegistry.json

Prints the status (valid, superseded by which digest, revoked, unknown), kind, version and the block time of the
registration. Exit status 0 when the file is registered and valid, 1 when it is superseded, revoked or unknown,
2 on bad usage or an unreachable node; one line on stderr says why. Requires Python 3.11+ and ``web3``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

STATUS = ("unknown", "valid", "superseded", "revoked")
KINDS = {1: "e-policy"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the e-policy PDF (or any registered document)")
    parser.add_argument("--rpc", required=True, help="JSON-RPC URL of a node of the chain")
    parser.add_argument("--registry", required=True, help="address of the DocumentRegistry contract")
    parser.add_argument("--abi", type=Path, required=True,
                        help="the contract's ABI: a JSON list, or an artifact with an 'abi' member")
    args = parser.parse_args(argv)
    try:
        data = args.file.read_bytes()
        raw = json.loads(args.abi.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    abi = raw["abi"] if isinstance(raw, dict) else raw
    digest = hashlib.sha256(data).digest()

    try:
        from web3 import Web3
    except ImportError:
        print("error: this check needs the web3 package (pip install web3)", file=sys.stderr)
        return 2

    node = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 10}))
    try:
        registry = node.eth.contract(address=Web3.to_checksum_address(args.registry), abi=abi)
        status, kind, subject, version, registered_at, superseded_by = \
            registry.functions.documentStatus(digest).call()
    except Exception as exc:  # an unreachable node, a wrong address or ABI: say which, in one line
        print(f"error: cannot read documentStatus at {args.registry} via {args.rpc}: {exc}", file=sys.stderr)
        return 2
    name = STATUS[status] if 0 <= status < len(STATUS) else f"status {status}"
    print(f"file        {args.file}")
    print(f"digest      sha256:{digest.hex()}")
    print(f"status      {name}")
    if status:
        when = datetime.fromtimestamp(registered_at, UTC).isoformat(timespec="seconds")
        print(f"kind        {KINDS.get(kind, kind)}")
        print(f"version     {version}")
        print(f"registered  {when} (block time)")
        print(f"lineage     0x{bytes(subject).hex()}")
    if name == "superseded":
        print(f"superseded  by sha256:{bytes(superseded_by).hex()}")
    if name == "valid":
        return 0
    why = {"unknown": "this file is not registered: it is not an e-policy this registry issued, or it was changed",
           "superseded": f"this version was replaced by sha256:{bytes(superseded_by).hex()}",
           "revoked": "this e-policy was revoked"}.get(name, f"the registry answers {name}")
    print(f"not valid: {why}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
