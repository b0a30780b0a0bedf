"""`vaultline catalog`: crawled and run-registered tables (list, show, history) and schema checks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vaultline.cli.common import JsonOption, StateOption, emit_json, handles_errors

if TYPE_CHECKING:
    from vaultline.catalog.tables import TableCatalog, TableColumn

app = typer.Typer(
    help="Catalog tables: schemas of raw data, their versions and checks.", no_args_is_help=True
)


def _catalog(state: Path | None) -> TableCatalog:
    from vaultline.catalog.tables import TableCatalog
    from vaultline.state import State

    return TableCatalog(State.existing(state).catalog_url)


def _nullable(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def print_columns(columns: Sequence[TableColumn]) -> None:
    """A schema as a table: column, type, nullable."""
    from rich.table import Table

    from vaultline.cli.render import console

    table = Table("column", "type", "nullable")
    for column in columns:
        table.add_row(column.name, column.type, _nullable(column.nullable))
    console.print(table)


@app.command("list")
@handles_errors
def list_tables(state: StateOption = None, json_out: JsonOption = False) -> None:
    """Every registered table with its latest version."""
    with _catalog(state) as catalog:
        records = catalog.list()
    if json_out:
        emit_json([r.as_dict() for r in records])
        return
    if not records:
        typer.echo("no tables yet: `vaultline crawl SOURCE --name NAME` or a pipeline run registers one")
        return
    from rich.table import Table

    from vaultline.cli.render import console

    table = Table("table", "version", "format", "columns", "updated", "location")
    for r in records:
        table.add_row(r.name, str(r.version), r.format, str(len(r.columns)), r.updated_at, r.location)
    console.print(table)


@app.command("show")
@handles_errors
def show(
    name: Annotated[str, typer.Argument(help="Table name.")],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """A table's location, format and schema as registered now."""
    with _catalog(state) as catalog:
        record = catalog.get(name)
    if json_out:
        emit_json(record.as_dict())
        return
    typer.echo(f"{record.name} version {record.version} ({record.format}, updated {record.updated_at})")
    typer.echo(f"location: {record.location}")
    print_columns(record.columns)


@app.command("history")
@handles_errors
def history(
    name: Annotated[str, typer.Argument(help="Table name.")],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Every version of a table, newest first, with what changed and who recorded it."""
    with _catalog(state) as catalog:
        versions = catalog.history(name)
    if json_out:
        emit_json([v.as_dict() for v in versions])
        return
    for v in versions:
        by = f"run {v.run_id}" if v.run_id else v.source
        if v.version == 1:
            what = f"registered with {len(v.columns)} column(s)"
        else:
            what = "; ".join(change.render() for change in v.changes)
        typer.echo(f"version {v.version}  {v.recorded_at}  by {by}: {what}")


@app.command("check")
@handles_errors
def check(
    name: Annotated[str, typer.Argument(help="Table name.")],
    expect: Annotated[
        Path,
        typer.Option(
            "--expect", help="Expected schema (YAML): columns with type and nullable, extra_columns."
        ),
    ],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Validate a table against an expected schema; exit code 1 listing every mismatch."""
    from vaultline.catalog.expected_schema import ExpectedSchema, check_schema
    from vaultline.spec.yaml_tree import read_model

    expected = read_model(expect, ExpectedSchema, what="the schema file")
    with _catalog(state) as catalog:
        record = catalog.get(name)
    mismatches = check_schema(record, expected)
    if json_out:
        emit_json(
            {
                "table": record.name,
                "version": record.version,
                "expect": str(expect),
                "passed": not mismatches,
                "mismatches": [m.as_dict() for m in mismatches],
            }
        )
    elif not mismatches:
        typer.echo(f"{record.name} version {record.version} matches {expect}")
    else:
        typer.echo(f"{record.name} version {record.version}: {len(mismatches)} mismatch(es) with {expect}")
        for mismatch in mismatches:
            typer.echo(f"  {mismatch.render()}")
    if mismatches:
        raise typer.Exit(1)
