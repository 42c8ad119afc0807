"""What every command shares: the consoles, one-line errors, logging, settings and an opened ledger."""

from __future__ import annotations

import errno
import logging
import logging.handlers
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from typer.core import TyperGroup

from ledger.app import Ledger
from ledger.errors import LedgerError, NotFound, StorageError
from ledger.services.audit import AuditReport
from ledger.settings import Settings, load_settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger(__name__)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default $LIFELEDGER_DATA_DIR "
                                                                 "or ./.lifeledger)")]
NO_LEDGER = "pass --data-dir (or set LIFELEDGER_DATA_DIR) naming a ledger's directory, or start one with " \
            "`lifeledger serve`"
_HANDLER = "lifeledger-cli"  # the name of the one root handler the command line installs (replaced, never stacked)


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(' '.join(message.split()))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def explain(exc: BaseException) -> str:
    """The one line that tells the user what failed: a ledger error's message, or an OS error and its path."""
    if isinstance(exc, StorageError):
        return f"{exc.message} (rerun with --verbose for the details)"
    if isinstance(exc, LedgerError):
        return exc.message
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


class Commands(TyperGroup):
    """The root command: every expected failure below it (a ledger error, an OS error) ends as one line on stderr
    and exit code 2; anything else is a bug and keeps its traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            log.info("the command failed", exc_info=exc)  # the traceback, with --verbose only
            raise fail(explain(exc)) from exc
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # the reader went away (`| head`): Typer exits quietly
                raise
            log.info("the command failed", exc_info=exc)
            raise fail(explain(exc)) from exc


class _OneLine(logging.Formatter):
    """A record on one line: drivers put statements and parameters on lines of their own."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(super().format(record).split())


def configure_logging(*, verbose: bool) -> None:
    """Send library logs (SQLAlchemy, web3, the ledger's own) to stderr with tracebacks if ``verbose``, and
    nowhere otherwise: a command reports what went wrong in its one ``error:`` line. Replaces what an earlier call
    installed, so calling it again (tests run many commands in one process) stacks nothing."""
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger().setLevel(logging.INFO)
    else:
        handler = logging.NullHandler()  # also keeps logging's last resort from printing warnings bare
    _install(handler)
    logging.captureWarnings(True)  # library deprecation warnings become log records too


def _install(handler: logging.Handler) -> None:
    """Make ``handler`` the command line's one root handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(old)
        old.close()
    handler.set_name(_HANDLER)
    root.addHandler(handler)


@contextmanager
def server_logging() -> Iterator[None]:
    """For ``serve``: warnings from the ledger and libraries on stderr, one line each, beside uvicorn's own lines.

    Warnings logged inside the block (while the ledger opens) are held back and printed only if the block
    succeeds: a ledger that fails to open is reported in one ``error:`` line, not also in the log. With
    ``--verbose`` everything is printed as it comes.
    """
    root = logging.getLogger()
    if any(h.get_name() == _HANDLER and isinstance(h, logging.StreamHandler) for h in root.handlers):
        yield  # --verbose
        return
    held = logging.handlers.MemoryHandler(capacity=10_000, flushLevel=logging.CRITICAL + 1, flushOnClose=False)
    held.setLevel(logging.WARNING)
    root.addHandler(held)
    try:
        yield
    except BaseException:
        held.close()  # dropped unprinted (flushOnClose=False): the failure is reported on its own
        raise
    finally:
        root.removeHandler(held)
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(logging.WARNING)
    stream.setFormatter(_OneLine("%(levelname)-9s %(name)s: %(message)s"))
    _install(stream)
    held.setTarget(stream)
    held.flush()
    held.close()


def settings_for(data_dir: Path | None) -> Settings:
    """Settings from the environment, with ``--data-dir`` over ``LIFELEDGER_DATA_DIR``."""
    return load_settings(data_dir=data_dir)


@contextmanager
def opened(data_dir: Path | None, *, create: bool = True, start: bool = False) -> Iterator[Ledger]:
    """The ledger of ``data_dir``, closed afterwards.

    With ``create=False`` (commands that only read, or change a ledger that must already be there) nothing is
    made: a data dir, keys directory or database that is missing ends the command with one line naming it.
    """
    try:
        ledger = Ledger.open(settings_for(data_dir), create=create)
    except NotFound as exc:
        raise fail(f"{exc.message}; {NO_LEDGER}") from exc
    try:
        if start:
            ledger.start(policy_clock=False)  # a command does its own work; the clock worker is serve's
        yield ledger
    finally:
        ledger.close()


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback for long audits, drawn on stderr when it is a terminal and cleared at the end."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
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
    if report.amounts_checked:
        summary += f", {report.amounts_checked} amounts recomputed"
    if not report.ok:
        err.print(f"{command} failed: {len(report.problems)} problem(s); {summary}", highlight=False)
        raise typer.Exit(code=1)
    out.print(f"{command} ok: {summary}", highlight=False)
