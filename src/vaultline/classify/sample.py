"""Sample a source for classification: a fraction of its rows, spread over the whole input.

A row is in the sample when a hash of its position falls under `fraction` (deterministic: the same
input gives the same sample), as AWS Glue's sensitive-data detection samples a portion of rows.
Small inputs would give too few rows, so the first `MIN_ROWS` rows are always kept too, and used
(with the drawn ones) when the fraction yields fewer than `MIN_ROWS`; a sample above `MAX_ROWS` is
thinned evenly to it
(enough for a match fraction within about 1% at 95% confidence). The whole input is still parsed
once (a CSV has no index), but only sampled rows are kept in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from vaultline.engines.polars.base import ROW_ID
from vaultline.engines.polars.sources import Ingest, read_source
from vaultline.errors import SourceError
from vaultline.spec.sources import CsvOptions, Source

DEFAULT_FRACTION = 0.1
MIN_ROWS = 1_000
MAX_ROWS = 20_000
_SCALE = 1_000_000
_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
            ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}  # fmt: skip


@dataclass
class Sample:
    frame: pl.DataFrame
    fingerprints: list[dict[str, object]]


def named_source(
    reference: str, file_format: str | None = None, params: Mapping[str, str] | None = None
) -> tuple[str, Source]:
    """`pipeline.yaml:transactions` → that source of the spec (`params` override the spec's); anything
    else is a path, glob or s3:// URL, named by itself, whose format comes from `file_format` or its
    extension (`classify`, `init` and `crawl` take either)."""
    head, sep, name = reference.rpartition(":")
    if not (sep and head.endswith((".yaml", ".yml")) and name and Path(head).is_file()):
        return reference, source_for(reference, file_format)  # errors name the location
    from vaultline.spec.loader import load

    sources = load(head, dict(params or {})).pipeline.sources
    if name not in sources:
        raise SourceError(
            f"spec {head} has no source {name!r}", hint=f"its sources are: {', '.join(sources) or 'none'}"
        )
    return name, sources[name]


def source_for(location: str, file_format: str | None = None, delimiter: str | None = None) -> Source:
    """A Source for a file or URL, its format from the extension unless given."""
    if file_format is None:
        suffix = "." + location.rsplit(".", 1)[-1].lower() if "." in location.rsplit("/", 1)[-1] else ""
        file_format = _FORMATS.get(suffix)
        if file_format is None:
            raise SourceError(
                f"cannot tell the format of {location!r} from its extension",
                hint="pass --source-format csv|parquet|jsonl",
            )
    csv = CsvOptions(delimiter=delimiter or ("\t" if location.endswith(".tsv") else ","))
    return Source.model_validate({"format": file_format, "path": location, "csv": csv})


def head_sample(name: str, source: Source, rows: int = MAX_ROWS, *, ingest: Ingest | None = None) -> Sample:
    """The first `rows` rows: what a pipeline's guardrail classifies (parsing stops there)."""
    ingest = ingest or read_source(name, source)
    frame = ingest.frame.head(rows).collect(engine="streaming")
    visible = [c for c in frame.columns if not c.startswith(("__vl", "_vl"))]
    return Sample(frame.select(visible), ingest.fingerprints)


def sample_source(name: str, source: Source, fraction: float = DEFAULT_FRACTION) -> Sample:
    if not 0 < fraction <= 1:
        raise SourceError(f"the sample fraction {fraction} is not in (0, 1]", hint="use e.g. 0.1 for 10%")
    ingest = read_source(name, source)
    drawn = pl.col(ROW_ID).hash(seed=20261123) % _SCALE < int(fraction * _SCALE)
    head = pl.col(ROW_ID) < MIN_ROWS
    frame = ingest.frame.with_columns(drawn.alias("__vl_drawn")).filter(pl.col("__vl_drawn") | head)
    rows = frame.collect(engine="streaming")
    drawn_rows = rows.filter(pl.col("__vl_drawn"))
    chosen = drawn_rows if drawn_rows.height >= MIN_ROWS else rows
    if chosen.height > MAX_ROWS:
        chosen = chosen.gather_every(-(-chosen.height // MAX_ROWS))
    visible = [c for c in chosen.columns if not c.startswith(("__vl", "_vl"))]
    return Sample(chosen.select(visible), ingest.fingerprints)
