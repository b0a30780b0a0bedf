"""Shared CLI plumbing: state directory option, JSON output, error rendering."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, ParamSpec, TypeVar

import typer
from typer.exceptions import TyperException

from vaultline.errors import EX_TEMPFAIL, S3_UNREACHABLE_HINT, Terminated, VaultlineError, is_transient

if TYPE_CHECKING:
    from vaultline.audit.log import Operation

DEBUG_ENV = "VAULTLINE_DEBUG"
P = ParamSpec("P")
R = TypeVar("R")

StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state", help="State directory (default ./.vaultline, or $VAULTLINE_HOME).", show_default=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
SourceFormat = Literal["csv", "parquet", "jsonl"]
"""The file formats a location given on the command line may have (click lists them when refused)."""


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print VaultlineErrors (and OS errors on paths) as their message, and other exceptions by their
    type only, never a traceback (unless VAULTLINE_DEBUG is set), and exit with their code: 75 for a
    store or service out of reach that no check mapped, as for the retryable errors."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = func(*args, **kwargs)
            sys.stdout.flush()  # a reader gone away shows here, inside the try, not at exit
            return result
        except VaultlineError as exc:
            sys.stderr.write(f"error: {exc.render()}\n")
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:  # a ConnectionError, but ours: the reader of stdout went away
            _stdout_closed()
        except Terminated:
            sys.stderr.write("error: stopped by SIGTERM\n")
            raise typer.Exit(128 + signal.SIGTERM) from None  # the shells' convention, as 130 for Ctrl-C
        except OSError as exc:  # a path the user gave, unusable in a way no check above foresaw
            if is_transient(exc):
                _out_of_reach(exc)
            where = f": {exc.filename}" if exc.filename else ""
            sys.stderr.write(
                f"error: {exc.strerror or type(exc).__name__}{where}\n"
                "hint: check that the path exists and that you may read and write it\n"
            )
            raise typer.Exit(1) from None
        except BaseException as exc:  # a Rust panic (pyo3's PanicException) is not an Exception
            # A bug, not a user error: its message and traceback may quote data values (a Polars cast
            # error lists the values it could not convert), so only its type is shown by default.
            control = (typer.Exit, typer.Abort, TyperException)  # typer's vendored click's errors too
            interpreter = (KeyboardInterrupt, SystemExit, GeneratorExit)
            if isinstance(exc, (*control, *interpreter)) or os.environ.get(DEBUG_ENV):
                raise
            if is_transient(exc):
                _out_of_reach(exc)
            sys.stderr.write(
                f"error: unexpected {type(exc).__name__} inside vaultline (a bug: please report it); its "
                f"message is not shown because it may quote data values\nhint: set {DEBUG_ENV}=1 to see "
                "the traceback, on data you may show\n"
            )
            raise typer.Exit(1) from None

    return wrapper


def _stdout_closed() -> NoReturn:
    """Whoever read stdout stopped reading (`vaultline audit show | head`): nothing failed that a rerun
    would cure, and nobody reads a message. Python's documented handling: stdout goes to devnull, so
    the flush at exit does not raise again, and the exit is 1, quietly."""
    with suppress(OSError, ValueError):  # no descriptor behind stdout (a test's capture)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    raise typer.Exit(1) from None


def _out_of_reach(exc: BaseException) -> NoReturn:
    """A store or service that did not answer, in a path no check mapped: a rerun unchanged may do."""
    sys.stderr.write(
        f"error: a service could not be reached ({type(exc).__name__})\nhint: {S3_UNREACHABLE_HINT}\n"
    )
    raise typer.Exit(EX_TEMPFAIL) from None


@contextmanager
def audited(
    state: Path | None,
    action: str,
    *,
    resource: str | None = None,
    identifiers: Mapping[str, str] | None = None,
    details: Mapping[str, str | int | float | bool | None] | None = None,
) -> Iterator[Operation]:
    """Run a command's work as one audited operation: the intent is fsynced before it starts (fail
    closed: no audit log, no operation), key uses inside are recorded, the outcome when it ends.
    `identifiers` (paths, key names) are stored as keyed hashes only."""
    from vaultline.audit import audit_session
    from vaultline.state import State

    with (
        audit_session(State.resolve(state).ensure()) as log,
        log.operation(action, resource=resource, identifiers=identifiers, details=details) as operation,
    ):
        yield operation
