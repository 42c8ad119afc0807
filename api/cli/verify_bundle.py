"""``lifeledger verify-bundle``: check an evidence bundle or a receipt offline, and against the chain with --rpc."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.verify import offline


def verify_bundle(
        file: Annotated[str, typer.Argument(help="An evidence bundle (GET /v1/audit/.../bundle) or a receipt (JSON); "
                                                 "the verifier reads it itself, so a directory or a missing file is "
                                                 "one line and exit 2")],
        vkey: Annotated[str | None, typer.Option(help="The ledger's C2SP verifier key you trust (default: the "
                                                      "file's own, which the report then says it trusted)")] = None,
        rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the chain: also check rootOf, the anchoring "
                                                     "transaction and the documents' registrations there")] = None,
        anchor_contract: Annotated[str | None, typer.Option(
            "--anchor-contract", metavar="ADDRESS", help="The anchor contract the insurer publishes: the bundle's "
                                                         "anchor must be on it (default: the bundle's own, which "
                                                         "the report then says)")] = None,
        registry: Annotated[str | None, typer.Option(
            "--registry", metavar="ADDRESS", help="The document registry the insurer publishes: the documents must "
                                                  "be registered there")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False) -> None:
    """Verify an evidence bundle or a receipt with no access to the ledger: signatures, key validity, every proof,
    every opening, the ledger's record of the read, whole streams, the anchor. Exit 0 when all holds (without
    --vkey: against the key the file carries, which the verdict names), 1 naming the first failure, 2 when nothing
    can be decided (a bad --vkey or address, a file that cannot be read or is not of a format it knows or of its
    shape, a chain answering nonsense). The same check runs as a single script: python ledger/verify/offline.py
    FILE."""
    argv = [file]
    for option, value in (("--vkey", vkey), ("--rpc", rpc), ("--anchor-contract", anchor_contract),
                          ("--registry", registry)):
        if value is not None:
            argv += [option, value]
    if json:
        argv.append("--json")
    raise typer.Exit(offline.main(argv))
