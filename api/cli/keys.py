"""``lifeledger keys``: generate a system's key pair; register, rotate, scope, revoke and list system keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.common import DataDir, err, fail, opened, out
from ledger.crypto.keys import SigningKey
from ledger.errors import LedgerError
from ledger.log.encoding import b64, unb64
from ledger.projections.scopes import KeyScope
from ledger.projections.system_keys import KeyState

app = typer.Typer(help="System keys: generate, register, rotate, scope, revoke, list.", no_args_is_help=True)

Types = Annotated[list[str] | None, typer.Option("--type", help="Event type the key may write: 'claim.approved', "
                                                               "'claim.*' or '*' (repeatable)")]
Streams = Annotated[list[str] | None, typer.Option("--stream", help="Stream kind the key may write to: 'claim' or "
                                                                   "'*' (repeatable)")]


def _scope(types: list[str] | None, streams: list[str] | None) -> KeyScope | None:
    """A key scope from repeated --type and --stream options (both, or neither for None)."""
    if not types and not streams:
        return None
    if not types or not streams:
        raise fail("give the key's scope as --type (event type, 'prefix.*' or '*') and --stream (stream kind or "
                   "'*'), each at least once")
    try:
        return KeyScope.from_json({"types": types, "streams": streams})
    except LedgerError as exc:
        raise fail(exc.message) from exc


def _required_scope(types: list[str] | None, streams: list[str] | None) -> KeyScope:
    scope = _scope(types, streams)
    if scope is None:
        raise fail("give the key's scope as --type (event type, 'prefix.*' or '*') and --stream (stream kind or "
                   "'*'), each at least once")
    return scope


@app.command("generate")
def generate(key_id: Annotated[str, typer.Option(help="Key id, e.g. policy-admin-2026")],
             out_file: Annotated[Path, typer.Option("--out", help="Where to write the 32-byte private seed")]) -> None:
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


@app.command("register")
def register(key_id: Annotated[str, typer.Option()], owner: Annotated[str, typer.Option()],
             public_key: Annotated[str, typer.Option(help="base64 raw Ed25519 public key")],
             types: Types = None, streams: Streams = None, data_dir: DataDir = None) -> None:
    """Register a system key and what it may write (recorded as a journal event)."""
    scope = _required_scope(types, streams)
    with opened(data_dir) as ledger:
        receipt = ledger.keys.register(key_id=key_id, owner=owner,
                                       public_key=unb64(public_key, field="public_key", length=32), scope=scope)
        out.print(f"registered {key_id} for {owner} at entry {receipt.index}; it may write {scope.describe()}")


@app.command("rotate")
def rotate(old_key_id: Annotated[str, typer.Argument()], key_id: Annotated[str, typer.Option()],
           public_key: Annotated[str, typer.Option()], types: Types = None, streams: Streams = None,
           data_dir: DataDir = None) -> None:
    """Retire a key and register its successor (with the old key's scope unless --type/--stream are given)."""
    scope = _scope(types, streams)
    with opened(data_dir, create=False) as ledger:
        receipt = ledger.keys.rotate(old_key_id=old_key_id, key_id=key_id,
                                     public_key=unb64(public_key, field="public_key", length=32), scope=scope)
        out.print(f"rotated {old_key_id} -> {key_id} at entry {receipt.index}")


@app.command("scope")
def change_scope(key_id: Annotated[str, typer.Argument()], types: Types = None, streams: Streams = None,
                 data_dir: DataDir = None) -> None:
    """Change what an active key may write (recorded as a journal event)."""
    scope = _required_scope(types, streams)
    with opened(data_dir, create=False) as ledger:
        receipt = ledger.keys.change_scope(key_id=key_id, scope=scope)
        out.print(f"{key_id} may now write {scope.describe()} (entry {receipt.index})")


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument()], reason: Annotated[str, typer.Option()],
           data_dir: DataDir = None) -> None:
    """Revoke a key: nothing signed with it is accepted from now on."""
    with opened(data_dir, create=False) as ledger:
        receipt = ledger.keys.revoke(key_id=key_id, reason=reason)
        out.print(f"revoked {key_id} at entry {receipt.index}")


@app.command("list")
def list_keys(data_dir: DataDir = None) -> None:
    """List system keys, their status and what each may write; warn about active keys with no scope."""
    with opened(data_dir, create=False) as ledger:
        keys = ledger.keys.registered()
        unscoped = [key.key_id for key in ledger.keys.unscoped()]
        vkey = ledger.log.vkey
    table = Table("key_id", "owner", "status", "may write", "registered at entry", "ended at entry", "reason")
    for key in keys:
        table.add_row(key.key_id, key.owner, key.status, _may_write(key, warn=key.key_id in unscoped),
                      str(key.registered_idx), "" if key.ended_idx is None else str(key.ended_idx),
                      escape(key.reason or ""))
    out.print(table)
    out.print(f"checkpoint key: {vkey}")
    if unscoped:
        err.print(f"[yellow]warning:[/yellow] {escape(', '.join(unscoped))}: no scope (legacy keys, registered "
                  f"before key scopes) and may write any event on any stream; give each one with `lifeledger keys "
                  f"scope KEY_ID --type TYPE --stream KIND`", highlight=False)


def _may_write(key: KeyState, *, warn: bool) -> str:
    """The 'may write' cell: the key's scope, or a marker for a key registered before keys had scopes (in yellow
    when ``warn``: it is active, so it may write anything)."""
    if key.scope is not None:
        return escape(key.scope.describe())
    if warn:
        return "[yellow]scope: none (legacy, may write anything)[/yellow]"
    return "scope: none (legacy)"
