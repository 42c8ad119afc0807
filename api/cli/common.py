"""What every command shares: the consoles, one-line errors, settings and an opened ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from ledger.app import Ledger
from ledger.errors import LedgerError
from ledger.services.audit import AuditReport
from ledger.settings import Settings, load_settings

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
    """The ledger of ``data_dir``, closed afterwards; ledger errors become one-line exits."""
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


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback for long audits, drawn on stderr and cleared at the end."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            if done % 1000 == 0 or done == total:
                bar.update(tasks[stage], completed=done, total=total)

        yield progress


def finish(report: AuditReport, *, command: str, extra: str = "") -> None:
    """Print every problem and a summary; exit 1 if there were problems."""
    for problem in report.problems:
        err.print(f"[red]FAIL[/red] {escape(str(problem))}", highlight=False, soft_wrap=True)
    summary = (f"{report.entries} entries, {report.checkpoints} checkpoints, {report.payloads_checked} payloads "
               f"checked, {report.payloads_erased} erased{extra}")
    if not report.ok:
        err.print(f"{command} failed: {len(report.problems)} problem(s); {summary}", highlight=False)
        raise typer.Exit(code=1)
    out.print(f"{command} ok: {summary}", highlight=False)
