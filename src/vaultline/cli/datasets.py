"""`vaultline datasets` (list, show, history) and the top-level `gc` and `vacuum` commands.

`gc` and `vacuum` are plain functions: cli/main.py registers them at the top level. A watermark may
hold a data value, so it is only ever reported as set or not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vaultline.cli.common import JsonOption, StateOption, audited, emit_json, handles_errors

if TYPE_CHECKING:
    from vaultline.catalog.dataset_records import GcResult
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.catalog.run_leftovers import LeftoverResult

app = typer.Typer(help="Versioned datasets: their versions, files and protections.", no_args_is_help=True)


def _catalog(state: Path | None) -> DatasetCatalog:
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.state import State

    return DatasetCatalog(State.existing(state).catalog_url)


def parse_duration(text: str) -> int:
    """'24h' → 86400; units s, m, h, d (seconds when none)."""
    from vaultline.durations import duration_seconds

    seconds = int(text) if text.strip().isdigit() else duration_seconds(text)
    if seconds is None:
        raise typer.BadParameter(
            f"'{text}' is not a duration: write e.g. 90m, 24h or 7d", param_hint="--grace"
        )
    return seconds


def _document_lines(title: str, document: Any) -> list[str]:
    if not document:
        return [f"{title}: none"]
    if isinstance(document, dict):
        return [f"{title}:"] + [
            f"  {key}: {value if isinstance(value, str) else json.dumps(value, sort_keys=True)}"
            for key, value in sorted(document.items())
        ]
    return [f"{title}: {json.dumps(document, sort_keys=True)}"]


@app.command("list")
@handles_errors
def list_datasets(state: StateOption = None, json_out: JsonOption = False) -> None:
    """Every dataset with its latest version."""
    with _catalog(state) as catalog:
        summaries = catalog.list()
    if json_out:
        emit_json([s.as_dict() for s in summaries])
        return
    if not summaries:
        typer.echo("no datasets yet: a dataset appears when a run commits its first version")
        return
    from rich.table import Table

    from vaultline.cli.render import console

    table = Table("dataset", "latest", "retained", "rows", "committed", "run")
    for s in summaries:
        table.add_row(
            s.name,
            str(s.latest_version),
            f"{s.retained} of {s.versions}",
            f"{s.row_count:,}",
            s.latest_committed_at,
            s.latest_run_id or "-",
        )
    console.print(table)


@app.command("show")
@handles_errors
def show(
    ref: Annotated[
        str, typer.Argument(metavar="DATASET[@VERSION]", help="A dataset, latest version unless @N.")
    ],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """One version: its files (sha256, rows), schema, classifications, protections, encryption, run."""
    with _catalog(state) as catalog:
        name, number = catalog.parse_ref(ref)
        record = catalog.version(name, number)
        files = catalog.files(name, number)
    if json_out:
        emit_json({**record.as_dict(), "files": [f.as_dict() for f in files]})
        return
    from vaultline.cli.render import console

    console.print(
        f"{record.dataset}@{record.version} ({record.status}): committed {record.committed_at} "
        f"by run {record.run_id or '-'}, {record.row_count:,} rows in {len(files)} file(s)"
    )
    # One line per file, never a table: locations and digests are long and must not be cut.
    console.print("files:", soft_wrap=True)
    for entry in files:
        console.print(
            f"  {entry.location}  rows {entry.rows:,}  bytes {entry.bytes:,}  sha256 {entry.sha256}",
            soft_wrap=True,
        )
    for title, document in (
        ("schema", record.schema),
        ("classifications", record.classifications),
        ("protections", record.protections),
        ("encryption", record.encryption),
    ):
        console.print("\n".join(_document_lines(title, document)))
    console.print(f"watermark: {'set (value not shown)' if record.watermark is not None else 'none'}")


@app.command("history")
@handles_errors
def history(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Every version of a dataset, newest first, vacuumed ones included (the audit trail)."""
    with _catalog(state) as catalog:
        records = catalog.history(dataset)
    if json_out:
        emit_json([r.as_dict() for r in records])
        return
    from rich.table import Table

    from vaultline.cli.render import console

    table = Table("version", "status", "committed", "rows", "run", "vacuumed")
    for r in records:
        table.add_row(
            str(r.version),
            r.status,
            r.committed_at,
            f"{r.row_count:,}",
            r.run_id or "-",
            r.vacuumed_at or "-",
        )
    console.print(table)


@handles_errors
def gc(
    grace: Annotated[
        str,
        typer.Option(
            "--grace",
            help="Only files older than this, and only runs that ended longer ago than this (e.g. 90m, "
            "24h, 7d): longer than any run of another host, and long enough to look into a failed run "
            "(this host's live runs are kept whatever their age).",
        ),
    ] = "24h",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Delete files no committed dataset version references, and what runs that never committed left.

    Every directory that holds a dataset's files is swept (not its subdirectories) for the outputs and
    temp files of crashed runs, recognised by the names runs give them; the encrypted spills killed
    runs left are removed too, and runs whose process ended without finishing them are marked
    abandoned. Runs that ended without committing (failed, or abandoned: killed) also lose, once the
    grace period since their end has passed, their landing copies (`<landing>/<run id>/`: raw input,
    encrypted, that nothing references) and their quarantine file (`<run id>.parquet`); a committed
    run's landing copies (the raw zone) and quarantine file are never touched."""
    from vaultline.catalog.run_leftovers import sweep as sweep_runs
    from vaultline.catalog.runs import RunCatalog
    from vaultline.state import State
    from vaultline.storage.spill import sweep

    seconds = parse_duration(grace)
    spill_dir = State.existing(state).spill_dir
    with (
        _catalog(state) as catalog,
        audited(state, "gc", details={"dry_run": dry_run, "grace_seconds": seconds}) as operation,
    ):
        with RunCatalog(catalog.url) as runs:
            live = runs.live()  # their files exist before their commit, whatever their age
            # first: a killed run's files are swept as an abandoned run's in this same pass
            abandoned = [] if dry_run else runs.abandon_dead()
            # a run killed before any version landed in its output directory left files only runs know of
            roots = [*catalog.roots(), *sorted(runs.output_roots())]
            result = catalog.gc(roots, grace_seconds=seconds, dry_run=dry_run, live_runs=live)
            ended = runs.ended_without_commit(with_dead=dry_run)  # a dry run counts the dead as abandoned
        leftovers = sweep_runs(ended, grace_seconds=seconds, dry_run=dry_run, live=live)
        spills = sweep(spill_dir, older_than=seconds, dry_run=dry_run) if spill_dir.is_dir() else 0
        operation.details.update(
            files_deleted=result.files_deleted, files_failed=result.files_failed, spills_deleted=spills,
            runs_abandoned=len(abandoned), landing_copies_deleted=leftovers.landing_copies_deleted,
            quarantine_files_deleted=leftovers.quarantine_files_deleted,
            run_files_failed=leftovers.run_files_failed,
        )  # fmt: skip
    if json_out:
        emit_json({**result.as_dict(), "spills_deleted": spills, "runs_abandoned": abandoned,
                   **leftovers.as_dict()})  # fmt: skip
    else:
        typer.echo(_gc_line(result, leftovers, grace=grace, spills=spills, abandoned=len(abandoned)))
    failed = result.files_failed + leftovers.run_files_failed
    if failed:
        typer.echo(f"error: {failed} file(s) could not be deleted or listed (see the log)", err=True)
        raise typer.Exit(1)


def _gc_line(result: GcResult, leftovers: LeftoverResult, *, grace: str, spills: int, abandoned: int) -> str:
    verb = "would delete" if result.dry_run else "deleted"
    copies = leftovers.landing_copies_deleted
    return (
        f"gc: {result.files_scanned} file(s) under {len(result.roots)} dataset "
        f"{'directory' if len(result.roots) == 1 else 'directories'}; {verb} "
        f"{result.files_deleted} ({result.bytes_deleted:,} bytes); kept {result.files_referenced} "
        f"referenced and {result.files_young} younger than {grace}; {verb} {spills} spill(s) "
        f"of ended runs; marked {abandoned} run(s) whose process ended abandoned; {verb} {copies} landing "
        f"cop{'y' if copies == 1 else 'ies'} and {leftovers.quarantine_files_deleted} quarantine file(s) "
        f"of {len(leftovers.ended_runs_swept)} run(s) that ended without committing (kept those of "
        f"{leftovers.ended_runs_young} that ended within {grace})"
    )


@handles_errors
def vacuum(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    keep: Annotated[int, typer.Option("--keep", min=1, help="Retain the newest N versions.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Delete the files only versions older than the newest N reference; their records stay (audit)."""
    from vaultline.catalog.dataset_records import check_name

    check_name(dataset)  # a malformed name is named as such, before the vacuum is audited
    with (
        _catalog(state) as catalog,
        audited(state, "vacuum", resource=dataset, details={"keep": keep, "dry_run": dry_run}) as operation,
    ):
        result = catalog.vacuum(dataset, keep, dry_run=dry_run)
        operation.details.update(versions=len(result.vacuumed), files_deleted=result.files_deleted)
    if json_out:
        emit_json(result.as_dict())
    else:
        verb = "would vacuum" if dry_run else "vacuumed"
        versions = ", ".join(map(str, result.vacuumed)) or "none"
        typer.echo(
            f"{dataset}: {verb} version(s) {versions}; {result.files_deleted} file(s), "
            f"{result.bytes_deleted:,} bytes; retained {', '.join(map(str, result.retained))}"
        )
    if result.files_failed:
        typer.echo(f"error: {result.files_failed} file(s) could not be deleted (gc retries them)", err=True)
        raise typer.Exit(1)
