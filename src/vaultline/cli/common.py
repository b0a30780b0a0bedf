"""Shared CLI plumbing: state directory option, JSON output, error rendering."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from vaultline.errors import VaultlineError

P = ParamSpec("P")
R = TypeVar("R")

StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state", help="State directory (default ./.vaultline, or $VAULTLINE_HOME).", show_default=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print VaultlineErrors as their message (never a traceback) and exit with their code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except VaultlineError as exc:
            sys.stderr.write(f"error: {exc.render()}\n")
            raise typer.Exit(exc.exit_code) from None

    return wrapper
