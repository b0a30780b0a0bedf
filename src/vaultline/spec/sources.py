"""Source declarations: where input rows come from and how to read them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ColumnType = Literal["string", "int64", "float64", "bool", "date", "datetime", "decimal"]


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote: str = Field(default='"', min_length=1, max_length=1)
    encoding: str = "utf-8"
    """Any Python codec name; non-UTF-8 input is transcoded while streaming."""
    header: bool = True
    null_values: list[str] = Field(default_factory=lambda: [""])

    @model_validator(mode="after")
    def _distinct(self) -> CsvOptions:
        if self.delimiter in "\r\n" or self.quote in "\r\n":
            raise ValueError("the delimiter and the quote cannot be line breaks")
        if self.delimiter == self.quote:
            raise ValueError("the delimiter and the quote must be different characters")
        return self


class Source(BaseModel):
    """One input. Files: csv, parquet or jsonl on a local path or s3:// URL (globs allowed).
    Tables: postgres with `url` plus `table` or `query`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, populate_by_name=True
    )
    format: Literal["csv", "parquet", "jsonl", "postgres"]
    path: str | None = None
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
    (AWS Encryption SDK format, key `vaultline-landing`), under `<landing>/<run id>/`: the raw zone of
    a data lake, never in the clear. Files only (not postgres)."""

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
        else:
            if not self.path:
                raise ValueError(f"a {self.format} source needs `path`")
            if self.url or self.table or self.query:
                raise ValueError(f"a {self.format} source takes `path`, not `url`, `table` or `query`")
        return self
