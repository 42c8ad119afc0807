#!/usr/bin/env python3
"""Measure the gas of every contract operation on the embedded EVM (eth-tester + py-evm) and print a table.

Usage::

    python scripts/gas_report.py                  # print the table
    python scripts/gas_report.py --json gas.json  # also write the numbers as JSON

Gas is read from the receipts of real transactions on a fresh chain, so it includes the 21,000 base cost and
calldata. Each operation starts from the same kind of state (documents registered once, sizes growing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from eth_utils import keccak

from ledger.anchoring import (
    DocumentRegistryContract,
    LedgerAnchorContract,
    Registration,
    connect,
    deploy_all,
)
from ledger.anchoring.chain import Chain
from ledger.anchoring.contracts import artifact


def _gas(chain: Chain, tx_hash: bytes) -> int:
    receipt = chain.receipt(tx_hash)
    if receipt is None or receipt["status"] != 1:
        raise SystemExit(f"transaction 0x{tx_hash.hex()} failed")
    return int(receipt["gasUsed"])


def _batch(tag: str, size: int) -> list[Registration]:
    return [Registration(keccak(text=f"{tag}:{i}"), keccak(text=f"subject:{tag}:{i}"), 1, 1) for i in range(size)]


def measure() -> list[dict[str, Any]]:
    """Run every operation once on a fresh embedded chain; return one row per operation."""
    rows: list[dict[str, Any]] = []

    def row(operation: str, gas: int, documents: int | None = None) -> None:
        rows.append(
            {
                "operation": operation,
                "gas": gas,
                "documents": documents,
                "gas_per_document": None if not documents else round(gas / documents),
            }
        )

    with tempfile.TemporaryDirectory() as directory, connect("embedded", data_dir=Path(directory)) as chain:
        for name in ("LedgerAnchor", "DocumentRegistry"):
            receipt_hash = chain.send(
                chain.web3.eth.contract(abi=artifact(name)["abi"], bytecode=artifact(name)["bytecode"]).constructor(
                    chain.sender, chain.sender
                )
            )
            row(f"deploy {name}", _gas(chain, receipt_hash))
        addresses = deploy_all(chain)
        anchor = LedgerAnchorContract(chain, addresses["LedgerAnchor"])
        registry = DocumentRegistryContract(chain, addresses["DocumentRegistry"])

        row("anchor (first checkpoint)", _gas(chain, anchor.anchor(1, keccak(text="root:1"))))
        row("anchor (later checkpoint)", _gas(chain, anchor.anchor(2, keccak(text="root:2"))))
        for size in (1, 10, 100, registry.MAX_BATCH_SIZE):
            row(f"registerBatch ({size})", _gas(chain, registry.register_batch(_batch(f"b{size}", size))), size)
        first = _batch("b1", 1)[0].digest
        row("supersede", _gas(chain, registry.supersede(first, keccak(text="b1:v2"), 2)))
        row("revoke", _gas(chain, registry.revoke(keccak(text="b10:0"), 1)))
        row("pause", _gas(chain, anchor.pause()))
        row("unpause", _gas(chain, anchor.unpause()))
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| operation | gas | gas per document |", "|---|---:|---:|"]
    for r in rows:
        per = f"{r['gas_per_document']:,}" if r["gas_per_document"] is not None else ""
        lines.append(f"| {r['operation']} | {r['gas']:,} | {per} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    rows = measure()
    print(table(rows))
    if args.json is not None:
        compiled = artifact("LedgerAnchor")["compiler"]
        document = {"chain": "embedded (eth-tester, py-evm)", "compiler": compiled, "results": rows}
        args.json.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
