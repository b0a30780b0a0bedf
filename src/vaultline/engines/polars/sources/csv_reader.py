"""CSV files, parsed by pyarrow and streamed into Polars through an IO plugin, so memory stays bounded
whatever the file size.

pyarrow reports the row number of a malformed (ragged) record only when it parses serially, so each block
of the file is cut at record ends (`csv_cuts`) into one piece per core, and the pieces are parsed serially,
in parallel threads. A cut that lands inside a quoted field is detected, and the rest of that file is
parsed by pyarrow's serial streaming reader: slower, never wrong. Records set aside become quarantined
rows with `csv:expected N fields, got M`, and so do the records pyarrow accepts although their quotes are
malformed (`_csv_quotes`): `csv:text after a closing quote` (`"be"ta`, which pyarrow reads as `beta`) and
`csv:quoted field not closed` (a quote opened in the last record and never closed)."""

from __future__ import annotations

import io
import itertools
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from polars.io.plugins import register_io_source

from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources import input_files
from vaultline.engines.polars.sources.convert import split_valid
from vaultline.engines.polars.sources.csv_cuts import (
    Chain,
    irregular_quotes,
    quote_positions,
    record_cuts,
    then,
)
from vaultline.engines.polars.sources.ingest import RAW, SET_ASIDE, Ingest, check_names, where
from vaultline.engines.polars.sources.input_files import (
    Head,
    InputFile,
    Reader,
    Utf8,
    check_unchanged,
    fingerprint_files,
    first_invalid_byte,
    io_error,
    open_input,
)
from vaultline.engines.polars.sources.plugin import IoPlugin, conform
from vaultline.errors import SourceError, without_values
from vaultline.spec.sources import ColumnType, CsvOptions, Source

SERIAL_BLOCK_BYTES = 16 << 20
"""Block size of pyarrow's streaming reader in the serial fallback (a record must fit in one block)."""

_Bad = tuple[int, str, str]
"""A record set aside: (0-based index among the records of its piece or stream, raw text, reason)."""


def _ragged(row: Any, first: int) -> _Bad:
    """pyarrow's invalid row (numbered from `first`) as a record set aside."""
    reason = f"csv:expected {row.expected_columns} fields, got {row.actual_columns}"
    return row.number - first, row.text, reason


@dataclass
class _Piece:
    start: int
    end: int
    header: bool
    final: bool
    """Ends at the end of the file (not at a cut this module chose, which must be verified)."""
    irregular: bool
    """Holds quotes RFC 4180 does not explain (`csv_cuts.irregular_quotes`)."""


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
    start: int
    """Offset of `buf` in the file's text (after a byte order mark)."""
    pieces: list[_Piece]
    futures: list[Future[_Parsed]]
    """Empty when no record boundary was found: the block goes to the serial reader."""


def _views(table: pa.Table) -> pa.Table:
    """Text columns as string views, the layout Polars uses (the cast runs without the GIL)."""
    return table.cast(pa.schema([pa.field(n, pa.string_view()) for n in table.column_names]))


@dataclass
class _CsvRequest:
    """What one execution of the plugin asks for."""

    needed: list[str]
    """Columns to build (requested, plus those the predicate reads)."""
    include: list[str]
    """Text columns pyarrow converts."""
    pool: ThreadPoolExecutor


class CsvScan(IoPlugin):
    """The IO plugin reading CSV files: text columns, ROW_ID, and REASON/RAW for records set aside."""

    def __init__(self, name: str, files: list[InputFile], options: CsvOptions, names: list[str]) -> None:
        self.name = name
        self.files = files
        self.options = options
        self.names = names
        self.quote = ord(options.quote)
        self.delimiter = ord(options.delimiter)
        self.workers = input_files.workers()
        self.schema: dict[str, pl.DataType] = {c: pl.String() for c in names}
        self.schema |= SET_ASIDE

    def batches(self, needed: list[str], n_rows: int | None) -> Iterator[pl.DataFrame]:
        include = [c for c in self.names if c in needed] or [self.names[-1]]
        base = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="vaultline-csv") as pool:
            request = _CsvRequest(needed, include, pool)
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

    def _arrow_error(
        self, location: str, exc: pa.ArrowException, data: bytes | bytearray = b"", start: int = 0
    ) -> SourceError:
        """What a pyarrow error means for the user; `data`, when known, is the text that raised it, at
        offset `start` of the file's text."""
        text = str(exc)
        if "utf8" in text.lower():
            return SourceError(
                f"{location} is not valid UTF-8 text{first_invalid_byte(data, start)}",
                hint="set csv.encoding to the file's encoding (for example latin-1 or cp1252)",
                where=where(self.name),
            )
        if "include_columns" in text or "does not exist in CSV" in text:
            return SourceError(
                f"{location} does not have the columns of the first file",
                hint="every file a glob matches must have the same header",
                where=where(self.name),
            )
        return SourceError(
            f"{location} cannot be parsed as CSV: {_arrow_message(exc)}",
            hint="check csv.delimiter, csv.quote and csv.encoding",
            where=where(self.name),
        )

    # ---- parsing

    def _parse(self, data: pa.Buffer, header: bool, include: list[str], irregular: bool) -> _Parsed:
        """One piece, parsed serially (only then does pyarrow report row numbers)."""
        bad: list[_Bad] = []
        skip = 2 if header else 1  # pyarrow numbers records from 1, header included

        def handler(row: Any) -> str:
            bad.append(_ragged(row, skip))
            return "skip"

        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=self._read_options(header, max(1 << 20, min(data.size + 1, 1 << 30))),
            parse_options=self._parse_options(handler),
            convert_options=self._convert_options(include),
        )
        if irregular:
            from vaultline.engines.polars.sources import _csv_quotes  # numba, for irregular quotes only

            found = _csv_quotes.in_piece(data, self.quote, self.delimiter, header=header)
            bad.sort()
            records = _row_ids(0, 0, table.num_rows, [b[0] for b in bad])
            table, _, moved = _set_aside_malformed(table, records, found)
            bad += moved
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
                        ROW_ID: [base + index for index, _, _ in bad],
                        REASON: [reason for _, _, reason in bad],
                        RAW: [text for _, text, _ in bad],
                    },
                    schema=SET_ASIDE,
                )
            )
        if not parts:
            return pl.DataFrame(schema={c: self.schema[c] for c in needed})
        return conform(pl.concat(parts, how="diagonal"), {c: self.schema[c] for c in needed})

    def _file(self, file: InputFile, request: _CsvRequest, base: int) -> Generator[pl.DataFrame, None, int]:
        """Batches of one file; returns how many records it had."""
        check_unchanged(self.name, file)
        try:
            handle = open_input(file.location)
        except Exception as exc:
            raise io_error(self.name, file.location, exc) from None
        include = request.include
        check = include if self.names[-1] in include else [*include, self.names[-1]]
        start = base
        with handle:
            reader = Reader(self.name, file.location, handle, self.options.encoding)
            queue: deque[_Block] = deque()
            carry: bytes | bytearray = b""
            read = 0  # offset of `carry` in the file's text
            more = True
            first = True
            try:
                while True:
                    while more and len(queue) < 2:  # keep the next block parsing while this one is consumed
                        block, carry, more = self._next_block(
                            reader, carry, first, check, request.pool, start=read
                        )
                        first = False
                        if block is not None:
                            queue.append(block)
                            read += len(block.buf) - len(carry)
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
                            serial = self._serial(
                                request,
                                file.location,
                                then(rest, reader.rest()),
                                header=piece.header,
                                base=base,
                            )
                            base += yield from serial
                            return base - start
                        ids = _row_ids(base, 0, parsed.table.num_rows, [b[0] for b in parsed.bad])
                        frame = self._frame(
                            parsed.table.select(include), ids, parsed.bad, base, request.needed
                        )
                        yield frame
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
            piece = block.pieces[index]
            data = block.buf[piece.start : piece.end]
            raise self._arrow_error(location, exc, data, block.start + piece.start) from None

    def _next_block(
        self,
        reader: Reader,
        carry: bytes | bytearray,
        first: bool,
        include: list[str],
        pool: ThreadPoolExecutor,
        *,
        start: int,
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
            quotes = quote_positions(buf, self.quote)
            cuts = record_cuts(buf, quotes, self.workers, eof=eof)
            if cuts is not None:
                end = cuts[-1]
                header = first and self.options.header
                irregular = irregular_quotes(buf, quotes, self.delimiter, end)
                pieces = [
                    _Piece(a, b, header and a == 0, eof and b == end, _holds(irregular, a, b))
                    for a, b in itertools.pairwise(cuts)
                ]
                view = pa.py_buffer(buf)
                futures = [
                    pool.submit(
                        self._parse, view.slice(p.start, p.end - p.start), p.header, include, p.irregular
                    )
                    for p in pieces
                ]
                return _Block(buf, fresh, start, pieces, futures), buf[end:], not eof
            if len(buf) >= 4 * input_files.BLOCK_BYTES:  # no record end at even quote parity: stray quotes
                header = first and self.options.header
                return _Block(buf, fresh, start, [_Piece(0, len(buf), header, False, True)], []), b"", False

    def _serial(
        self,
        request: _CsvRequest,
        location: str,
        blocks: Iterator[bytes | bytearray],
        *,
        header: bool,
        base: int,
    ) -> Generator[pl.DataFrame, None, int]:
        """Exact but single-threaded: pyarrow's streaming reader with quote-aware chunking; every block
        walked for text after closing quotes (this reader serves files with stray quotes)."""
        from vaultline.engines.polars.sources import _csv_quotes  # numba, for irregular quotes only

        bad: list[_Bad] = []
        skip = 2 if header else 1
        walk = _csv_quotes.InStream(self.quote, self.delimiter, header=header, limit=SERIAL_BLOCK_BYTES)
        stream = Chain(walk.blocks(blocks))

        def handler(row: Any) -> str:
            bad.append(_ragged(row, skip))
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
                table, keep, moved = _set_aside_malformed(
                    pa.Table.from_batches([batch]), ids - base, walk.found
                )
                yield self._frame(table, ids[keep], sorted(fresh + moved), base, request.needed)
                valid += batch.num_rows
        except pa.ArrowException as exc:
            raise self._arrow_error(location, exc) from None
        if len(bad) > emitted:
            bad.sort()
            none = np.zeros(0, dtype=np.uint64)
            yield self._frame(None, none, bad[emitted:], base, request.needed)
        return valid + len(bad)


def _csv_header(
    name: str, file: InputFile, start: Head, options: CsvOptions, infer: bool
) -> tuple[list[str], dict[str, pa.DataType]]:
    """Column names (and, when asked, pyarrow's inferred types) from the first bytes of a file."""
    whole = start.complete
    head = Utf8(name, file.location, options.encoding).feed(start.data, final=whole)
    if not head.strip():
        raise SourceError(
            f"{file.location} is empty", hint="a CSV source needs at least one line", where=where(name)
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
                where=where(name),
            ) from None
        raise SourceError(
            f"the first line of {file.location} cannot be parsed: {_arrow_message(exc)}",
            hint="check csv.delimiter, csv.quote and csv.encoding",
            where=where(name),
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
            where=where(name),
        ) from None
    check_names(name, names, f"the header of {file.location}")
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


def _holds(offsets: np.ndarray[Any, np.dtype[np.int64]], start: int, end: int) -> bool:
    """Does the sorted array hold an offset in [start, end)?"""
    return bool(np.searchsorted(offsets, start) < np.searchsorted(offsets, end))


def _set_aside_malformed(
    table: pa.Table, records: np.ndarray[Any, np.dtype[np.uint64]], found: dict[int, tuple[str, str]]
) -> tuple[pa.Table, np.ndarray[Any, np.dtype[np.bool_]], list[_Bad]]:
    """The rows of `table` (record indexes `records`) that `found` (`_csv_quotes.Found`) does not name,
    which rows those are, and the others as records set aside."""
    if not found:
        return table, np.ones(table.num_rows, dtype=bool), []
    hit = np.isin(records, np.array(list(found), dtype=np.uint64))
    moved = [(index, *found.pop(index)) for index in records[hit].tolist()]
    return table.filter(pa.array(~hit)), ~hit, moved


def _arrow_message(exc: BaseException) -> str:
    """The kind of a pyarrow error without what follows its first colon (pyarrow quotes row text there)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return without_values(first.split(":", 1)[0])


def read_csv(name: str, source: Source, files: list[str]) -> Ingest:
    options = source.csv  # its encoding is a codec Python knows: the spec's model checked it

    def header(index: int, file: InputFile, head: Head) -> tuple[list[str], dict[str, pa.DataType]]:
        return _csv_header(name, file, head, options, source.infer_schema and index == 0)

    fingerprints, inputs, headers = fingerprint_files(name, files, header)
    names, inferred = headers[0]
    for file, (other, _) in zip(inputs[1:], headers[1:], strict=True):
        if other != names:
            raise SourceError(
                f"{file.location} does not have the same columns as {inputs[0].location}",
                hint="every file a glob matches must have the same header (same names, same order)",
                where=where(name),
            )
    kinds: dict[str, ColumnType] = {c: _arrow_kind(t) for c, t in inferred.items()}
    kinds |= dict(source.columns or {})
    scan = CsvScan(name, inputs, options, names)
    lazy = register_io_source(
        scan, schema=scan.schema, is_pure=True, explain_name="vaultline csv", explain_detail=name
    )
    frame, quarantine = split_valid(
        name, lazy, kinds, marked=True, hint="check csv.delimiter" if len(names) == 1 else None
    )
    return Ingest(frame, quarantine, fingerprints, records=lambda: scan.records)


# ---------------------------------------------------------------------------------------------- JSONL
