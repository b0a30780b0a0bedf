"""Read a declared source into a lazy frame of valid rows plus a lazy frame of quarantined rows.

Every format ends in the same shape:

- `Ingest.frame`: the valid rows, typed per `source.columns`, plus `ROW_ID` (UInt64: the 0-based position of
  the record within the source, files of a glob in sorted order, quarantined records and not blank lines
  counted, so a quarantined row can be traced back to the input);
- `Ingest.quarantine`: the records that could not be read: `ROW_ID`, `REASON` (`csv:expected 7 fields,
  got 8`, `json:Expecting value`, `type:amount`), `RAW` (the raw record, or the raw text of the first field
  that failed to convert) and the source's columns as read (text for CSV/JSONL; null when the record could
  not be split). Nothing is dropped silently;
- `Ingest.fingerprints`: the SHA-256 and size of every input file, computed now by a second streamed read,
  or for PostgreSQL a hash of the query text and the row count.

CSV is parsed by pyarrow and streamed into Polars through an IO plugin, so memory stays bounded whatever the
file size. pyarrow reports the row number of a malformed (ragged) record only when it parses serially, so
each block of the file is cut at record ends (newlines after an even number of quote characters, RFC 4180)
into one piece per core, and the pieces are parsed serially, in parallel threads. A cut that lands inside a
quoted field (possible only with stray quote characters) is detected, and the rest of that file is parsed
by pyarrow's serial streaming reader: slower, never wrong. JSON Lines are decoded by Polars block by block;
a block that fails is bisected down to its bad lines. Parquet uses Polars' native scan. PostgreSQL rows are
streamed with a server-side cursor.

Text is converted to the declared types non-strictly; a non-null text that does not convert sends its row
to quarantine with `type:<column>`. Valid and quarantined rows share one cached scan, so collecting both
together (as the executor does) reads the source once. Errors never quote data values.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import itertools
import json
import os
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from polars.io.plugins import register_io_source

from vaultline.catalog.bookmarks import SourceBookmark, Watermark
from vaultline.engines.polars import backpressure
from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.errors import scrub
from vaultline.errors import SourceError, VaultlineError
from vaultline.spec.sources import ColumnType, CsvOptions, Source
from vaultline.storage import locations

RAW = "__vl_raw"
"""Quarantine column holding the raw line (unsplittable rows) or the raw text of the field that failed."""

DECIMAL = pl.Decimal(38, 9)
"""What `decimal` means for text input: up to 29 integer and 9 fractional digits (more fractional digits
are quarantined rather than rounded)."""

DATETIME = pl.Datetime("us")
"""What `datetime` means: microseconds, no time zone; ISO values with an offset are converted to UTC."""

BLOCK_BYTES = 16 << 20
"""Bytes read per block when streaming a file (a block is cut into one piece per core)."""

SERIAL_BLOCK_BYTES = 16 << 20
"""Block size of pyarrow's streaming reader in the serial fallback (a record must fit in one block)."""

_HASH_CHUNK = 8 << 20
_HEAD_BYTES = 1 << 20
"""How much of each file's beginning is inspected (header, inferred types, JSON fields)."""
_VALID = "__vl_valid"
_T = TypeVar("_T")
_RESERVED = ("__vl", "_vl")
_GLOB = re.compile(r"[*?\[]")
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_BOM = codecs.BOM_UTF8
_JSON_SAMPLE_LINES = 10_000

_DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int64": pl.Int64(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": DATETIME,
    "decimal": DECIMAL,
}


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


def read_source(name: str, source: Source, bookmark: SourceBookmark | None = None) -> Ingest:
    """Plan the read of one source. Files are listed and fingerprinted now; rows flow when collected.

    With a `bookmark` (an incremental source) only what it has not delivered yet is planned."""
    try:
        if source.format == "postgres":
            return _read_postgres(name, source, bookmark)
        assert source.path is not None  # the Source model guarantees it for file formats
        files = _expand(name, source.path)
        if bookmark is not None:
            files = [location for location in files if location not in bookmark.files]
            if not files:
                return Ingest(pl.LazyFrame(schema={ROW_ID: pl.UInt64()}), None, nothing_new=True)
        if source.format == "csv":
            return _read_csv(name, source, files)
        if source.format == "jsonl":
            return _read_jsonl(name, source, files)
        return _read_parquet(name, source, files)
    except VaultlineError:
        raise
    except (pl.exceptions.PolarsError, pa.ArrowException) as exc:
        raise SourceError(
            f"cannot be read: {type(exc).__name__}: {scrub(str(exc))}",
            hint="check that the files are valid " + source.format,
            where=f"source {name}",
        ) from None


# --------------------------------------------------------------------------------------------- files


@dataclass(frozen=True)
class _InputFile:
    location: str
    stamp: tuple[Any, ...]
    """What identified the file's content when it was fingerprinted (size, mtime or ETag)."""


def _arrow_message(exc: BaseException) -> str:
    """The kind of a pyarrow error without what follows its first colon (pyarrow quotes row text there)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return scrub(first.split(":", 1)[0])


def _where(name: str) -> str:
    return f"source {name}"


def _io_error(name: str, location: str, exc: BaseException) -> SourceError:
    if isinstance(exc, FileNotFoundError):
        return SourceError(
            f"{location} does not exist", hint="check the path, or the bucket and key", where=_where(name)
        )
    if isinstance(exc, PermissionError):
        return SourceError(
            f"access to {location} was refused",
            hint="check the file permissions, or the S3 credentials' permissions on the bucket",
            where=_where(name),
        )
    if isinstance(exc, IsADirectoryError):
        return SourceError(
            f"{location} is a directory", hint="use a glob such as dir/*.csv", where=_where(name)
        )
    kind = type(exc).__name__
    hint = "check the location and, for s3://, the endpoint (VAULTLINE_S3_ENDPOINT) and network"
    if "Credential" in kind:
        hint = "set AWS credentials (environment, profile or instance role) for the S3 endpoint"
    return SourceError(f"{location} cannot be read ({kind})", hint=hint, where=_where(name))


def _stamp(location: str) -> tuple[Any, ...]:
    if locations.is_remote(location):
        info = locations.filesystem(location).info(location)
        return (info.get("size"), info.get("ETag") or info.get("etag"))
    st = os.stat(location)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _expand(name: str, path: str) -> list[str]:
    """Every file a path or glob names, sorted; local paths made absolute."""
    remote = locations.is_remote(path)
    if not remote:
        path = os.path.abspath(os.path.expanduser(path))
    try:
        fs = locations.filesystem(path)
        if _GLOB.search(path):
            found = fs.glob(path, detail=True)
            names = sorted(n for n, info in found.items() if info.get("type") == "file")
            if not names:
                raise SourceError(
                    f"no file matches {path}",
                    hint="check the pattern and the directory or bucket (directories are not matched)",
                    where=_where(name),
                )
            return [f"s3://{n}" if remote and not n.startswith("s3://") else n for n in names]
        info = fs.info(path)
        if info.get("type") != "file":
            raise IsADirectoryError(path)
        return [path]
    except VaultlineError:
        raise
    except Exception as exc:  # fsspec/s3fs raise many kinds; map them to one message without data
        raise _io_error(name, path, exc) from None


def _open(location: str) -> Any:
    if locations.is_remote(location):
        return locations.filesystem(location).open(location, "rb")
    return open(location, "rb")


@dataclass(frozen=True)
class _Head:
    """The beginning of a file, seen while it was hashed (so reading a header costs no extra request)."""

    data: bytes
    complete: bool
    """The whole file (else `data` may end inside a line, or inside a character)."""


def _fingerprint(
    name: str, location: str, index: int, inspect: Callable[[int, _InputFile, _Head], _T]
) -> tuple[dict[str, Any], _InputFile, _T]:
    """SHA-256 of the file's bytes, streamed in chunks (a second read of the data, kept for lineage);
    `inspect` looks at the file's first bytes meanwhile and returns what the reader needs from them."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        stamp = _stamp(location)
        with _open(location) as handle:
            while chunk := handle.read(_HASH_CHUNK):
                if len(head) < _HEAD_BYTES:
                    head += chunk[: _HEAD_BYTES - len(head)]
                digest.update(chunk)
                size += len(chunk)
    except Exception as exc:
        raise _io_error(name, location, exc) from None
    file = _InputFile(location, stamp)
    seen = inspect(index, file, _Head(head, len(head) == size))
    return {"location": location, "sha256": digest.hexdigest(), "bytes": size}, file, seen


def _fingerprints(
    name: str, files: list[str], inspect: Callable[[int, _InputFile, _Head], _T]
) -> tuple[list[dict[str, Any]], list[_InputFile], list[_T]]:
    """Fingerprint every file (in parallel: hashing releases the GIL)."""
    if len(files) == 1:
        results = [_fingerprint(name, files[0], 0, inspect)]
    else:
        with ThreadPoolExecutor(_workers(), thread_name_prefix="vaultline-sha256") as pool:
            results = list(
                pool.map(lambda item: _fingerprint(name, item[1], item[0], inspect), enumerate(files))
            )
    return [r[0] for r in results], [r[1] for r in results], [r[2] for r in results]


def _nothing(_index: int, _file: _InputFile, _head: _Head) -> None:
    return None


def _check_unchanged(name: str, file: _InputFile) -> None:
    try:
        now = _stamp(file.location)
    except Exception as exc:
        raise _io_error(name, file.location, exc) from None
    if now != file.stamp:
        raise SourceError(
            f"{file.location} changed after it was fingerprinted",
            hint="make sure nothing rewrites the input while a run reads it",
            where=_where(name),
        )


class _Utf8:
    """Incremental conversion of a file's bytes to UTF-8: transcoded when the file uses another encoding,
    a leading byte order mark removed. Undecodable bytes are a SourceError (with an offset, not a value)."""

    def __init__(self, name: str, location: str, encoding: str) -> None:
        self.name = name
        self.location = location
        self.encoding = encoding
        codec = codecs.lookup(encoding).name
        self.decoder = None if codec == "utf-8" else codecs.getincrementaldecoder(codec)("strict")
        self.consumed = 0
        self.first = True

    def feed(self, raw: bytes, *, final: bool) -> bytes:
        data = raw
        if self.decoder is not None:
            try:
                data = self.decoder.decode(raw, final=final).encode("utf-8")
            except UnicodeDecodeError as exc:
                raise SourceError(
                    f"{self.location} is not valid {self.encoding} text "
                    f"(undecodable byte near offset {self.consumed + exc.start})",
                    hint="set csv.encoding to the file's encoding (for example latin-1 or cp1252)",
                    where=_where(self.name),
                ) from None
        self.consumed += len(raw)
        if self.first and data:
            self.first = False
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
        return data


class _Reader:
    """A file's content as UTF-8, in blocks of about BLOCK_BYTES appended to what the caller carries over.

    UTF-8 files are read straight into the block (`readinto`): one copy per byte, no concatenation.
    """

    def __init__(self, name: str, location: str, handle: Any, encoding: str) -> None:
        self.name = name
        self.location = location
        self.handle = handle
        self.text = _Utf8(name, location, encoding)
        self.direct = self.text.decoder is None and hasattr(handle, "readinto")
        self.done = False

    def extend(self, carry: bytes | bytearray) -> bytearray | None:
        """`carry` followed by the next block, or None at the end of the file."""
        try:
            return self._direct(carry) if self.direct else self._decoded(carry)
        except VaultlineError:
            raise
        except Exception as exc:
            raise _io_error(self.name, self.location, exc) from None

    def _direct(self, carry: bytes | bytearray) -> bytearray | None:
        if self.done:
            return None
        start = len(carry)
        buf = bytearray(start + BLOCK_BYTES)
        buf[:start] = carry
        filled = start
        with memoryview(buf) as view:
            while filled < len(buf):
                n = self.handle.readinto(view[filled:])
                if not n:
                    self.done = True
                    break
                filled += n
        if filled == start:
            return None
        del buf[filled:]
        if self.text.first:
            self.text.first = False
            if buf[start : start + len(_BOM)] == _BOM:
                del buf[start : start + len(_BOM)]
        return buf

    def _decoded(self, carry: bytes | bytearray) -> bytearray | None:
        while not self.done:
            raw = self.handle.read(BLOCK_BYTES)
            self.done = not raw
            data = self.text.feed(raw, final=self.done)
            if data:
                return bytearray(carry) + data
        return None

    def rest(self) -> Iterator[bytes | bytearray]:
        """The remaining blocks."""
        while (block := self.extend(b"")) is not None:
            yield block


# ----------------------------------------------------------------------------------- typing rules


def _kind_of(dtype: pl.DataType) -> ColumnType | None:
    """The spec type a Polars type already satisfies (None: needs converting for any declared type)."""
    if dtype == pl.String:
        return "string"
    if dtype == pl.Int64:
        return "int64"
    if dtype == pl.Float64:
        return "float64"
    if dtype == pl.Boolean:
        return "bool"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, pl.Decimal):
        return "decimal"
    return None


def _iso(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars().str.replace(" ", "T", literal=True, n=1)


def _parse_text(text: pl.Expr, kind: ColumnType) -> pl.Expr:
    """Non-strict conversion of a text expression: null where the text does not convert. For `datetime`
    this is the common ISO form only; `_refine` adds the others."""
    if kind == "string":
        return text
    value = text.str.strip_chars()
    if kind == "int64":
        return value.cast(pl.Int64, strict=False)
    if kind == "float64":
        return value.cast(pl.Float64, strict=False)
    if kind == "bool":
        lowered = value.str.to_lowercase()
        return (
            pl.when(lowered.is_in(_TRUE))
            .then(pl.lit(True))
            .when(lowered.is_in(_FALSE))
            .then(pl.lit(False))
            .otherwise(pl.lit(None, pl.Boolean))
        )
    if kind == "date":
        return value.str.to_date("%Y-%m-%d", strict=False)
    if kind == "datetime":
        return _iso(text).str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us", cache=False)
    # decimal: more fractional digits than the scale would be rounded: refuse them instead
    too_fine = value.str.contains(r"\.\d{9}0*[1-9]")
    return pl.when(too_fine).then(pl.lit(None, DECIMAL)).otherwise(value.str.to_decimal(scale=9))


def _refine(text: pl.Expr, first: pl.Expr) -> pl.Expr:
    """The other ISO datetime forms (offset, minutes only, date only), parsed only where `first` failed:
    parsing a masked (null) value costs nothing, and the common form is the expensive one."""
    rest = pl.when(first.is_null()).then(_iso(text))
    return pl.coalesce(
        first,
        rest.str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us", time_zone="UTC", cache=False
        ).dt.replace_time_zone(None),
        rest.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us", cache=False),
        rest.str.to_date("%Y-%m-%d", strict=False).cast(DATETIME),
    )


@dataclass(frozen=True)
class _Conversion:
    column: str
    value: pl.Expr
    raw: pl.Expr
    """The text kept in quarantine when the conversion fails."""
    refine: bool = False
    """Second pass over the first result (`_refine`), in its own stage so the first is computed once."""


def _conversion(column: str, dtype: pl.DataType, kind: ColumnType) -> _Conversion | None:
    if _kind_of(dtype) == kind:
        return None
    source = pl.col(column)
    if dtype == pl.String:
        return _Conversion(column, _parse_text(source, kind), source, refine=kind == "datetime")
    if kind == "string":
        return _Conversion(column, source.cast(pl.String), source.cast(pl.String))
    value = source.cast(_DTYPES[kind], strict=False)
    if kind == "int64" and (dtype.is_float() or isinstance(dtype, pl.Decimal)):
        value = pl.when(value.cast(dtype) == source).then(value)  # 1.5 is refused, not truncated to 1
    return _Conversion(column, value, source.cast(pl.String, strict=False))


def _split(
    name: str,
    scan: pl.LazyFrame,
    kinds: dict[str, ColumnType],
    *,
    marked: bool,
    hint: str | None = None,
) -> tuple[pl.LazyFrame, pl.LazyFrame | None]:
    """Convert the declared columns and split valid rows from quarantined ones.

    `scan` has the data columns, ROW_ID and, when `marked`, REASON and RAW (rows the reader could not split).
    Each stage only refers to columns computed by the one before, so no conversion runs twice.
    """
    schema = scan.collect_schema()
    data = [c for c in schema.names() if c not in (ROW_ID, REASON, RAW)]
    missing = [c for c in kinds if c not in data]
    if missing:
        raise SourceError(
            f"column(s) {', '.join(missing)} declared in the schema are not in the input",
            hint=f"the input has: {', '.join(data)}" + (f"; {hint}" if hint else ""),
            where=_where(name),
        )
    conversions = [
        c for c in (_conversion(col, schema[col], kinds[col]) for col in data if col in kinds) if c
    ]
    if not conversions and not marked:
        return scan.select(*data, ROW_ID), None
    temp = {c.column: f"__vl_typed_{i}" for i, c in enumerate(conversions)}
    try:
        typed = scan.with_columns(c.value.alias(temp[c.column]) for c in conversions)
        refined = [
            _refine(pl.col(c.column), pl.col(temp[c.column])).alias(temp[c.column])
            for c in conversions
            if c.refine
        ]
        if refined:
            typed = typed.with_columns(refined)
        typed.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise SourceError(
            f"a declared type cannot be applied: {scrub(str(exc))}",
            hint="check the types in the source's schema against the input's column types",
            where=_where(name),
        ) from None
    failed = {
        c.column: pl.col(c.column).is_not_null() & pl.col(temp[c.column]).is_null() for c in conversions
    }
    reasons: list[pl.Expr] = [pl.when(failed[c.column]).then(pl.lit(f"type:{c.column}")) for c in conversions]
    raws: list[pl.Expr] = [pl.when(failed[c.column]).then(c.raw) for c in conversions]
    if marked:
        reasons.insert(0, pl.col(REASON))
        raws.insert(0, pl.col(RAW))
    reason = reasons[0] if len(reasons) == 1 else pl.coalesce(reasons)
    raw = raws[0] if len(raws) == 1 else pl.coalesce(raws)
    # One cached node: valid and quarantined rows come from a single read when collected together. The
    # filters test a computed flag, which keeps Polars from pushing them into the scan (two different
    # predicates there would make two scans).
    flagged = (
        typed.with_columns(reason.cast(pl.String).alias(REASON), raw.cast(pl.String).alias(RAW))
        .with_columns(pl.col(REASON).is_null().alias(_VALID))
        .cache()
    )
    frame = flagged.filter(pl.col(_VALID)).select(
        *[pl.col(temp[c]).alias(c) if c in temp else pl.col(c) for c in data], ROW_ID
    )
    quarantine = flagged.filter(~pl.col(_VALID)).select(ROW_ID, REASON, RAW, *data)
    return frame, quarantine


def _check_names(name: str, columns: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for column in columns:
        if not column:
            raise SourceError(
                f"{what} has an empty column name", hint="name every column", where=_where(name)
            )
        if column.startswith(_RESERVED):
            raise SourceError(
                f"{what} has column {column!r}, a name reserved for Vaultline's own columns",
                hint="rename the column (names starting with _vl or __vl are reserved)",
                where=_where(name),
            )
        if column in seen:
            raise SourceError(
                f"{what} has the column name {column!r} twice",
                hint="give every column a distinct name",
                where=_where(name),
            )
        seen.add(column)


def _row_ids(base: int, first: int, count: int, bad: Sequence[int]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """ROW_IDs of the valid rows ranked `first` .. `first + count - 1` among the valid rows of a stream whose
    records are numbered from `base`, given the sorted indexes (relative to `base`) of records set aside.
    Knowing set-aside records that come later does not matter."""
    ranks = np.arange(first, first + count, dtype=np.int64)
    if bad:
        before = np.asarray(bad, dtype=np.int64) - np.arange(
            len(bad), dtype=np.int64
        )  # valid rows before each
        ranks += np.searchsorted(before, ranks, side="right")
    return ranks.astype(np.uint64) + np.uint64(base)


def _project(frame: pl.DataFrame, with_columns: list[str] | None, predicate: pl.Expr | None) -> pl.DataFrame:
    """Apply what Polars pushed down to the plugin: the predicate (which it then trusts), the projection."""
    if predicate is not None:
        frame = frame.filter(predicate)
    if with_columns is not None:
        frame = frame.select(with_columns) if with_columns else pl.DataFrame(height=frame.height)
    return frame


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """`frame` with exactly the columns of `schema`, in order; missing ones are nulls of the frame's height
    (added with with_columns: a select of literals alone would make a single row)."""
    missing = [pl.lit(None, dtype).alias(c) for c, dtype in schema.items() if c not in frame.columns]
    if missing:
        frame = frame.with_columns(missing)
    return frame.select(list(schema))


def _needed(
    all_columns: Sequence[str], with_columns: list[str] | None, predicate: pl.Expr | None
) -> list[str]:
    wanted = set(all_columns if with_columns is None else with_columns)
    if predicate is not None:
        wanted |= set(predicate.meta.root_names())
    return [c for c in all_columns if c in wanted]


def _limited(batches: Iterator[pl.DataFrame], n_rows: int | None) -> Iterator[pl.DataFrame]:
    """The batches, cut after `n_rows` rows, each admitted by the run's backpressure gate (if one is
    open); the source is closed as soon as it is no longer needed."""
    try:
        if n_rows is None:
            for batch in batches:
                backpressure.admit(batch.height)
                yield batch
            return
        left = n_rows
        for batch in batches:
            part = batch.head(left) if batch.height > left else batch
            left -= part.height
            backpressure.admit(part.height)
            yield part
            if left <= 0:
                return
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


# ------------------------------------------------------------------------------------------------ CSV

_Bad = tuple[int, str, int, int]
"""A record set aside: (0-based index among the records of its piece or stream, raw text, fields
expected, fields found)."""


@dataclass
class _Piece:
    start: int
    end: int
    header: bool
    final: bool
    """Ends at the end of the file (not at a cut this module chose, which must be verified)."""


@dataclass
class _Parsed:
    table: pa.Table
    bad: list[_Bad]

    @property
    def records(self) -> int:
        return int(self.table.num_rows) + len(self.bad)


@dataclass
class _Block:
    buf: bytes | bytearray
    fresh: int
    """Offset in `buf` of the bytes read for this block (before it: the previous block's unfinished tail)."""
    pieces: list[_Piece]
    futures: list[Future[_Parsed]]
    """Empty when no record boundary was found: the block goes to the serial reader."""


def _quotes(arr: np.ndarray[Any, np.dtype[np.uint8]], quote: int, start: int, stop: int) -> int:
    return int(np.count_nonzero(arr[start:stop] == quote))


def _even_newline_from(
    buf: bytes | bytearray, quote: int, start: int, *, limit: int, quotes: int, tries: int
) -> int | None:
    """End offset of the first newline at/after `start` with an even number of quotes before it, given
    the number of quotes before `start`."""
    pos = start
    for _ in range(tries):
        nl = buf.find(b"\n", pos, limit)
        if nl < 0:
            return None
        quotes += buf.count(quote, pos, nl)
        if quotes % 2 == 0:
            return nl + 1
        pos = nl + 1
    return None


def _record_cuts(
    buf: bytes | bytearray, quote: int, parts: int, *, eof: bool, tries: int = 64
) -> list[int] | None:
    """Offsets `[0, c1, ..., end]` cutting `buf` (which starts at a record start) into up to `parts` pieces
    at newlines preceded by an even number of quote characters, i.e. record ends under RFC 4180. `end` is
    `len(buf)` at the end of the file, else the last such newline (None when there is none)."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    size = len(buf)
    targets = [size * i // parts for i in range(1, parts)]
    before: list[int] = []  # quotes before each target, counted in one pass over the block
    counted = 0
    pos = 0
    for target in targets:
        counted += _quotes(arr, quote, pos, target)
        pos = target
        before.append(counted)
    total = counted + _quotes(arr, quote, pos, size)
    end: int | None = size if eof else None
    after = 0
    hi = size
    for _ in range(0 if eof else tries):
        nl = buf.rfind(b"\n", 0, hi)
        if nl < 0:
            break
        after += buf.count(quote, nl + 1, hi)
        if (total - after) % 2 == 0:
            end = nl + 1
            break
        hi = nl
    if end is None:
        return None
    cuts = [0]
    for target, quotes in zip(targets, before, strict=True):
        if target < cuts[-1]:
            continue
        cut = _even_newline_from(buf, quote, target, limit=end, quotes=quotes, tries=tries)
        if cut is None or cut >= end:
            break
        cuts.append(cut)
    cuts.append(end)
    return cuts


def _views(table: pa.Table) -> pa.Table:
    """Text columns as string views, the layout Polars uses (the cast runs without the GIL)."""
    return table.cast(pa.schema([pa.field(n, pa.string_view()) for n in table.column_names]))


class _Chain(io.RawIOBase):
    """A read-only stream over byte blocks, input of pyarrow's streaming reader (the serial fallback).

    Reads are filled completely, except that a read never ends with a carriage return (unless at the end):
    pyarrow's CSV reader loses the line feed of a CRLF inside a quoted field when its blocks split the pair.
    """

    def __init__(self, blocks: Iterator[bytes | bytearray]) -> None:
        self._blocks = blocks
        self._pending = bytearray()
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._done and len(self._pending) <= len(view):
            nxt = next(self._blocks, None)
            if nxt is None:
                self._done = True
            else:
                self._pending += nxt
        n = min(len(view), len(self._pending))
        if n > 1 and (not self._done or n < len(self._pending)) and self._pending[n - 1] == 0x0D:
            n -= 1
        view[:n] = self._pending[:n]
        del self._pending[:n]
        return n


def _then(first: list[bytes | bytearray], rest: Iterator[bytes | bytearray]) -> Iterator[bytes | bytearray]:
    yield from (b for b in first if b)
    yield from rest


@dataclass
class _CsvRequest:
    """What one execution of the plugin asks for."""

    with_columns: list[str] | None
    predicate: pl.Expr | None
    needed: list[str]
    """Columns to build (requested, plus those the predicate reads)."""
    include: list[str]
    """Text columns pyarrow converts."""
    pool: ThreadPoolExecutor

    def out(self, frame: pl.DataFrame) -> pl.DataFrame:
        return _project(frame, self.with_columns, self.predicate)


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


class _CsvScan:
    """The IO plugin reading CSV files: text columns, ROW_ID, and REASON/RAW for records set aside."""

    def __init__(self, name: str, files: list[_InputFile], options: CsvOptions, names: list[str]) -> None:
        self.name = name
        self.files = files
        self.options = options
        self.names = names
        self.quote = ord(options.quote)
        self.workers = _workers()
        self.schema: dict[str, pl.DataType] = {c: pl.String() for c in names}
        self.schema |= {ROW_ID: pl.UInt64(), REASON: pl.String(), RAW: pl.String()}

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        _batch: int | None,
    ) -> Iterator[pl.DataFrame]:
        return _limited(self._batches(with_columns, predicate), n_rows)

    def _batches(self, with_columns: list[str] | None, predicate: pl.Expr | None) -> Iterator[pl.DataFrame]:
        needed = _needed(list(self.schema), with_columns, predicate)
        include = [c for c in self.names if c in needed] or [self.names[-1]]
        base = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="vaultline-csv") as pool:
            request = _CsvRequest(with_columns, predicate, needed, include, pool)
            for file in self.files:
                base += yield from self._file(file, request, base)

    # ---- pyarrow options

    def _parse_options(self, handler: Callable[[Any], str]) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(
            delimiter=self.options.delimiter,
            quote_char=self.options.quote,
            double_quote=True,
            newlines_in_values=True,
            ignore_empty_lines=True,
            invalid_row_handler=handler,
        )

    def _convert_options(self, include: list[str]) -> pacsv.ConvertOptions:
        return pacsv.ConvertOptions(
            column_types={c: pa.string() for c in self.names},
            null_values=list(self.options.null_values),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            include_columns=include,
        )

    def _read_options(self, header: bool, block_size: int) -> pacsv.ReadOptions:
        return pacsv.ReadOptions(
            use_threads=False, block_size=block_size, column_names=None if header else self.names
        )

    def _arrow_error(self, location: str, exc: pa.ArrowException) -> SourceError:
        text = str(exc)
        if "utf8" in text.lower():
            return SourceError(
                f"{location} is not valid UTF-8 text",
                hint="set csv.encoding to the file's encoding (for example latin-1 or cp1252)",
                where=_where(self.name),
            )
        if "include_columns" in text or "does not exist in CSV" in text:
            return SourceError(
                f"{location} does not have the columns of the first file",
                hint="every file a glob matches must have the same header",
                where=_where(self.name),
            )
        return SourceError(
            f"{location} cannot be parsed as CSV: {_arrow_message(exc)}",
            hint="check csv.delimiter, csv.quote and csv.encoding",
            where=_where(self.name),
        )

    # ---- parsing

    def _parse(self, data: pa.Buffer, header: bool, include: list[str]) -> _Parsed:
        """One piece, parsed serially (only then does pyarrow report row numbers)."""
        bad: list[_Bad] = []
        skip = 2 if header else 1  # pyarrow numbers records from 1, header included

        def handler(row: Any) -> str:
            bad.append((row.number - skip, row.text, row.expected_columns, row.actual_columns))
            return "skip"

        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=self._read_options(header, max(1 << 20, min(data.size + 1, 1 << 30))),
            parse_options=self._parse_options(handler),
            convert_options=self._convert_options(include),
        )
        bad.sort()
        return _Parsed(_views(table), bad)

    def _swallowed(self, parsed: _Parsed) -> bool:
        """Did the piece end inside a quoted field, i.e. was it cut at a place that is not a record end?"""
        if parsed.records == 0:
            return False
        if parsed.bad and parsed.bad[-1][0] == parsed.records - 1:
            # The last record was set aside. Parse its text followed by a line without quotes: if the
            # record ends inside quotes, that line is swallowed and a single record comes out.
            count: list[int] = []

            def handler(_row: Any) -> str:
                count.append(1)
                return "skip"

            probe = (parsed.bad[-1][1] + "\nz\n").encode("utf-8")
            table = pacsv.read_csv(
                pa.BufferReader(pa.py_buffer(probe)),
                read_options=self._read_options(False, 1 << 20),
                parse_options=self._parse_options(handler),
                convert_options=self._convert_options([self.names[-1]]),
            )
            return int(table.num_rows) + len(count) < 2
        # the last record is valid: a field swallowed to the end of the piece ends with its newline
        last = parsed.table.column(self.names[-1])[-1].as_py()
        return isinstance(last, str) and last.endswith(("\n", "\r"))

    def _frame(
        self,
        table: pa.Table | None,
        ids: np.ndarray[Any, np.dtype[np.uint64]],
        bad: list[_Bad],
        base: int,
        needed: list[str],
    ) -> pl.DataFrame:
        """Valid rows (with their ROW_IDs) and records set aside, in the plugin's schema."""
        parts: list[pl.DataFrame] = []
        if table is not None and table.num_rows:
            valid = pl.from_arrow(_views(table))
            assert isinstance(valid, pl.DataFrame)
            parts.append(
                valid.with_columns(
                    pl.Series(ROW_ID, ids, dtype=pl.UInt64),
                    pl.lit(None, pl.String).alias(REASON),
                    pl.lit(None, pl.String).alias(RAW),
                )
            )
        if bad:
            parts.append(
                pl.DataFrame(
                    {
                        ROW_ID: [base + index for index, _, _, _ in bad],
                        REASON: [
                            f"csv:expected {expected} fields, got {found}" for _, _, expected, found in bad
                        ],
                        RAW: [text for _, text, _, _ in bad],
                    },
                    schema={ROW_ID: pl.UInt64, REASON: pl.String, RAW: pl.String},
                )
            )
        if not parts:
            return pl.DataFrame(schema={c: self.schema[c] for c in needed})
        return _conform(pl.concat(parts, how="diagonal"), {c: self.schema[c] for c in needed})

    def _file(self, file: _InputFile, request: _CsvRequest, base: int) -> Generator[pl.DataFrame, None, int]:
        """Batches of one file; returns how many records it had."""
        _check_unchanged(self.name, file)
        try:
            handle = _open(file.location)
        except Exception as exc:
            raise _io_error(self.name, file.location, exc) from None
        include = request.include
        check = include if self.names[-1] in include else [*include, self.names[-1]]
        start = base
        with handle:
            reader = _Reader(self.name, file.location, handle, self.options.encoding)
            queue: deque[_Block] = deque()
            carry: bytes | bytearray = b""
            more = True
            first = True
            try:
                while True:
                    while more and len(queue) < 2:  # keep the next block parsing while this one is consumed
                        block, carry, more = self._next_block(reader, carry, first, check, request.pool)
                        first = False
                        if block is not None:
                            queue.append(block)
                    if not queue:
                        return base - start
                    block = queue.popleft()
                    for index, piece in enumerate(block.pieces):
                        parsed = self._result(block, index, file.location)
                        if parsed is None or (not piece.final and self._swallowed(parsed)):
                            # a wrong cut (stray quotes) or no cut at all: the rest of the file, serially
                            for later in [*block.futures[index:], *(f for b in queue for f in b.futures)]:
                                later.cancel()
                            rest = [block.buf[piece.start :], *(b.buf[b.fresh :] for b in queue)]
                            queue.clear()
                            stream = _Chain(_then(rest, reader.rest()))
                            serial = self._serial(
                                request, file.location, stream, header=piece.header, base=base
                            )
                            base += yield from serial
                            return base - start
                        ids = _row_ids(base, 0, parsed.table.num_rows, [b[0] for b in parsed.bad])
                        frame = self._frame(
                            parsed.table.select(include), ids, parsed.bad, base, request.needed
                        )
                        yield request.out(frame)
                        base += parsed.records
            finally:
                for block in queue:
                    for future in block.futures:
                        future.cancel()

    def _result(self, block: _Block, index: int, location: str) -> _Parsed | None:
        if not block.futures:
            return None
        try:
            return block.futures[index].result()
        except pa.ArrowException as exc:
            raise self._arrow_error(location, exc) from None

    def _next_block(
        self,
        reader: _Reader,
        carry: bytes | bytearray,
        first: bool,
        include: list[str],
        pool: ThreadPoolExecutor,
    ) -> tuple[_Block | None, bytes | bytearray, bool]:
        """Read up to a record boundary, cut into pieces and start parsing them: (block, tail, more)."""
        fresh = len(carry)
        buf = carry
        while True:
            grown = reader.extend(buf)
            eof = grown is None
            if grown is not None:
                buf = grown
            elif not buf:
                return None, b"", False
            cuts = _record_cuts(buf, self.quote, self.workers, eof=eof)
            if cuts is not None:
                end = cuts[-1]
                header = first and self.options.header
                pieces = [
                    _Piece(a, b, header and a == 0, eof and b == end) for a, b in itertools.pairwise(cuts)
                ]
                view = pa.py_buffer(buf)
                futures = [
                    pool.submit(self._parse, view.slice(p.start, p.end - p.start), p.header, include)
                    for p in pieces
                ]
                return _Block(buf, fresh, pieces, futures), buf[end:], not eof
            if len(buf) >= 4 * BLOCK_BYTES:  # no record end at even quote parity: stray quotes
                header = first and self.options.header
                return _Block(buf, fresh, [_Piece(0, len(buf), header, False)], []), b"", False

    def _serial(
        self, request: _CsvRequest, location: str, stream: _Chain, *, header: bool, base: int
    ) -> Generator[pl.DataFrame, None, int]:
        """Exact but single-threaded: pyarrow's streaming reader with quote-aware chunking."""
        bad: list[_Bad] = []
        skip = 2 if header else 1

        def handler(row: Any) -> str:
            bad.append((row.number - skip, row.text, row.expected_columns, row.actual_columns))
            return "skip"

        valid = 0
        emitted = 0
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=self._read_options(header, SERIAL_BLOCK_BYTES),
                parse_options=self._parse_options(handler),
                convert_options=self._convert_options(request.include),
            )
            for batch in reader:
                bad.sort()
                ids = _row_ids(base, valid, batch.num_rows, [b[0] for b in bad])
                fresh, emitted = bad[emitted:], len(bad)
                yield request.out(
                    self._frame(pa.Table.from_batches([batch]), ids, fresh, base, request.needed)
                )
                valid += batch.num_rows
        except pa.ArrowException as exc:
            raise self._arrow_error(location, exc) from None
        if len(bad) > emitted:
            bad.sort()
            none = np.zeros(0, dtype=np.uint64)
            yield request.out(self._frame(None, none, bad[emitted:], base, request.needed))
        return valid + len(bad)


def _csv_header(
    name: str, file: _InputFile, start: _Head, options: CsvOptions, infer: bool
) -> tuple[list[str], dict[str, pa.DataType]]:
    """Column names (and, when asked, pyarrow's inferred types) from the first bytes of a file."""
    whole = start.complete
    head = _Utf8(name, file.location, options.encoding).feed(start.data, final=whole)
    if not head.strip():
        raise SourceError(
            f"{file.location} is empty", hint="a CSV source needs at least one line", where=_where(name)
        )
    if not whole:  # drop the partial last line
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut > 0 else head
    try:
        reader = pacsv.open_csv(
            io.BytesIO(head),
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=len(head) + 1, autogenerate_column_names=not options.header
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=options.delimiter,
                quote_char=options.quote,
                newlines_in_values=True,
                invalid_row_handler=lambda _row: "skip",
            ),
            convert_options=pacsv.ConvertOptions(
                null_values=list(options.null_values), strings_can_be_null=True
            ),
        )
    except pa.ArrowException as exc:
        if "utf8" in str(exc).lower():
            raise SourceError(
                f"{file.location} is not valid UTF-8 text",
                hint="set csv.encoding to the file's encoding (for example latin-1 or cp1252)",
                where=_where(name),
            ) from None
        raise SourceError(
            f"the first line of {file.location} cannot be parsed: {_arrow_message(exc)}",
            hint="check csv.delimiter, csv.quote and csv.encoding",
            where=_where(name),
        ) from None
    try:
        schema = reader.schema
        names = (
            list(schema.names) if options.header else [f"column_{i + 1}" for i in range(len(schema.names))]
        )
    except UnicodeDecodeError:
        raise SourceError(
            f"{file.location} is not valid UTF-8 text",
            hint="set csv.encoding to the file's encoding (for example latin-1, cp1252 or utf-16)",
            where=_where(name),
        ) from None
    _check_names(name, names, f"the header of {file.location}")
    types = {n: schema.field(i).type for i, n in enumerate(names)} if infer else {}
    return names, types


def _arrow_kind(dtype: pa.DataType) -> ColumnType:
    if pa.types.is_integer(dtype):
        return "int64"
    if pa.types.is_floating(dtype):
        return "float64"
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_timestamp(dtype):
        return "datetime"
    if pa.types.is_decimal(dtype):
        return "decimal"
    return "string"


def _read_csv(name: str, source: Source, files: list[str]) -> Ingest:
    options = source.csv
    try:
        codecs.lookup(options.encoding)
    except LookupError:
        raise SourceError(
            f"unknown encoding {options.encoding!r}",
            hint="use a Python codec name such as utf-8, latin-1 or cp1252",
            where=_where(name),
        ) from None

    def header(index: int, file: _InputFile, head: _Head) -> tuple[list[str], dict[str, pa.DataType]]:
        return _csv_header(name, file, head, options, source.infer_schema and index == 0)

    fingerprints, inputs, headers = _fingerprints(name, files, header)
    names, inferred = headers[0]
    for file, (other, _) in zip(inputs[1:], headers[1:], strict=True):
        if other != names:
            raise SourceError(
                f"{file.location} does not have the same columns as {inputs[0].location}",
                hint="every file a glob matches must have the same header (same names, same order)",
                where=_where(name),
            )
    kinds: dict[str, ColumnType] = {c: _arrow_kind(t) for c, t in inferred.items()}
    kinds |= dict(source.columns or {})
    scan = _CsvScan(name, inputs, options, names)
    lazy = register_io_source(
        scan, schema=scan.schema, is_pure=True, explain_name="vaultline csv", explain_detail=name
    )
    frame, quarantine = _split(
        name, lazy, kinds, marked=True, hint="check csv.delimiter" if len(names) == 1 else None
    )
    return Ingest(frame, quarantine, fingerprints)


# ---------------------------------------------------------------------------------------------- JSONL


def _json_reason(line: str, fields: dict[str, pl.DataType]) -> str:
    """Why one line could not be decoded (never quoting it)."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        return f"json:{getattr(exc, 'msg', 'invalid JSON')}"
    if not isinstance(value, dict):
        return "json:not an object"
    for key, dtype in fields.items():
        if key in value:
            try:
                pl.Series([json.dumps({key: value[key]})]).str.json_decode(pl.Struct({key: dtype}))
            except (pl.exceptions.PolarsError, ValueError, TypeError):
                return f"type:{key}"
    return "json:not decodable"


class _JsonlScan:
    """The IO plugin reading JSON Lines: scalar fields as text, nested fields decoded, bad lines set aside."""

    def __init__(self, name: str, files: list[_InputFile], fields: dict[str, pl.DataType]) -> None:
        self.name = name
        self.files = files
        self.fields = fields
        self.struct = pl.Struct(fields)
        self.schema: dict[str, pl.DataType] = dict(fields)
        self.schema |= {ROW_ID: pl.UInt64(), REASON: pl.String(), RAW: pl.String()}

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        _batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        batches = (_project(f, with_columns, predicate) for f in self._batches())
        return _limited(batches, n_rows)

    def _decode(self, lines: pl.Series) -> tuple[list[tuple[int, pl.DataFrame]], list[tuple[int, str]]]:
        """Decode lines, bisecting a failing run down to the lines that fail."""
        good: list[tuple[int, pl.DataFrame]] = []
        bad: list[tuple[int, str]] = []
        stack = [(0, lines.len())]
        while stack:
            start, length = stack.pop()
            part = lines.slice(start, length)
            try:
                decoded = part.str.json_decode(self.struct)
            except pl.exceptions.PolarsError:
                if length == 1:
                    bad.append((start, _json_reason(str(part[0]), self.fields)))
                else:
                    half = length // 2
                    stack.append((start + half, length - half))
                    stack.append((start, half))
                continue
            nulls = decoded.is_null()
            if nulls.any():  # a line holding `null`
                for offset in nulls.arg_true().to_list():
                    bad.append((start + offset, "json:not an object"))
            good.append((start, decoded.struct.unnest() if self.fields else pl.DataFrame(height=length)))
        good.sort(key=lambda item: item[0])
        bad.sort()
        return good, bad

    def _block_frame(self, lines: pl.Series, base: int) -> pl.DataFrame:
        good, bad = self._decode(lines)
        bad_at = np.asarray([i for i, _ in bad], dtype=np.int64)
        parts: list[pl.DataFrame] = []
        for start, decoded in good:
            ids = np.arange(base + start, base + start + decoded.height, dtype=np.uint64)
            frame = decoded.with_columns(pl.Series(ROW_ID, ids, dtype=pl.UInt64))
            if bad_at.size:
                positions = np.arange(start, start + decoded.height)
                frame = frame.filter(pl.Series(np.isin(positions, bad_at, invert=True)))
            parts.append(
                frame.with_columns(pl.lit(None, pl.String).alias(REASON), pl.lit(None, pl.String).alias(RAW))
            )
        if bad:
            parts.append(
                pl.DataFrame(
                    {
                        ROW_ID: [base + i for i, _ in bad],
                        REASON: [r for _, r in bad],
                        RAW: [lines[i] for i, _ in bad],
                    },
                    schema={ROW_ID: pl.UInt64, REASON: pl.String, RAW: pl.String},
                )
            )
        if not parts:
            return pl.DataFrame(schema=self.schema)
        return _conform(pl.concat(parts, how="diagonal"), self.schema)

    def _batches(self) -> Iterator[pl.DataFrame]:
        base = 0
        for file in self.files:
            _check_unchanged(self.name, file)
            try:
                handle = _open(file.location)
            except Exception as exc:
                raise _io_error(self.name, file.location, exc) from None
            with handle:
                reader = _Reader(self.name, file.location, handle, "utf-8")
                carry = b""
                while (buf := reader.extend(carry)) is not None:
                    cut = buf.rfind(b"\n") + 1
                    carry = bytes(buf[cut:])
                    if cut:
                        frame, count = self._lines(bytes(buf[:cut]), file.location, base)
                        base += count
                        if frame.height:
                            yield frame
                if carry:
                    frame, count = self._lines(carry, file.location, base)
                    base += count
                    if frame.height:
                        yield frame

    def _lines(self, data: bytes, location: str, base: int) -> tuple[pl.DataFrame, int]:
        try:
            lines = pl.read_lines(data).to_series()
        except pl.exceptions.PolarsError:
            raise SourceError(
                f"{location} is not valid UTF-8 text",
                hint="JSON Lines must be UTF-8",
                where=_where(self.name),
            ) from None
        lines = lines.filter(lines.str.strip_chars().str.len_bytes() > 0)
        return self._block_frame(lines, base), lines.len()


def _json_fields(
    name: str, file: _InputFile, start: _Head, declared: dict[str, ColumnType]
) -> tuple[dict[str, pl.DataType], dict[str, ColumnType]]:
    """Fields inferred from the first lines; scalars are read as text and converted like CSV columns."""
    sample: list[str] = []
    head = _Utf8(name, file.location, "utf-8").feed(start.data, final=False).decode("utf-8", errors="ignore")
    for line in head.splitlines()[:_JSON_SAMPLE_LINES]:
        if not line.strip():
            continue
        try:
            if isinstance(json.loads(line), dict):
                sample.append(line)
        except ValueError:
            continue
    inferred: dict[str, pl.DataType] = {}
    while sample:
        try:
            inferred = dict(pl.read_ndjson(io.StringIO("\n".join(sample)), infer_schema_length=None).schema)
            break
        except pl.exceptions.PolarsError:  # lines disagree on a nested type: infer from fewer lines
            sample = sample[: len(sample) // 2]
    for column in declared:
        inferred.setdefault(column, pl.String())
    fields: dict[str, pl.DataType] = {}
    kinds: dict[str, ColumnType] = {}
    for column, dtype in inferred.items():
        kind = _kind_of(dtype)
        if dtype.is_numeric() or dtype in (pl.Boolean, pl.String, pl.Null) or kind is not None:
            fields[column] = pl.String()
            if column in declared:
                kinds[column] = declared[column]
            elif dtype.is_integer():
                kinds[column] = "int64"
            elif dtype.is_float():
                kinds[column] = "float64"
            elif dtype == pl.Boolean:
                kinds[column] = "bool"
        else:
            fields[column] = dtype
            if column in declared:
                kinds[column] = declared[column]
    if not fields:
        raise SourceError(
            f"no JSON object with fields found in the first lines of {file.location}",
            hint='JSON Lines hold one object per line, for example {"id": 1}; or declare the schema',
            where=_where(name),
        )
    _check_names(name, list(fields), f"the objects in {file.location}")
    return fields, kinds


def _read_jsonl(name: str, source: Source, files: list[str]) -> Ingest:
    declared = dict(source.columns or {})

    def fields_of(
        index: int, file: _InputFile, head: _Head
    ) -> tuple[dict[str, pl.DataType], dict[str, ColumnType]]:
        return _json_fields(name, file, head, declared) if index == 0 else ({}, {})

    fingerprints, inputs, seen = _fingerprints(name, files, fields_of)
    fields, kinds = seen[0]
    scan = _JsonlScan(name, inputs, fields)
    lazy = register_io_source(
        scan, schema=scan.schema, is_pure=True, explain_name="vaultline jsonl", explain_detail=name
    )
    frame, quarantine = _split(name, lazy, kinds, marked=True)
    return Ingest(frame, quarantine, fingerprints)


# -------------------------------------------------------------------------------------------- Parquet


def _read_parquet(name: str, source: Source, files: list[str]) -> Ingest:
    fingerprints, _, _ = _fingerprints(name, files, _nothing)
    options = locations.polars_storage_options(files[0])
    first: pl.Schema | None = None
    for location in files:
        try:
            schema = pl.scan_parquet(location, storage_options=options, glob=False).collect_schema()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise SourceError(
                f"{location} is not a readable Parquet file ({type(exc).__name__})",
                hint="check that the file is Parquet and complete",
                where=_where(name),
            ) from None
        if first is None:
            first = schema
            _check_names(name, first.names(), f"the schema of {location}")
        elif schema != first:
            raise SourceError(
                f"{location} does not have the same columns and types as {files[0]}",
                hint="every file a glob matches must have the same schema",
                where=_where(name),
            )
    scan = pl.scan_parquet(files, storage_options=options, row_index_name=ROW_ID, glob=False)
    scan = scan.with_columns(pl.col(ROW_ID).cast(pl.UInt64))
    frame, quarantine = _split(name, scan, dict(source.columns or {}), marked=False)
    return Ingest(frame, quarantine, fingerprints)


# ------------------------------------------------------------------------------------------- Postgres

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")

# PostgreSQL type OID -> Polars type; every other type is read as its text form
_PG_TYPES: dict[int, pl.DataType] = {
    16: pl.Boolean(),
    20: pl.Int64(),
    21: pl.Int16(),
    23: pl.Int32(),
    26: pl.Int64(),
    700: pl.Float32(),
    701: pl.Float64(),
    25: pl.String(),
    1043: pl.String(),
    1042: pl.String(),
    19: pl.String(),
    18: pl.String(),
    1082: pl.Date(),
    1083: pl.Time(),
    1114: pl.Datetime("us"),
    1184: pl.Datetime("us", "UTC"),
    17: pl.Binary(),
}
_PG_NUMERIC = 1700


def _pg_url(name: str, url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise SourceError(
            "the postgres url cannot be parsed",
            hint="use postgresql://user@host:5432/database (the url is not shown here)",
            where=_where(name),
        ) from None
    if parsed.password is not None or any(k.lower() == "password" for k in parsed.query):
        raise SourceError(
            "the postgres url contains a password",
            hint="remove it from the spec and provide it through PGPASSWORD or ~/.pgpass",
            where=_where(name),
        )
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise SourceError(
        f"unsupported database driver {parsed.drivername!r}",
        hint="use a postgresql:// or postgresql+psycopg:// url",
        where=_where(name),
    )


def _pg_table(name: str, table: str) -> tuple[str, str]:
    parts = table.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise SourceError(
            f"{table!r} is not a table name",
            hint="use `table` or `schema.table` (letters, digits, _ and $), or write a `query`",
            where=_where(name),
        )
    return ".".join(f'"{p}"' for p in parts), table


def _pg_error(name: str, exc: BaseException, what: str) -> SourceError:
    orig = getattr(exc, "orig", exc)
    state = str(getattr(orig, "sqlstate", "") or "")
    diag = getattr(orig, "diag", None)
    primary = scrub(str(getattr(diag, "message_primary", "") or "")) if diag is not None else ""
    if state == "42P01":
        return SourceError(
            f"{what} does not exist",
            hint="check the schema and table name (quoted names are case-sensitive)",
            where=_where(name),
        )
    if state == "42501":
        return SourceError(
            f"access to {what} was refused", hint="grant SELECT to the connecting role", where=_where(name)
        )
    if state.startswith("28"):
        return SourceError(
            "authentication to the postgres server failed",
            hint="check the user, and the password in PGPASSWORD or ~/.pgpass",
            where=_where(name),
        )
    if state == "3D000":
        return SourceError(
            "the postgres database does not exist", hint="check the database in the url", where=_where(name)
        )
    if state.startswith("42"):
        return SourceError(
            f"the query for {what} is invalid: {primary}", hint="check the SQL", where=_where(name)
        )
    if not state or state.startswith("08"):
        return SourceError(
            f"cannot connect to the postgres server ({type(orig).__name__})",
            hint="check that the server runs, the host, port and database in the url, and the network",
            where=_where(name),
        )
    return SourceError(
        f"reading {what} failed ({state}): {primary}",
        hint="check the query and the server log",
        where=_where(name),
    )


@dataclass
class _PgColumn:
    name: str
    dtype: pl.DataType
    text: bool
    """Selected as ::text (type without a native Polars equivalent)."""
    kind: ColumnType | None = None


@dataclass
class _PgScan:
    """The IO plugin streaming a query's rows with a server-side cursor."""

    name: str
    engine: Any
    inner: str
    """The query whose rows are read (for a table: SELECT * FROM "schema"."table")."""
    what: str
    columns: list[_PgColumn]
    batch_rows: int
    rows: int
    """Rows counted when the source was planned (and fingerprinted)."""

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns} | {ROW_ID: pl.UInt64()}

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        _batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        batches = (
            _project(f, with_columns, predicate)
            for f in self._batches(_needed(list(self.schema), with_columns, predicate), n_rows)
        )
        return _limited(batches, n_rows)

    def _batches(self, needed: list[str], n_rows: int | None) -> Iterator[pl.DataFrame]:
        from sqlalchemy.exc import SQLAlchemyError

        selected = [c for c in self.columns if c.name in needed] or self.columns[:1]
        listing = ", ".join(_pg_select(c) for c in selected)
        sql = f"SELECT {listing} FROM ({self.inner}) AS vl_q"  # noqa: S608 - identifiers quoted, query from the spec
        schema = {c.name: c.dtype for c in selected}
        base = 0
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(yield_per=self.batch_rows).exec_driver_sql(_driver_sql(sql))
                for rows in result.partitions():
                    frame = pl.DataFrame(rows, schema=schema, orient="row")
                    frame = frame.with_columns(
                        pl.Series(
                            ROW_ID, np.arange(base, base + frame.height, dtype=np.uint64), dtype=pl.UInt64
                        )
                    )
                    base += frame.height
                    yield frame
                    if n_rows is not None and base >= n_rows:
                        return
        except SQLAlchemyError as exc:
            raise _pg_error(self.name, exc, self.what) from None
        if base != self.rows:
            raise SourceError(
                f"{self.what} returned {base} rows while {self.rows} were counted when it was fingerprinted",
                hint="the table changed during the run; read from a snapshot or pause writers",
                where=_where(self.name),
            )


def _driver_sql(sql: str) -> str:
    """SQL passed to psycopg as is (no SQLAlchemy bind parsing of `:name`); `%` is psycopg's placeholder
    character, so a literal one is doubled."""
    return sql.replace("%", "%%")


def _pg_select(column: _PgColumn) -> str:
    quoted = '"' + column.name.replace('"', '""') + '"'
    return f"{quoted}::text AS {quoted}" if column.text else quoted


def _read_postgres(name: str, source: Source, bookmark: SourceBookmark | None) -> Ingest:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    assert source.url is not None
    url = _pg_url(name, source.url)
    engine = create_engine(url, poolclass=NullPool)
    if source.table is not None:
        quoted, label = _pg_table(name, source.table)
        inner = f"SELECT * FROM {quoted}"  # noqa: S608 - validated, quoted identifiers
        what = f"table {label}"
        location = f"postgres:{label}"
    else:
        assert source.query is not None
        inner = source.query.strip().rstrip(";").strip()
        what = "the query"
        location = "postgres:query"
    watermark: Watermark | None = None
    if bookmark is not None:
        assert source.incremental is not None and source.incremental.column is not None
        inner, watermark = _above_watermark(
            name, engine, inner, source.incremental.column, bookmark.watermark
        )
        if watermark is None:
            return Ingest(pl.LazyFrame(schema={ROW_ID: pl.UInt64()}), None, nothing_new=True)
    try:
        with engine.connect() as conn:
            result = conn.exec_driver_sql(_driver_sql(f"SELECT * FROM ({inner}) AS vl_q LIMIT 0"))  # noqa: S608
            description: Sequence[Any] = result.cursor.description
            result.close()
            counted = conn.exec_driver_sql(_driver_sql(f"SELECT count(*) FROM ({inner}) AS vl_q"))  # noqa: S608
            rows = int(counted.scalar_one())
    except SQLAlchemyError as exc:
        raise _pg_error(name, exc, what) from None
    columns: list[_PgColumn] = []
    for item in description:
        # DB-API: name, type_code, display_size, internal_size, precision, scale, null_ok
        column, oid, precision, scale = str(item[0]), int(item[1]), item[4], item[5]
        if oid in _PG_TYPES:
            columns.append(_PgColumn(column, _PG_TYPES[oid], False))
        elif oid == _PG_NUMERIC and precision and scale is not None and precision <= 38:
            columns.append(_PgColumn(column, pl.Decimal(precision, scale), False))
        elif oid == _PG_NUMERIC:  # unconstrained numeric: text, converted like CSV `decimal`
            columns.append(_PgColumn(column, pl.String(), True, "decimal"))
        else:
            columns.append(_PgColumn(column, pl.String(), True))
    _check_names(name, [c.name for c in columns], f"the result of {what}")
    kinds: dict[str, ColumnType] = {c.name: c.kind for c in columns if c.kind is not None}
    kinds |= dict(source.columns or {})
    digest = hashlib.sha256(f"{inner}\n{rows}".encode()).hexdigest()
    fingerprint = {"location": location, "sha256": digest, "rows": rows, "bytes": None}
    scan = _PgScan(name, engine, inner, what, columns, batch_rows=source.batch_rows, rows=rows)
    lazy = register_io_source(
        scan, schema=scan.schema, is_pure=True, explain_name="vaultline postgres", explain_detail=name
    )
    frame, quarantine = _split(name, lazy, kinds, marked=False)
    return Ingest(frame, quarantine, [fingerprint], watermark=watermark, stable_order=False)


_SQL_TYPE = re.compile(r"^[a-z][a-z0-9_ ]{0,62}(\([0-9, ]+\))?$")


def _literal(mark: Watermark) -> str:
    """A watermark as a typed SQL literal. Its text and type came from this server (max()::text and
    pg_typeof); the type is checked against a strict pattern and quotes in the text are doubled."""
    if not _SQL_TYPE.match(mark.sql_type):
        raise SourceError(
            "the stored bookmark has a column type Vaultline cannot use",
            hint="reset it: vaultline bookmarks reset PIPELINE --source SOURCE",
        )
    return "'" + mark.value.replace("'", "''") + "'::" + mark.sql_type


def _above_watermark(
    name: str, engine: Any, inner: str, column: str, after: Watermark | None
) -> tuple[str, Watermark | None]:
    """The query bounded to (last committed maximum, maximum now]: rows committed after this plan wait
    for the next run, so each row is delivered exactly once. None when nothing is new."""
    from sqlalchemy.exc import SQLAlchemyError

    quoted = '"' + column.replace('"', '""') + '"'
    above = f" WHERE {quoted} > {_literal(after)}" if after else ""
    probe = f"SELECT max({quoted})::text, pg_typeof(max({quoted}))::text FROM ({inner}) AS vl_w{above}"  # noqa: S608
    try:
        with engine.connect() as conn:
            newest, sql_type = conn.exec_driver_sql(_driver_sql(probe)).one()
    except SQLAlchemyError as exc:
        raise _pg_error(name, exc, f"the bookmark column {column}") from None
    if newest is None:
        return inner, None
    mark = Watermark(str(newest), str(sql_type))
    bound = f"{quoted} <= {_literal(mark)}" + (f" AND {quoted} > {_literal(after)}" if after else "")
    return f"SELECT * FROM ({inner}) AS vl_b WHERE {bound}", mark  # noqa: S608 - literals from the server
