"""The ``lifeledger`` command line: serve, tokens, keys, checkpoints, whole-log audit and a demo load."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from api.auth import Role, issue_token
from ledger.app import Ledger
from ledger.crypto.keys import SigningKey
from ledger.errors import LedgerError
from ledger.journal.audit import AuditReport
from ledger.log.encoding import b64, unb64
from ledger.projections.scopes import KeyScope
from ledger.settings import Settings, load_settings

app = typer.Typer(help="lifeledger: a signed, append-only Merkle journal for life insurance.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
keys_app = typer.Typer(help="System keys: generate, register, rotate, revoke, list.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
chain_app = typer.Typer(help="The EVM chain: deploy contracts, anchoring status, run the anchoring worker.",
                        no_args_is_help=True)
app.add_typer(chain_app, name="chain")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default $LIFELEDGER_DATA_DIR "
                                                                 "or ./.lifeledger)")]


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def settings_for(data_dir: Path | None) -> Settings:
    return load_settings(data_dir=data_dir)


@contextmanager
def opened(data_dir: Path | None, *, start: bool = False) -> Iterator[Ledger]:
    try:
        ledger = Ledger.open(settings_for(data_dir))
    except LedgerError as exc:
        raise fail(exc.message) from exc
    try:
        if start:
            ledger.start()
        yield ledger
    except LedgerError as exc:
        raise fail(exc.message) from exc
    finally:
        ledger.close()


@app.command()
def serve(host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port")] = 8000, data_dir: DataDir = None) -> None:
    """Run the HTTP API (public log API, event intake, admin)."""
    import uvicorn

    from api.app import create_app

    settings = settings_for(data_dir)
    out.print(f"lifeledger serving on http://{host}:{port}  (data: {settings.data_dir.resolve()}, "
              f"database: {settings.resolved_database_url.split('@')[-1]})")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command()
def token(role: Annotated[Role, typer.Option(help="Role the token grants")],
          subject: Annotated[str, typer.Option(help="Subject: customer id, staff id or system name")],
          ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds")] = None,
          data_dir: DataDir = None) -> None:
    """Print a development bearer token signed by the token key of an existing data directory."""
    settings = settings_for(data_dir)
    from ledger.crypto.keys import LocalKeys

    where = settings.data_dir.resolve()
    try:
        keys = LocalKeys.load(settings.data_dir)
    except LedgerError as exc:
        raise fail(f"{exc.message}; run `lifeledger serve` there first or pass --data-dir") from exc
    err.print(f"token signed with the key in {where / 'keys'}", highlight=False)
    out.print(issue_token(keys.token, subject=subject, role=role, issuer=settings.jwt_issuer,
                          ttl=ttl or settings.token_ttl), soft_wrap=True)


def _scope(types: list[str] | None, streams: list[str] | None, *, required: bool) -> KeyScope | None:
    """A key scope from repeated --type and --stream options (both or neither)."""
    if not types and not streams and not required:
        return None
    if not types or not streams:
        raise fail("give the key's scope as --type (event type, 'prefix.*' or '*') and --stream (stream kind or "
                   "'*'), each at least once")
    try:
        return KeyScope.from_json({"types": types, "streams": streams})
    except LedgerError as exc:
        raise fail(exc.message) from exc


Types = Annotated[list[str] | None, typer.Option("--type", help="Event type the key may write: 'claim.approved', "
                                                               "'claim.*' or '*' (repeatable)")]
Streams = Annotated[list[str] | None, typer.Option("--stream", help="Stream kind the key may write to: 'claim' or "
                                                                   "'*' (repeatable)")]


@keys_app.command("generate")
def keys_generate(key_id: Annotated[str, typer.Option(help="Key id, e.g. policy-admin-2026")],
                  out_file: Annotated[Path, typer.Option("--out", help="Where to write the 32-byte private seed")],
                  ) -> None:
    """Create an Ed25519 key pair for a system; prints the public key to register."""
    if out_file.exists():
        raise fail(f"{out_file} exists; refusing to overwrite a private key")
    try:
        key = SigningKey.generate(key_id)
    except LedgerError as exc:
        raise fail(exc.message) from exc
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.touch(mode=0o600)
    out_file.write_bytes(key.seed())
    out.print(f"key_id     {key.key_id}\npublic_key {b64(key.public_key)}\nseed saved {out_file}")


@keys_app.command("register")
def keys_register(key_id: Annotated[str, typer.Option()], owner: Annotated[str, typer.Option()],
                  public_key: Annotated[str, typer.Option(help="base64 raw Ed25519 public key")],
                  types: Types = None, streams: Streams = None, data_dir: DataDir = None) -> None:
    """Register a system key and what it may write (recorded as a journal event)."""
    scope = _scope(types, streams, required=True)
    assert scope is not None
    with opened(data_dir) as ledger:
        receipt = ledger.register_key(key_id=key_id, owner=owner,
                                      public_key=unb64(public_key, field="public_key", length=32), scope=scope)
        out.print(f"registered {key_id} for {owner} at entry {receipt.index}; it may write {scope.describe()}")


@keys_app.command("rotate")
def keys_rotate(old_key_id: Annotated[str, typer.Argument()], key_id: Annotated[str, typer.Option()],
                public_key: Annotated[str, typer.Option()], types: Types = None, streams: Streams = None,
                data_dir: DataDir = None) -> None:
    """Retire a key and register its successor (with the old key's scope unless --type/--stream are given)."""
    scope = _scope(types, streams, required=False)
    with opened(data_dir) as ledger:
        receipt = ledger.rotate_key(old_key_id=old_key_id, key_id=key_id,
                                    public_key=unb64(public_key, field="public_key", length=32), scope=scope)
        out.print(f"rotated {old_key_id} -> {key_id} at entry {receipt.index}")


@keys_app.command("scope")
def keys_scope(key_id: Annotated[str, typer.Argument()], types: Types = None, streams: Streams = None,
               data_dir: DataDir = None) -> None:
    """Change what an active key may write (recorded as a journal event)."""
    scope = _scope(types, streams, required=True)
    assert scope is not None
    with opened(data_dir) as ledger:
        receipt = ledger.change_key_scope(key_id=key_id, scope=scope)
        out.print(f"{key_id} may now write {scope.describe()} (entry {receipt.index})")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument()], reason: Annotated[str, typer.Option()],
                data_dir: DataDir = None) -> None:
    """Revoke a key: nothing signed with it is accepted from now on."""
    with opened(data_dir) as ledger:
        receipt = ledger.revoke_key(key_id=key_id, reason=reason)
        out.print(f"revoked {key_id} at entry {receipt.index}")


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List system keys and their status."""
    with opened(data_dir) as ledger:
        table = Table("key_id", "owner", "status", "may write", "registered at entry", "ended at entry", "reason")
        for key in ledger.system_keys():
            table.add_row(key.key_id, key.owner, key.status, escape(key.describe_scope()), str(key.registered_idx),
                          "" if key.ended_idx is None else str(key.ended_idx), escape(key.reason or ""))
        out.print(table)
        out.print(f"checkpoint key: {ledger.note_signer.vkey}")


@app.command()
def checkpoint(data_dir: DataDir = None) -> None:
    """Cut a signed checkpoint now (if the log grew) and print it."""
    with opened(data_dir) as ledger:
        row = ledger.checkpoint_now()
        if row is None:
            raise fail("the log is empty; there is nothing to checkpoint")
        sys.stdout.write(row.note)


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback for long audits, drawn on stderr and cleared at the end."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            if done % 1000 == 0 or done == total:
                bar.update(tasks[stage], completed=done, total=total)

        yield progress


def _finish(report: AuditReport, *, command: str, extra: str = "") -> None:
    """Print every problem and a summary; exit 1 if there were problems."""
    for problem in report.problems:
        err.print(f"[red]FAIL[/red] {escape(str(problem))}", highlight=False, soft_wrap=True)
    summary = (f"{report.entries} entries, {report.checkpoints} checkpoints, {report.payloads_checked} payloads "
               f"checked, {report.payloads_erased} erased{extra}")
    if not report.ok:
        err.print(f"{command} failed: {len(report.problems)} problem(s); {summary}", highlight=False)
        raise typer.Exit(code=1)
    out.print(f"{command} ok: {summary}", highlight=False)


@app.command()
def verify(data_dir: DataDir = None,
           chain: Annotated[bool, typer.Option("--chain", help="Also check every confirmed anchor on the chain "
                                                              "(stop `serve` first when the chain is embedded)")]
           = False) -> None:
    """Audit the whole log: leaves, tree, checkpoints, signatures, payloads and projections."""
    from ledger.journal.audit import audit
    from ledger.log.note import NoteVerifier

    with opened(data_dir) as ledger, _progress_bar() as progress:
        trusted = _anchorer(ledger).chain_roots() if chain else {}
        report = audit(ledger.store, verifier=NoteVerifier.from_vkey(ledger.note_signer.vkey),
                       ledger_public_key=ledger.keys.ledger.public_key, origin=ledger.settings.origin,
                       master_key=ledger.keys.master_key, trusted_roots=trusted, progress=progress)
        if chain:
            for where, what in _anchorer(ledger).check_anchors():
                report.add(where, what)
    _finish(report, command="verify", extra=f", {report.trusted_roots} roots read from the chain" if chain else "")


@app.command("audit")
def audit_database(
        database_url: Annotated[str, typer.Option(help="SQLAlchemy URL of the ledger's database (a copy will do)")],
        vkey: Annotated[str, typer.Option(help="The log's C2SP verifier key, as you trust it")],
        evidence_from: Annotated[str | None, typer.Option(
            help="Base URL of the log's public API, to fetch the published key events")] = None,
        checkpoint: Annotated[list[Path] | None, typer.Option(
            help="A signed checkpoint saved earlier, to hold the log to (repeatable)")] = None) -> None:
    """Audit a ledger's database from outside: no keys directory and no master key.

    Checks everything `verify` does except the sealed payloads. Key history is replayed from the key events the
    log publishes (--evidence-from), each checked against its leaf; saved checkpoints act as trusted roots.
    """
    from api.outside import fetch_key_evidence
    from ledger.journal.audit import audit
    from ledger.log.note import NoteVerifier, open_checkpoint
    from ledger.store import Store

    try:
        verifier = NoteVerifier.from_vkey(vkey)
        trusted = {}
        for path in checkpoint or []:
            saved = open_checkpoint(path.read_text(encoding="utf-8"), verifier)
            trusted[saved.size] = (f"checkpoint {path}", saved.root)
        evidence = fetch_key_evidence(evidence_from) if evidence_from else None
        store = Store.open(database_url)
    except (LedgerError, OSError) as exc:
        raise fail(exc.message if isinstance(exc, LedgerError) else str(exc)) from exc
    try:
        with _progress_bar() as progress:
            report = audit(store, verifier=verifier, ledger_public_key=verifier.public_key, origin=verifier.name,
                           trusted_roots=trusted, key_evidence=evidence, progress=progress)
    finally:
        store.close()
    _finish(report, command="audit", extra=f", {report.trusted_roots} saved checkpoints held" if trusted else "")


@app.command()
def demo(events: Annotated[int, typer.Option(help="How many events to post", min=1)] = 100,
         url: Annotated[str, typer.Option(help="Base URL of a running lifeledger")] = "http://127.0.0.1:8000",
         batch: Annotated[int, typer.Option(help="Events per request", min=1, max=1000)] = 100,
         data_dir: DataDir = None) -> None:
    """Post realistic signed lifecycle events through the HTTP API as a registered demo system."""
    from api.demo import run_demo

    try:
        run_demo(settings_for(data_dir), url=url, events=events, batch=batch, console=out)
    except LedgerError as exc:
        raise fail(exc.message) from exc


def _anchorer(ledger: Ledger):  # type: ignore[no-untyped-def]
    if ledger.anchorer is None:
        raise fail("anchoring is off (LIFELEDGER_CHAIN_URL=none)")
    return ledger.anchorer


@chain_app.command("deploy")
def chain_deploy(redeploy: Annotated[bool, typer.Option(help="Deploy anew even if contracts are recorded (after "
                                                             "a development chain was reset)")] = False,
                 data_dir: DataDir = None) -> None:
    """Deploy LedgerAnchor and DocumentRegistry on the configured chain and record their addresses."""
    with opened(data_dir) as ledger:
        chain_id, addresses, new = _anchorer(ledger).deploy(redeploy=redeploy)
        verb = "deployed" if new else "already deployed"
        for name, address in addresses.items():
            out.print(f"{name} {verb} at {address} on chain {chain_id}")


@chain_app.command("status")
def chain_status(data_dir: DataDir = None) -> None:
    """Show anchoring: chain, contracts, what is pending, sent and confirmed."""
    with opened(data_dir) as ledger:
        state = ledger.anchor_status()
    if not state["configured"]:
        raise fail("anchoring is off (LIFELEDGER_CHAIN_URL=none)")
    out.print(f"chain {state['chain']} (id {state['chain_id']})", highlight=False)
    for name, address in state["contracts"].items():
        out.print(f"  {name}: {address}", highlight=False)
    out.print(f"log size {state['log_size']}, anchored {state['anchored_tree_size']}, lag {state['lag']}; "
              f"jobs {state['jobs']}", highlight=False)
    table = Table("tree size", "status", "tx hash", "block", "confirmations", "attempts", "note")
    for job in state["anchors"]:
        table.add_row(str(job.tree_size), job.status, "0x" + job.tx_hash.hex() if job.tx_hash else "",
                      "" if job.block_number is None else str(job.block_number), str(job.confirmations),
                      str(job.attempts), escape(job.last_error or ""))
    out.print(table)


@chain_app.command("run")
def chain_run(once: Annotated[bool, typer.Option(help="Run one round and exit")] = False,
              data_dir: DataDir = None) -> None:
    """Run the anchoring worker in the foreground (serve runs it too; use this for a separate process)."""
    with opened(data_dir) as ledger:
        anchorer = _anchorer(ledger)
        if once:
            anchorer.run_once()
            out.print(f"anchored tree size {ledger.anchor_status()['anchored_tree_size']}")
            return
        ledger.checkpointer.start()
        anchorer.start()
        out.print("anchoring worker running; Ctrl-C stops it")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
