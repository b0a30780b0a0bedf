"""Schema drift between runs: each source's columns against the catalog table it is registered as.

A source is registered as table `catalog_table` (default `<pipeline>.<source>`) on its first run; every
later run compares the columns it is about to read (names and types, from the planned read: no row is
read) with the table's latest version, before any row is read:

- added or removed columns always count;
- a type counts where the run's type comes from the data or the spec: Parquet, JSON Lines and PostgreSQL
  columns, CSV columns declared in `schema:` or typed by `infer_schema`. A CSV column read as text only
  because nothing typed it compares by name: its text says nothing of the data's type, and the table
  keeps the type a crawl inferred for it;
- nullability is not compared (a run does not scan its data before reading it; crawls measure it).

`schema_drift: fail` (default) stops the run with `SchemaDriftError`; `evolve` records a new table
version with the change list. Nothing evolves when any source fails: a run that stops leaves every
table as it found it (first registrations excepted). The report section and errors hold names and
types only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vaultline.errors import TerminalError

if TYPE_CHECKING:
    from vaultline.catalog.tables import TableUpdate
    from vaultline.engines.polars.sources import Ingest
    from vaultline.spec.models import Pipeline
    from vaultline.spec.sources import Source
    from vaultline.state import State

MAX_TABLE_NAME = 128


class SchemaDriftError(TerminalError):
    """A source's columns differ from its catalog table's and its policy is `schema_drift: fail`.

    `report` is the drift section as far as it was computed (value-free), for the failed run's report."""

    def __init__(self, message: str, *, hint: str, where: str, report: dict[str, dict[str, Any]]) -> None:
        super().__init__(message, hint=hint, where=where)
        self.report = report


def table_name(pipeline: Pipeline, source_name: str, source: Source) -> str:
    """The catalog table a source is registered as."""
    return source.catalog_table or f"{pipeline.name}.{source_name}"


def check_drift(
    pipeline: Pipeline, state: State, ingests: Mapping[str, Ingest], run_id: str
) -> dict[str, dict[str, Any]]:
    """Register or compare every source's table; returns the report section
    `{source: {"table", "version", "changes": [...], "action": "registered|unchanged|evolved"}}`
    (`skipped`, version None: an incremental source with nothing new, whose read is not planned).

    Raises `SchemaDriftError` naming every drifted source whose policy is `fail` (none evolves then)."""
    from vaultline.catalog.tables import TableCatalog
    from vaultline.engines.polars.crawl import run_columns, table_location

    names = {source: table_name(pipeline, source, pipeline.sources[source]) for source in ingests}
    for source, name in names.items():
        if len(name) > MAX_TABLE_NAME:  # pipeline and source names fit alone, not always together
            raise TerminalError(
                f"the default catalog table name <pipeline>.<source> is over {MAX_TABLE_NAME} characters",
                hint="set a shorter `catalog_table:` on the source",
                where=f"source {source}",
            )
    # An incremental source with nothing new plans no read, so it has no columns to compare.
    skipped = {source for source, ingest in ingests.items() if ingest.nothing_new}
    planned = {
        source: run_columns(pipeline.sources[source], ingest)
        for source, ingest in ingests.items()
        if source not in skipped
    }

    with TableCatalog(state.catalog_url) as catalog:

        def record(source: str, *, evolve: bool) -> TableUpdate:
            spec = pipeline.sources[source]
            columns, typed = planned[source]
            return catalog.record(
                names[source],
                location=table_location(spec),
                file_format=spec.format,
                columns=columns,
                source="run",
                run_id=run_id,
                typed=typed,
                evolve=evolve,
            )

        # First pass writes nothing but first registrations; only once no `fail` source drifted do the
        # `evolve` ones get their new versions.
        updates = {source: record(source, evolve=False) for source in planned}
        drifted = [source for source, update in updates.items() if update.action == "drifted"]
        failed = [source for source in drifted if pipeline.sources[source].schema_drift == "fail"]
        if failed:
            raise _drift_error(failed, updates)
        for source in drifted:
            updates[source] = record(source, evolve=True)
    section = _section(updates)
    for source in sorted(skipped):
        section[source] = {"table": names[source], "version": None, "changes": [], "action": "skipped"}
    return section


def _section(updates: Mapping[str, TableUpdate]) -> dict[str, dict[str, Any]]:
    return {
        source: {
            "table": update.name,
            "version": update.version,
            "changes": [change.as_dict() for change in update.changes],
            "action": update.action,
        }
        for source, update in updates.items()
    }


def _drift_error(failed: list[str], updates: Mapping[str, TableUpdate]) -> SchemaDriftError:
    lines = [
        f"source {s} (table {updates[s].name} version {updates[s].version}): "
        + "; ".join(change.render() for change in updates[s].changes)
        for s in failed
    ]
    first = updates[failed[0]].name
    return SchemaDriftError(
        "the columns differ from the catalog table: " + " | ".join(lines),
        hint=(
            "if the change is expected, accept it: set `schema_drift: evolve` on the source, or register "
            f"the new schema with `vaultline crawl FILE --name {first}`, FILE one input in the new layout "
            f"(a glob's older files would register the old one; history: vaultline catalog history {first})"
        ),
        where=", ".join(f"source {s}" for s in failed),
        report=_section(updates),
    )
