"""Schema inference for the crawler and for drift checks: column names, logical types, nullability.

`crawl_source` reads a sample of a source (the first `sample_rows` rows, like Polars'
`infer_schema_length` and Glue's crawler; None: every row) through `read_source`, so globs, S3, encodings
and malformed rows behave exactly as in a run. Parquet, JSON Lines and PostgreSQL carry their types; a
CSV column the run would read as text gets the narrowest type every sampled value converts to, tried in
the order int64, float64, bool, date, datetime with the very conversions a run applies to a declared type
(`sources.convert.parse_text`): so declaring the crawled type in a spec never quarantines a sampled row.
Digits with a leading zero (ZIP codes, account numbers) stay `string`: as a number they would lose it.

Everything is computed as whole-column aggregates in one pass (counts, never values).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from polars.datatypes import DataTypeClass

from vaultline.catalog.tables import TableColumn
from vaultline.engines.polars.base import ROW_ID
from vaultline.engines.polars.sources import Ingest, read_source
from vaultline.engines.polars.sources.convert import parse_text, refine
from vaultline.spec.sources import ColumnType, Source
from vaultline.storage import locations

DEFAULT_SAMPLE_ROWS = 10_000
TEXT_CANDIDATES: tuple[ColumnType, ...] = ("int64", "float64", "bool", "date", "datetime")
"""Types tried for a CSV text column, narrowest first: the first that every sampled value converts to wins."""
_LEADING_ZERO = r"^\s*[+-]?0[0-9]"
_NUMERIC: frozenset[str] = frozenset({"int64", "float64"})


@dataclass(frozen=True)
class Crawl:
    """What a crawl found: the schema, the sample it came from, and the inputs' fingerprints."""

    location: str
    format: str
    columns: list[TableColumn]
    rows_sampled: int
    inputs: list[dict[str, Any]] = field(default_factory=list)


def logical_type(dtype: pl.DataType) -> str:
    """The logical type of a Polars type: the spec's column types where one fits, else a structural name."""
    if dtype.is_integer():
        return "int64"
    if dtype.is_float():
        return "float64"
    if isinstance(dtype, pl.Decimal):
        return "decimal"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, pl.Duration):
        return "duration"
    if isinstance(dtype, pl.List | pl.Array):
        return f"list<{logical_type(_instance(dtype.inner))}>"
    if isinstance(dtype, pl.Struct):
        fields = ",".join(f"{f.name}:{logical_type(_instance(f.dtype))}" for f in dtype.fields)
        return f"struct<{fields}>"
    simple: dict[type[pl.DataType], str] = {
        pl.String: "string",
        pl.Categorical: "string",
        pl.Enum: "string",
        pl.Null: "string",
        pl.Boolean: "bool",
        pl.Date: "date",
        pl.Time: "time",
        pl.Binary: "binary",
    }
    return simple.get(type(dtype), "unknown")


def _instance(dtype: pl.DataType | DataTypeClass) -> pl.DataType:
    """Nested types may hold a type class (pl.Int64) rather than an instance (pl.Int64())."""
    return dtype() if isinstance(dtype, DataTypeClass) else dtype


def _data_schema(ingest: Ingest) -> dict[str, pl.DataType]:
    return {c: t for c, t in ingest.frame.collect_schema().items() if c != ROW_ID}


def _text_columns(source: Source, schema: dict[str, pl.DataType]) -> list[str]:
    """CSV columns read as text only because nothing typed them (no `schema` entry, no `infer_schema`):
    the ones whose type is inferred here and does not count for drift."""
    if source.format != "csv" or source.infer_schema:
        return []
    declared = source.columns or {}
    return [c for c, t in schema.items() if t == pl.String and c not in declared]


def _parsed(column: str, kind: ColumnType) -> pl.Expr:
    first = parse_text(pl.col(column), kind)
    return refine(pl.col(column), first) if kind == "datetime" else first


def _aggregates(schema: dict[str, pl.DataType], text: list[str]) -> list[pl.Expr]:
    exprs = [pl.len().alias("__vl_rows")]
    for index, column in enumerate(schema):
        exprs.append(pl.col(column).null_count().alias(f"__vl_nulls_{index}"))
    for index, column in enumerate(text):
        present = pl.col(column).is_not_null()
        exprs.append(pl.col(column).str.contains(_LEADING_ZERO).any().alias(f"__vl_zero_{index}"))
        exprs += [
            (present & _parsed(column, kind).is_null()).sum().alias(f"__vl_bad_{index}_{kind}")
            for kind in TEXT_CANDIDATES
        ]
    return exprs


def _text_type(stats: dict[str, Any], index: int, rows: int, nulls: int) -> str:
    if rows == nulls:  # nothing but nulls: no evidence of any type
        return "string"
    zero = bool(stats[f"__vl_zero_{index}"])
    for kind in TEXT_CANDIDATES:
        if stats[f"__vl_bad_{index}_{kind}"] == 0 and not (zero and kind in _NUMERIC):
            return kind
    return "string"


def crawl_source(name: str, source: Source, *, sample_rows: int | None = DEFAULT_SAMPLE_ROWS) -> Crawl:
    """Infer a source's schema from its first `sample_rows` valid rows (None: all of them)."""
    ingest = read_source(name, source)
    schema = _data_schema(ingest)
    text = _text_columns(source, schema)
    frame = ingest.frame if sample_rows is None else ingest.frame.head(sample_rows)
    stats = frame.select(_aggregates(schema, text)).collect(engine="streaming").row(0, named=True)
    rows = int(stats["__vl_rows"])
    text_index = {column: index for index, column in enumerate(text)}
    columns = []
    for index, (column, dtype) in enumerate(schema.items()):
        nulls = int(stats[f"__vl_nulls_{index}"])
        if column in text_index:
            kind = _text_type(stats, text_index[column], rows, nulls)
        else:
            kind = logical_type(dtype)
        # An empty sample measured nothing: leave nullability unknown rather than claim "not null".
        columns.append(TableColumn(column, kind, nulls > 0 if rows else None))
    return Crawl(table_location(source), source.format, columns, rows, list(ingest.fingerprints))


def table_location(source: Source) -> str:
    """Where a table's data is: the source's path or glob (local ones made absolute, as runs read them),
    or `postgres:<table>` / `postgres:query` (never the URL: it names a host and user)."""
    if source.path is None:
        return f"postgres:{source.table}" if source.table else "postgres:query"
    if locations.is_remote(source.path):
        return source.path
    return os.path.abspath(os.path.expanduser(source.path))


def run_columns(source: Source, ingest: Ingest) -> tuple[list[TableColumn], set[str]]:
    """The columns a run reads from a planned source (no data is read), and those whose type counts
    for drift: all of them, except CSV columns read as text only because nothing typed them."""
    schema = _data_schema(ingest)
    text = set(_text_columns(source, schema))
    columns = [TableColumn(column, logical_type(dtype)) for column, dtype in schema.items()]
    return columns, {c.name for c in columns if c.name not in text}
