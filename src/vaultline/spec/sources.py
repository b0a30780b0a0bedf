"""Source declarations: where input rows come from and how to read them."""

from __future__ import annotations

import codecs
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from vaultline.input_model import InputModel

ColumnType = Literal["string", "int64", "float64", "bool", "date", "datetime", "decimal"]
TableName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
"""A catalog table's name: letters, digits, '_', '.', '-' (first a letter or digit), up to 128 characters."""


class CsvOptions(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote: str = Field(default='"', min_length=1, max_length=1)
    encoding: str = "utf-8"
    """Any Python codec name; non-UTF-8 input is transcoded while streaming."""
    header: bool = True
    null_values: list[str] = Field(default_factory=lambda: [""])

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError("is not a codec Python knows (e.g. utf-8, latin-1, cp1252, utf-16)") from None
        return value

    @model_validator(mode="after")
    def _distinct(self) -> CsvOptions:
        if self.delimiter in "\r\n" or self.quote in "\r\n":
            raise ValueError("the delimiter and the quote cannot be line breaks")
        if self.delimiter == self.quote:
            raise ValueError("the delimiter and the quote must be different characters")
        return self


class Incremental(InputModel):
    """A job bookmark: each run reads only what earlier committed runs of the pipeline did not.

    `by: files` (csv, parquet, jsonl): files already delivered into a committed output are skipped; input
    files are treated as immutable once read, as Glue's bookmarks treat them. `by: column` (postgres):
    only rows whose `column` is above the last committed maximum are read, up to the maximum seen when the
    run planned its read, so rows inserted during a run wait for the next one. The column must grow
    monotonically (a sequence, an ingestion timestamp)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    by: Literal["files", "column"]
    column: str | None = None
    """The monotonic column (`by: column` only)."""

    @model_validator(mode="after")
    def _column(self) -> Incremental:
        if (self.by == "column") != (self.column is not None):
            raise ValueError("`column` is required with `by: column` and not allowed with `by: files`")
        return self


class Source(InputModel):
    """One input. Files: csv, parquet or jsonl on a local path or s3:// URL (globs allowed).
    Tables: postgres with `url` plus `table` or `query`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, populate_by_name=True
    )
    format: Literal["csv", "parquet", "jsonl", "postgres"]
    path: str | None = Field(default=None, min_length=1)
    """Local path or s3:// URL; a glob reads every match."""
    columns: dict[str, ColumnType] | None = Field(default=None, alias="schema")
    """Explicit schema. For CSV, columns not listed are read as text; without a schema every CSV column is
    text (identifiers keep their leading zeros) unless `infer_schema` is set."""
    infer_schema: bool = False
    csv: CsvOptions = Field(default_factory=CsvOptions)
    url: str | None = None
    """postgres: a SQLAlchemy/libpq URL without a password (use PGPASSWORD or ~/.pgpass)."""
    table: str | None = None
    query: str | None = None
    batch_rows: int = Field(default=100_000, ge=1000)
    """Rows per batch when streaming a table."""
    landing: str | None = None
    """Directory (local or s3://) that keeps an encrypted copy of every input file a run reads
    (AWS Encryption SDK format, key `vaultline-landing`), as `<landing>/<run id>/<source>/<hash>-<file
    name>.enc` (`<hash>`: 12 hex digits of the SHA-256 of the input's location, so inputs sharing a file
    name keep a copy each; the run report maps each input to its copy): the raw zone of a data lake,
    never in the clear. A committed run's copies stay; `vaultline gc` removes those of a run that failed
    or was killed once its grace period has passed. Files only (not postgres)."""
    catalog_table: TableName | None = None
    """The catalog table this source is registered as (default `<pipeline>.<source>`); registered on the
    first run, compared with the source's schema on every later run (`vaultline catalog show`)."""
    schema_drift: Literal["fail", "evolve"] = "fail"
    """When the columns differ from the catalog table's (added, removed, retyped): `fail` stops the run
    before a row is read; `evolve` records a new table version and goes on."""
    incremental: Incremental | None = None
    """Read only new input (a job bookmark, advanced in the same catalog transaction as the outputs)."""

    @model_validator(mode="after")
    def _where(self) -> Source:
        if self.format == "postgres":
            if not self.url:
                raise ValueError("a postgres source needs `url`")
            if (self.table is None) == (self.query is None):
                raise ValueError("a postgres source needs exactly one of `table` or `query`")
            if self.path:
                raise ValueError("a postgres source takes `url` and `table`/`query`, not `path`")
            if self.landing:
                raise ValueError("`landing` keeps copies of input files; a postgres source has none")
            if self.incremental and self.incremental.by != "column":
                raise ValueError("a postgres source is read incrementally `by: column`")
        else:
            if not self.path:
                raise ValueError(f"a {self.format} source needs `path`")
            if self.url or self.table or self.query:
                raise ValueError(f"a {self.format} source takes `path`, not `url`, `table` or `query`")
            if self.incremental and self.incremental.by != "files":
                raise ValueError(f"a {self.format} source is read incrementally `by: files`")
        return self
