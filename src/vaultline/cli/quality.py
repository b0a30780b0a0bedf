"""`vaultline quality show|history`: data-quality results stored in the catalog (docs/quality.md).

Results are value-free (counts, fractions, PSI, bounds) and outlive the run reports retention removes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vaultline.cli.common import JsonOption, StateOption, emit_json, handles_errors

app = typer.Typer(help="Data-quality results of past runs, from the catalog.", no_args_is_help=True)


def _catalog_url(state: Path | None) -> str:
    from vaultline.state import State

    return State.existing(state).catalog_url


def _line(result: dict[str, Any], first: str) -> str:
    outcome = "passed" if result["passed"] else "FAILED"
    observed = json.dumps(result["observed"], sort_keys=True, separators=(",", ":"))
    failed = f"{result['failed_rows']:>10,} row(s)"
    return f"  {first}  {outcome:6s}  {failed}  {result['severity']:10s}  {observed}"


@app.command("show")
@handles_errors
def show(
    run_id: Annotated[str, typer.Argument(help="Run id from `vaultline runs list`.")],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Every expectation's result in one run."""
    from vaultline.catalog.quality import results_for
    from vaultline.catalog.runs import RunCatalog

    url = _catalog_url(state)
    results = results_for(url, run_id)
    if not results:
        with RunCatalog(url) as runs:
            runs.report(run_id)  # an unknown run is an error (exit 1), not an empty answer
    if json_out:
        emit_json(results)
        return
    if not results:
        typer.echo(f"run {run_id} recorded no data-quality results (no expect step ran)")
        return
    passed = sum(r["passed"] for r in results)
    typer.echo(f"run {run_id}: {passed}/{len(results)} expectation(s) passed")
    width = max(len(r["name"]) for r in results)
    for result in results:
        typer.echo(_line(result, f"{result['name']:{width}s}  {result['kind']:18s}"))


@app.command("history")
@handles_errors
def history(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name (the spec's `name`).")],
    expectation: Annotated[str, typer.Argument(help="Expectation name (its `name:` in the spec).")],
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 20,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """One expectation's results over the pipeline's runs, newest first."""
    from vaultline.catalog.quality import expectation_names
    from vaultline.catalog.quality import history as stored_history
    from vaultline.errors import CatalogError

    url = _catalog_url(state)
    results = stored_history(url, pipeline, expectation, limit)
    if not results:  # an unknown name is an error (exit 1), as in `quality show`
        known = expectation_names(url, pipeline)
        raise CatalogError(
            f"pipeline {pipeline} has no results of an expectation named {expectation}",
            hint=f"its expectations with results: {', '.join(known)}"
            if known
            else f"no run of a pipeline named {pipeline} recorded data-quality results (see `runs list`)",
        )
    if json_out:
        emit_json(results)
        return
    typer.echo(f"{pipeline}.{expectation} ({results[0]['kind']}), newest first")
    for result in results:
        typer.echo(_line(result, f"{result['run_id']}  {result['recorded_at']}"))
