"""The ``lifeledger`` command line: serve, tokens, keys, checkpoints, the whole-log audit, chain and a demo load."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from api.auth import Role, issue_token
from api.cli import chain, keys, verify_bundle
from api.cli.common import (
    NO_LEDGER,
    Commands,
    DataDir,
    configure_logging,
    err,
    fail,
    finish,
    opened,
    out,
    progress_bar,
    server_logging,
    settings_for,
)
from ledger.app import Ledger, token_key
from ledger.errors import NotFound

app = typer.Typer(help="lifeledger: a signed, append-only Merkle journal for life insurance.", no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=Commands)
app.add_typer(keys.app, name="keys")
app.add_typer(chain.app, name="chain")
@app.callback()
def options(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print library logs and the traceback "
                                                                          "of a failure on stderr")] = False) -> None:
    """lifeledger: a signed, append-only Merkle journal for life insurance."""
    configure_logging(verbose=verbose)


@app.command()
def serve(host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port")] = 8000,
          access_log: Annotated[bool, typer.Option(help="Log every request (costs a sixth of the throughput)")]
          = False,
          workers: Annotated[int | None, typer.Option(
              min=1, max=16, help="Worker processes on the same database (default LIFELEDGER_WORKERS, else one "
                                  "per CPU, at most 4); this process runs the journal writer for them, and an "
                                  "embedded chain")] = None,
          data_dir: DataDir = None) -> None:
    """Run the HTTP API (public log API, event intake, admin)."""
    import os
    import socket

    import uvicorn

    from api.app import create_app, tune_gc
    from api.metrics import MULTIPROCESS, writer_counts
    from api.workers import WorkerFailed, serve_workers

    settings = settings_for(data_dir)
    count = workers if workers is not None else settings.workers
    with server_logging():
        ledger = Ledger.open(settings)  # creating what is missing; a failure is one line, before uvicorn starts
    where = (f"(data: {settings.data_dir.resolve()}, database: {settings.resolved_database_url.split('@')[-1]}"
             f"{f', {count} workers' if count > 1 else ''})")
    if count > 1:
        # The workers open the same data dir and database; their appends go to the one journal writer, which runs
        # here, in the process that starts and outlives them (see ledger.journal.remote).
        tune_gc()  # the journal writer runs here: the same gentler collections as a serving process
        try:
            with tempfile.TemporaryDirectory(prefix="lifeledger-journal-") as private, \
                    ledger.writer_for_workers(Path(private) / "journal.sock") as address, \
                    ledger.chain_for_workers(Path(private) / "chain.sock") as chain:  # 0700: this user's own
                os.environ["LIFELEDGER_DATA_DIR"] = str(settings.data_dir.resolve())
                os.environ["LIFELEDGER_JOURNAL_SOCKET"] = str(address)
                if chain is not None:  # the embedded chain stays here; the workers reach it over this socket
                    os.environ["LIFELEDGER_CHAIN_SOCKET"] = str(chain)
                try:
                    listener = socket.create_server((host, port), backlog=2048,
                                                    family=socket.AF_INET6 if ":" in host else socket.AF_INET)
                except OSError as exc:
                    raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
                out.print(f"lifeledger serving on http://{host}:{port}  {where}")
                # This process accepts every connection and hands it to the least loaded worker (api.dispatch).
                config = uvicorn.Config("api.app:create_app", factory=True, host=host, port=port, log_level="info",
                                        access_log=access_log)
                metrics = Path(private) / "metrics"  # each worker's values, which /metrics adds up (api.metrics)
                metrics.mkdir()
                os.environ[MULTIPROCESS] = str(metrics)
                with writer_counts(ledger):
                    serve_workers(config, count=count, listener=listener, directory=Path(private))
        except WorkerFailed as exc:
            raise fail(str(exc)) from None
        finally:
            ledger.close()
        return
    try:
        out.print(f"lifeledger serving on http://{host}:{port}  {where}")
        uvicorn.run(create_app(ledger=ledger), host=host, port=port, log_level="info", access_log=access_log)
    finally:
        ledger.close()


@app.command()
def token(role: Annotated[Role, typer.Option(help="Role the token grants")],
          subject: Annotated[str, typer.Option(help="Subject: customer id, staff id or system name")],
          ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds")] = None,
          data_dir: DataDir = None) -> None:
    """Print a development bearer token signed by the token key of an existing data directory."""
    settings = settings_for(data_dir)
    where = settings.data_dir.resolve()
    try:
        key = token_key(settings)
    except NotFound as exc:
        raise fail(f"{exc.message}; {NO_LEDGER}") from exc
    err.print(f"token signed with the key in {where / 'keys'}", highlight=False)
    out.print(issue_token(key, subject=subject, role=role, issuer=settings.jwt_issuer,
                          ttl=ttl or settings.token_ttl), soft_wrap=True)


@app.command()
def checkpoint(data_dir: DataDir = None) -> None:
    """Cut a signed checkpoint now (if the log grew) and print it."""
    with opened(data_dir, create=False) as ledger:
        row = ledger.log.checkpoint_now()
        if row is None:
            raise fail("the log is empty; there is nothing to checkpoint")
        sys.stdout.write(row.note)


@app.command()
def verify(data_dir: DataDir = None,
           chain: Annotated[bool, typer.Option("--chain", help="Also check every confirmed anchor on the chain "
                                                              "(stop `serve` first when the chain is embedded)")]
           = False) -> None:
    """Audit the whole log: leaves, tree, checkpoints, signatures, payloads and projections."""
    with opened(data_dir, create=False) as ledger, progress_bar() as progress:
        report = ledger.audit.verify(chain=chain, progress=progress)
    finish(report, command="verify", extra=f", {report.trusted_roots} roots read from the chain" if chain else "")


@app.command("audit")
def audit_database(
        database_url: Annotated[str, typer.Option(help="SQLAlchemy URL of the ledger's database (a copy will do)")],
        vkey: Annotated[str, typer.Option(help="The log's C2SP verifier key, as you trust it")],
        evidence_from: Annotated[str | None, typer.Option(
            help="Base URL of the log's public API, to fetch the published key events")] = None,
        checkpoint: Annotated[list[Path] | None, typer.Option(
            help="A signed checkpoint saved earlier, to hold the log to (repeatable)")] = None) -> None:
    """Audit a ledger's database from outside: no keys directory and no master key; the database is only read.

    Checks everything `verify` does except the sealed payloads. Key history is replayed from the key events the
    log publishes (--evidence-from), each checked against its leaf; saved checkpoints act as trusted roots.
    """
    from api.cli.evidence import PublishedKeyEvents
    from ledger.app import PROJECTORS
    from ledger.log.checkpoint import open_checkpoint
    from ledger.log.note import NoteVerifier
    from ledger.services.audit import audit_copy

    verifier = NoteVerifier.from_vkey(vkey)
    trusted = {}
    for path in checkpoint or []:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise fail(f"{path} is not a checkpoint: it is not UTF-8 text") from exc
        saved = open_checkpoint(text, verifier)
        trusted[saved.size] = (f"checkpoint {path}", saved.root)
    with contextlib.ExitStack() as stack:
        evidence = stack.enter_context(PublishedKeyEvents(evidence_from)) if evidence_from else None
        progress = stack.enter_context(progress_bar())
        report = audit_copy(database_url, verifier=verifier, projectors=PROJECTORS, trusted_roots=trusted,
                            key_evidence=evidence, progress=progress)
    if evidence is not None and evidence.failure is not None:  # the findings would be the log's silence
        raise fail(f"the audit could not be run: {evidence.failure.message}")
    finish(report, command="audit", extra=f", {report.trusted_roots} saved checkpoints held" if trusted else "")


clock = typer.Typer(help="The policy clock: renewal notices, grace, lapse, free-look end, maturity.",
                    no_args_is_help=True, cls=Commands)
app.command("verify-bundle")(verify_bundle.verify_bundle)  # after verify and audit, the other checks
app.add_typer(clock, name="clock")


@clock.command("run")
def clock_run(until: Annotated[str | None, typer.Option(help="Business date (YYYY-MM-DD) to run up to; default "
                                                             "today")] = None,
              allow_future: Annotated[bool, typer.Option(help="Allow a date after today: the transitions are "
                                                              "recorded now, ahead of their dates (demos)")]
              = False, data_dir: DataDir = None) -> None:
    """Perform every policy transition due up to a date, each exactly once (what `serve` does every few minutes)."""
    from datetime import date

    with opened(data_dir, create=False, start=True) as ledger:
        today = ledger.policies.today()
        try:
            day = date.fromisoformat(until) if until else today
        except ValueError as exc:
            raise fail(f"--until must be a date such as 2027-01-31, not {until!r}") from exc
        if day > today and not allow_future:
            raise fail(f"--until {day} is after today ({today}); add --allow-future to record transitions ahead "
                       "of their dates")
        counts = ledger.policies.run_clock(until=day)
    if not counts:
        out.print(f"nothing was due up to {day}")
    for kind, n in sorted(counts.items()):
        out.print(f"{n:>6}  {kind}")


@app.command()
def demo(events: Annotated[int, typer.Option(help="How many events to post", min=1)] = 100,
         url: Annotated[str | None, typer.Option(help="Base URL of a running lifeledger (events: default "
                                                      "http://127.0.0.1:8000; --policies: default in-process)")]
         = None,
         batch: Annotated[int, typer.Option(help="Events per request", min=1, max=1000)] = 100,
         policies: Annotated[int | None, typer.Option(
             "--policies", min=1, help="Instead of events: N customers apply, are underwritten, pay and (without "
                                       "--url) live a year of renewals, grace, lapse and reinstatement")] = None,
         servicing: Annotated[int | None, typer.Option(
             "--servicing", min=1, help="N servicing requests: customers ask for every servicing operation on demo "
                                        "policies over two policy years, staff work the queue, the ledger verifies "
                                        "(in-process; after --policies when both are given)")] = None,
         claims: Annotated[int | None, typer.Option(
             "--claims", min=1, help="N claims over a month: customers report claims on demo policies, the hospital "
                                     "posts signed e-invoices, adjusters, reviewers and named handlers work the "
                                     "queues, the payments system settles, the KPIs are printed and the ledger "
                                     "verifies (in-process; after --policies and --servicing when given)")] = None,
         seed: Annotated[int, typer.Option(help="Seed of the customers and their choices (with --policies, "
                                                "--servicing or --claims)")]
         = 20261201,
         data_dir: DataDir = None) -> None:
    """Post realistic signed lifecycle events through the HTTP API as a registered demo system, or (--policies)
    run policies through their life over the policy API, or (--servicing) servicing requests over the hall's API,
    or (--claims) a month of claims over the claims API."""
    if servicing is not None and url is not None:
        raise fail("--servicing runs in-process only (it moves the ledger's clock through cooling-off periods and "
                   "two policy years): drop --url")
    if claims is not None and url is not None:
        raise fail("--claims runs in-process only (it moves the ledger's clock through two years of cover and a "
                   "month of working days): drop --url")
    if policies is not None:
        from api.cli.demo_policies import run_policy_demo

        run_policy_demo(settings_for(data_dir), policies=policies, seed=seed, url=url, console=out, progress=err)
    if servicing is not None:
        from api.cli.demo_servicing import run_servicing_demo

        run_servicing_demo(settings_for(data_dir), requests=servicing, seed=seed, url=url, console=out,
                           progress=err)
    if claims is not None:
        from api.cli.demo_claims import run_claims_demo

        run_claims_demo(settings_for(data_dir), claims=claims, seed=seed, url=url, console=out, progress=err)
    if servicing is not None or claims is not None:
        verify(data_dir=data_dir, chain=False)
    if policies is not None or servicing is not None or claims is not None:
        return
    from api.cli.demo import run_demo

    run_demo(settings_for(data_dir), url=url or "http://127.0.0.1:8000", events=events, batch=batch, console=out)


def main() -> None:
    app()
