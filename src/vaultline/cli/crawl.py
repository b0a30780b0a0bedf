"""`vaultline crawl`: infer a source's schema and register it (or its changes) as a catalog table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from vaultline.cli.common import JsonOption, SourceFormat, StateOption, audited, emit_json, handles_errors

if TYPE_CHECKING:
    pass

DEFAULT_SAMPLE_ROWS = 10_000  # engines/polars/crawl.DEFAULT_SAMPLE_ROWS, kept here so --help needs no Polars


@handles_errors
def crawl(  # noqa: PLR0917 - typer maps each parameter to an option
    source: Annotated[
        str,
        typer.Argument(help="A path, glob or s3:// URL (csv, parquet, jsonl), or SPEC.yaml:SOURCE."),
    ],
    name: Annotated[str, typer.Option("--name", help="The catalog table to register or update.")],
    file_format: Annotated[
        SourceFormat | None,
        typer.Option("--format", help="The source's format, when the extension does not say."),
    ] = None,
    sample_rows: Annotated[
        int,
        typer.Option("--sample-rows", min=0, help="Rows read to infer types and nullability (0: every row)."),
    ] = DEFAULT_SAMPLE_ROWS,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="For SPEC.yaml:SOURCE: override a spec parameter, KEY=VALUE."),
    ] = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Infer a source's schema (names, types, nullability; never values) and register table NAME.

    A new version is recorded only when the schema changed, with what changed (added, removed,
    retyped, nullability)."""
    from vaultline.catalog.tables import TableCatalog
    from vaultline.classify.sample import named_source
    from vaultline.engines.polars.crawl import crawl_source
    from vaultline.spec.loader import parse_param
    from vaultline.state import State

    source_name, spec = named_source(source, file_format, dict(parse_param(p) for p in param or []))
    where = spec.path or spec.url or source
    with (
        TableCatalog(State.resolve(state).ensure().catalog_url) as catalog,
        audited(state, "catalog.crawl", resource=name, identifiers={"path": where}) as operation,
    ):
        found = crawl_source(source_name, spec, sample_rows=sample_rows or None)
        update = catalog.record(
            name, location=found.location, file_format=found.format, columns=found.columns, source="crawl"
        )
        operation.details.update(action=update.action, version=update.version, columns=len(found.columns))
    result: dict[str, Any] = {
        **update.as_dict(),
        "location": found.location,
        "format": found.format,
        "rows_sampled": found.rows_sampled,
        "columns": [c.as_dict() for c in found.columns],
        "inputs": found.inputs,
    }
    if json_out:
        emit_json(result)
        return
    from vaultline.cli.catalog_tables import print_columns

    typer.echo(f"{found.location} ({found.format}, {found.rows_sampled:,} rows sampled)")
    print_columns(found.columns)
    if update.action == "registered":
        typer.echo(f"table {name}: registered as version 1")
    elif update.action == "unchanged":
        typer.echo(f"table {name}: unchanged (version {update.version})")
    else:
        typer.echo(f"table {name}: version {update.version}, changed:")
        for change in update.changes:
            typer.echo(f"  {change.render()}")
