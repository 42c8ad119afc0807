"""``lifeledger chain``: deploy the contracts, show anchoring status, run the anchoring worker."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.common import DataDir, fail, opened, out

app = typer.Typer(help="The EVM chain: deploy contracts, anchoring status, run the anchoring worker.",
                  no_args_is_help=True)


@app.command("deploy")
def deploy(redeploy: Annotated[bool, typer.Option(help="Deploy anew even if contracts are recorded (after a "
                                                       "development chain was reset)")] = False,
           data_dir: DataDir = None) -> None:
    """Deploy LedgerAnchor and DocumentRegistry on the configured chain and record their addresses."""
    with opened(data_dir) as ledger:
        done = ledger.anchoring.deploy(redeploy=redeploy)
    verb = "deployed" if done.new else "already deployed"
    for name, address in done.contracts.items():
        out.print(f"{name} {verb} at {address} on chain {done.chain_id}")


@app.command("status")
def status(data_dir: DataDir = None) -> None:
    """Show anchoring: chain, contracts, what is pending, sent and confirmed."""
    with opened(data_dir, create=False) as ledger:
        state = ledger.anchoring.status()
    if not state.configured:
        raise fail("anchoring is off (LIFELEDGER_CHAIN_URL=none)")
    out.print(f"chain {state.chain} (id {state.chain_id})", highlight=False)
    for name, address in state.contracts.items():
        out.print(f"  {name}: {address}", highlight=False)
    out.print(f"log size {state.log_size}, anchored {state.anchored_tree_size}, lag {state.lag}; jobs {state.jobs}",
              highlight=False)
    table = Table("tree size", "status", "tx hash", "block", "confirmations", "attempts", "note")
    for job in state.anchors:
        table.add_row(str(job.tree_size), job.status, "0x" + job.tx_hash.hex() if job.tx_hash else "",
                      "" if job.block_number is None else str(job.block_number), str(job.confirmations),
                      str(job.attempts), escape(job.last_error or ""))
    out.print(table)


@app.command("run")
def run(once: Annotated[bool, typer.Option(help="Run one round and exit")] = False, data_dir: DataDir = None) -> None:
    """Run the anchoring worker in the foreground (serve runs it too; use this for a separate process)."""
    with opened(data_dir) as ledger:
        if once:
            ledger.anchoring.run_once()
            out.print(f"anchored tree size {ledger.anchoring.status().anchored_tree_size}")
            return
        if not ledger.anchoring.configured:
            raise fail("anchoring is off (LIFELEDGER_CHAIN_URL=none)")
        ledger.start()  # the checkpointer cuts the checkpoints the worker anchors; the writer idles here
        out.print("anchoring worker running; Ctrl-C stops it")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
