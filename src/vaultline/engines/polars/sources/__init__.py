"""Read a declared source into a lazy frame of valid rows plus a lazy frame of quarantined rows.

Every format ends in the same shape (`ingest.Ingest`):

- `Ingest.frame`: the valid rows, typed per `source.columns`, plus `ROW_ID` (UInt64: the 0-based position of
  the record within the source, files of a glob in sorted order, quarantined records and not blank lines
  counted, so a quarantined row can be traced back to the input);
- `Ingest.quarantine`: the records that could not be read: `ROW_ID`, `REASON` (`csv:expected 7 fields,
  got 8`, `json:Expecting value`, `type:amount`), `RAW` (the raw record, or the raw text of the first field
  that failed to convert) and the source's columns as read (text for CSV/JSONL; null when the record could
  not be split). Nothing is dropped silently;
- `Ingest.fingerprints`: the SHA-256 and size of every input file, computed now by a second streamed read,
  or for PostgreSQL a hash of the query text and the row count.

One module per format (`csv_reader`, `jsonl_reader`, `parquet_reader`, `postgres_reader`), each planning a
scan of what it reads; `input_files` lists, fingerprints and reads files; `convert` applies the declared
types and splits valid rows from quarantined ones; `plugin.IoPlugin` is what every streamed source does
with Polars' requests, so a reader says only how it produces its batches. Text is converted to the
declared types non-strictly; a non-null text that does not convert sends its row to quarantine with
`type:<column>`. Valid and quarantined rows share one cached scan, so collecting both together (as the
executor does) reads the source once. Errors never quote data values.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pyarrow as pa

from vaultline.catalog.bookmarks import SourceBookmark
from vaultline.engines.polars.base import ROW_ID
from vaultline.engines.polars.sources.csv_reader import read_csv
from vaultline.engines.polars.sources.ingest import RAW, Ingest
from vaultline.engines.polars.sources.input_files import expand
from vaultline.engines.polars.sources.jsonl_reader import read_jsonl
from vaultline.engines.polars.sources.parquet_reader import read_parquet
from vaultline.engines.polars.sources.postgres_reader import read_postgres
from vaultline.errors import SourceError, VaultlineError, without_values
from vaultline.spec.sources import Source

__all__ = ["RAW", "Ingest", "read_source"]

_FILE_READERS: dict[str, Callable[[str, Source, list[str]], Ingest]] = {
    "csv": read_csv,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
}


def read_source(name: str, source: Source, bookmark: SourceBookmark | None = None) -> Ingest:
    """Plan the read of one source. Files are listed and fingerprinted now; rows flow when collected.

    With a `bookmark` (an incremental source) only what it has not delivered yet is planned."""
    try:
        if source.format == "postgres":
            return read_postgres(name, source, bookmark)
        assert source.path is not None  # the Source model guarantees it for file formats
        files = expand(name, source.path)
        if bookmark is not None:
            files = [location for location in files if location not in bookmark.files]
            if not files:
                return Ingest(pl.LazyFrame(schema={ROW_ID: pl.UInt64()}), None, nothing_new=True)
        return _FILE_READERS[source.format](name, source, files)
    except VaultlineError:
        raise
    except (pl.exceptions.PolarsError, pa.ArrowException) as exc:
        raise SourceError(
            f"cannot be read: {type(exc).__name__}: {without_values(str(exc))}",
            hint="check that the files are valid " + source.format,
            where=f"source {name}",
        ) from None
