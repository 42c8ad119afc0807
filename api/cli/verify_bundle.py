"""``lifeledger verify-bundle``: check an evidence bundle or a receipt offline, and against the chain with --rpc."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.verify import offline


def verify_bundle(
        file: Annotated[Path, typer.Argument(help="An evidence bundle (GET /v1/audit/.../bundle) or a receipt (JSON)",
                                             dir_okay=False)],
        vkey: Annotated[str | None, typer.Option(help="The ledger's C2SP verifier key you trust (default: the "
                                                      "file's own, which the report then says it trusted)")] = None,
        rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the chain: also check rootOf, the anchoring "
                                                     "transaction and the documents' registrations there")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False) -> None:
    """Verify an evidence bundle or a receipt with no access to the ledger: signatures, key validity, every proof,
    every opening, whole streams, the anchor. Exit 0 when all holds, 1 naming the first failure, 2 when the file
    cannot be read or checked. The same check runs as a single script: python ledger/verify/offline.py FILE."""
    argv = [str(file)]
    if vkey is not None:
        argv += ["--vkey", vkey]
    if rpc is not None:
        argv += ["--rpc", rpc]
    if json:
        argv.append("--json")
    raise typer.Exit(offline.main(argv))
