"""`vaultline read DATASET[@VERSION]`: a committed version, decrypted with the keys the caller holds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from vaultline.cli.common import StateOption, audited, handles_errors
from vaultline.errors import VaultlineError

if TYPE_CHECKING:
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.state import State


@handles_errors
def read(  # noqa: PLR0917 - typer maps each parameter to an option
    dataset: Annotated[str, typer.Argument(help="DATASET or DATASET@VERSION (default: the latest version).")],
    columns: Annotated[
        str | None, typer.Option("--columns", help="Comma-separated columns (default: all).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="At most this many rows.")] = None,
    output_format: Annotated[
        Literal["table", "csv", "json", "parquet"], typer.Option("--format", help="How to print the rows.")
    ] = "table",
    out: Annotated[  # text, not Path: a trailing `/` (a directory) must reach the check
        str | None, typer.Option("--out", help="Write to this file (required for --format parquet).")
    ] = None,
    state: StateOption = None,
) -> None:
    """Read a dataset version. A column whose key you do not hold is refused by name, with its key.

    Example: vaultline read features@1 --columns transaction_id,amount_bin --limit 5 --format csv
    """
    from vaultline.catalog.dataset_records import split_ref
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.keys.providers import open_provider
    from vaultline.state import State
    from vaultline.storage.artifacts import check_output_path, private_output
    from vaultline.storage.dataset_reader import read_dataset

    # Usage first: a command that cannot print its result must not decrypt (and audit) a read.
    if output_format == "parquet" and out is None:
        raise typer.BadParameter("parquet goes to a file: add --out FILE.parquet", param_hint="--format")
    wanted = list(dict.fromkeys(c.strip() for c in columns.split(",") if c.strip())) if columns else None
    if columns is not None and not wanted:
        raise typer.BadParameter(
            "names no column: e.g. --columns transaction_id,amount, or leave it out", param_hint="--columns"
        )
    if out is not None:
        check_output_path(out)
    split_ref(dataset)  # a malformed reference is named as such, before the read is audited
    resolved = State.existing(state)
    details = {
        "columns": len(wanted) if wanted else "all",
        "format": output_format,
        "to_file": out is not None,
    }
    with DatasetCatalog(resolved.catalog_url) as catalog:
        with audited(state, "dataset.read", resource=dataset.split("@", 1)[0], details=details) as operation:
            name, version, table = read_dataset(
                catalog, dataset, open_provider(resolved.root), columns=wanted, limit=limit
            )
            operation.details.update(version=version, rows=table.num_rows)
        _access_alarms(resolved, catalog, name, version)
    if output_format == "parquet":
        assert out is not None  # refused above, before the read
        import pyarrow.parquet as pq

        with private_output(out) as handle:  # decrypted rows: owner-only, whole or not at all
            pq.write_table(table, handle)
        typer.echo(f"wrote {table.num_rows:,} rows of {name}@{version} to {out} (not encrypted)")
        return
    import polars as pl

    from vaultline.engines.polars.text import lossless_text

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    # Neither format holds bytes, nor CSV lists, structs or durations: those become text (hex, JSON, ISO).
    unwritable = (pl.Binary, pl.Object) + (
        (pl.List, pl.Array, pl.Struct, pl.Duration) if output_format == "csv" else ()
    )
    frame = frame.with_columns(
        lossless_text(c, t) for c, t in frame.schema.items() if isinstance(t, unwritable)
    )
    if output_format == "csv":
        text = frame.write_csv()
    elif output_format == "json":
        text = frame.write_ndjson()
    else:
        with pl.Config(tbl_rows=50, tbl_cols=-1, fmt_str_lengths=40):
            text = f"{name}@{version}: {table.num_rows:,} rows\n{frame}\n"
    if out is not None:
        with private_output(out) as handle:
            handle.write(text.encode("utf-8"))
    else:
        sys.stdout.write(text)


def _access_alarms(state: State, catalog: DatasetCatalog, dataset: str, version: int) -> None:
    """Evaluate the `unusual_access` rules of the pipeline that produced the dataset, after the read is
    recorded. An alarm never blocks the read that triggered it; problems go to stderr, value-free."""
    from vaultline.catalog.runs import RunCatalog
    from vaultline.monitor.observe import check_access
    from vaultline.spec.loader import load

    run_id = catalog.version(dataset, version).run_id
    if run_id is None:
        return
    try:
        with RunCatalog(state.catalog_url) as runs:
            report = runs.report(run_id)
        spec_file = (report.get("spec") or {}).get("file")  # a killed run's report is empty
        if spec_file is None or spec_file.startswith("<"):  # killed, or a spec given as text (`<string>`)
            return
        if not Path(spec_file).is_file():
            sys.stderr.write(
                f"warning: unusual-access rules were not evaluated: the spec {spec_file} of the run that "
                "wrote this version is gone\n"
            )
            return
        pipeline = load(spec_file, report.get("params") or {}).pipeline
        rules = [r for r in pipeline.alarms if r.kind == "unusual_access"]
        if not rules:
            return
        # a delivery may derive a signing key: audited like every key use (fail closed)
        with audited(state.root, "alarms.evaluate", resource=dataset):
            check_access(state, rules, pipeline=pipeline.name)  # the rules' targets show what fires
    except VaultlineError as exc:
        sys.stderr.write(f"warning: unusual-access rules were not evaluated: {exc.message}\n")
