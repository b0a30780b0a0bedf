"""What reading a source yields (`Ingest`), and the rules every format shares for naming columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from vaultline.catalog.bookmarks import Watermark
from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.errors import SourceError

RAW = "__vl_raw"
"""Quarantine column holding the raw line (unsplittable rows) or the raw text of the field that failed."""

SET_ASIDE: dict[str, pl.DataType] = {ROW_ID: pl.UInt64(), REASON: pl.String(), RAW: pl.String()}
"""The columns a reader adds for the records it sets aside (null on the rows it read)."""

_RESERVED = ("__vl", "_vl")


@dataclass
class Ingest:
    frame: pl.LazyFrame
    """Valid rows, typed per the schema, plus ROW_ID (UInt64)."""
    quarantine: pl.LazyFrame | None
    """Malformed rows: ROW_ID, REASON, RAW and the columns as read; None when nothing can be malformed."""
    fingerprints: list[dict[str, Any]] = field(default_factory=list)
    """Per input file/object: location, sha256, bytes (PostgreSQL: location, sha256, rows, bytes=None)."""
    nothing_new: bool = False
    """An incremental source whose bookmark says every input was already delivered (frame is empty)."""
    watermark: Watermark | None = field(default=None, repr=False)
    """An incremental table: the newest value of its monotonic column this run reads (a data value)."""
    stable_order: bool = True
    """Whether two reads give the same rows in the same order: files, fingerprinted before they are
    read, do; a PostgreSQL query does not (SQL promises no order without ORDER BY, and PostgreSQL's
    synchronized scans start a second scan where a running one is)."""
    records: Callable[[], int | None] = lambda: None
    """How many rows the source held, valid and set aside, counted by the reader itself (a Parquet
    footer, the records an IO plugin produced in its last read to the end; None: not read to its end):
    what the run's outputs and quarantine must add up to."""


def where(name: str) -> str:
    return f"source {name}"


def check_names(name: str, columns: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for column in columns:
        if not column:
            raise SourceError(f"{what} has an empty column name", hint="name every column", where=where(name))
        if column.startswith(_RESERVED):
            raise SourceError(
                f"{what} has column {column!r}, a name reserved for Vaultline's own columns",
                hint="rename the column (names starting with _vl or __vl are reserved)",
                where=where(name),
            )
        if column in seen:
            raise SourceError(
                f"{what} has the column name {column!r} twice",
                hint="give every column a distinct name",
                where=where(name),
            )
        seen.add(column)
