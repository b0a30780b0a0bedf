"""Parquet files, through Polars' native scan (every file of a glob must have the same schema)."""

from __future__ import annotations

import polars as pl

from vaultline.engines.polars.base import ROW_ID
from vaultline.engines.polars.sources.convert import split_valid
from vaultline.engines.polars.sources.ingest import Ingest, check_names, where
from vaultline.engines.polars.sources.input_files import (
    check_unchanged,
    fingerprint_files,
    io_error,
    no_inspection,
)
from vaultline.errors import SourceError, is_transient
from vaultline.spec.sources import Source
from vaultline.storage import locations


def read_parquet(name: str, source: Source, files: list[str]) -> Ingest:
    fingerprints, inputs, _ = fingerprint_files(name, files, no_inspection)
    options = locations.polars_storage_options(files[0])
    first: pl.Schema | None = None
    held = 0
    for location in files:
        try:
            file = pl.scan_parquet(location, storage_options=options, glob=False)
            schema = file.collect_schema()
            held += int(file.select(pl.len()).collect().item())  # from the footer: no column is read
        except (pl.exceptions.PolarsError, OSError) as exc:
            if is_transient(exc):
                raise io_error(name, location, exc) from None
            raise SourceError(
                f"{location} is not a readable Parquet file ({type(exc).__name__})",
                hint="check that the file is Parquet and complete",
                where=where(name),
            ) from None
        if first is None:
            first = schema
            check_names(name, first.names(), f"the schema of {location}")
        elif schema != first:
            raise SourceError(
                f"{location} does not have the same columns and types as {files[0]}",
                hint="every file a glob matches must have the same schema",
                where=where(name),
            )
    scan = pl.scan_parquet(files, storage_options=options, row_index_name=ROW_ID, glob=False)
    scan = scan.with_columns(pl.col(ROW_ID).cast(pl.UInt64))
    frame, quarantine = split_valid(name, scan, dict(source.columns or {}), marked=False)

    def records() -> int:
        # Asked once the rows were read (before anything is committed): Polars reads the files itself,
        # so this is where a file replaced since its fingerprint is caught, as the CSV reader does.
        for file in inputs:
            check_unchanged(name, file)
        return held

    return Ingest(frame, quarantine, fingerprints, records=records)
