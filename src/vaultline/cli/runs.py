"""`vaultline runs`: past runs and their reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from vaultline.catalog.runs import RunCatalog

from vaultline.cli.common import JsonOption, StateOption, emit_json, handles_errors

app = typer.Typer(help="Past runs and their reports.", no_args_is_help=True)


def _catalog(state: Path | None) -> RunCatalog:
    from vaultline.catalog.runs import RunCatalog
    from vaultline.state import State

    return RunCatalog(State.resolve(state).ensure().catalog_url)


@app.command("list")
@handles_errors
def list_runs(
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 20,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Most recent runs first."""
    records = _catalog(state).list(limit=limit, pipeline=pipeline)
    if json_out:
        emit_json([r.as_dict() for r in records])
        return
    from vaultline.cli.render import runs_table

    runs_table(records)


@app.command("show")
@handles_errors
def show(
    run_id: Annotated[str, typer.Argument(help="Run id from `vaultline runs list`.")],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """The report of one run."""
    report = _catalog(state).report(run_id)
    if json_out:
        emit_json(report)
        return
    from vaultline.cli.render import summary

    summary(report)
