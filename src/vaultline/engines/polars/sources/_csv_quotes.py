"""A compiled walk (numba) over CSV bytes finding the records pyarrow accepts although their quotes are
malformed, which RFC 4180 (and Python's `csv` in strict mode) refuse: text after a closing quote (pyarrow
reads `"be"ta` as `beta` and `"x" ,` as `x `, dropping the quotes) and a quoted field still open at the
end of the file (pyarrow keeps what follows the quote, line break included).

The walk follows pyarrow's parser (double quotes, newlines in values, empty lines ignored): a quote opens
a quoted field only at the start of a field; inside it `""` is one quote and a lone quote closes it; after
that, and in an unquoted field, a quote is an ordinary character. Records are numbered as pyarrow numbers
them: from 0, empty lines not counted, a header (when there is one) included. It is imported only for a
piece holding quotes RFC 4180 does not explain (`csv_cuts.irregular_quotes`) and for the serial reader,
so clean files never load numba for it (0.4 GB/s a core: 1 CPU-s for the 2 M-row fraud file)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numba
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

_FIELD_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED = 0, 1, 2, 3
_LF, _CR = 10, 13
_AFTER_QUOTE, _UNTERMINATED = 1, 2
REASONS = {_AFTER_QUOTE: "csv:text after a closing quote", _UNTERMINATED: "csv:quoted field not closed"}
Found = dict[int, tuple[str, str]]
"""Records with malformed quotes: index among the data records (a header not counted) -> (text, reason)."""


def _malformed_quotes_py(  # noqa: PLR0915 - one state machine reads best as one loop
    data: U8, quote: int, delimiter: int, final: bool
) -> tuple[I64, int, int]:
    """(hits, records, end): `hits` holds (record index, start, end, kind) quadruples, flattened, of the
    records with malformed quotes (end excludes the line break; kind is `_AFTER_QUOTE` or
    `_UNTERMINATED`); `records` counts the records that end in `data`; `end` is the offset after the last
    of them (the rest is an unfinished record, or, when `final`, the last record)."""
    hits: list[int] = []
    state = _FIELD_START
    records = 0
    started = False  # the current record has a character (an empty line is not a record)
    malformed = False
    start = 0
    end = 0
    for i in range(data.shape[0]):
        c = data[i]
        if state == _QUOTED:
            if c == quote:
                state = _QUOTE_IN_QUOTED
            continue
        if state == _QUOTE_IN_QUOTED:
            if c == quote:
                state = _QUOTED
                continue
            if c == delimiter:
                state = _FIELD_START
                continue
            if c != _LF and c != _CR:  # noqa: PLR1714 - plain compares compile to plain code
                malformed = True
                state = _UNQUOTED
                continue
        if c == _LF or c == _CR:  # noqa: PLR1714, SIM109 - an empty line (or CR LF's 2nd byte) is no record
            if started:
                if malformed:
                    hits.extend([records, start, i, _AFTER_QUOTE])
                records += 1
                end = i + 1
            started = False
            malformed = False
            state = _FIELD_START
            continue
        if not started:
            started = True
            start = i
        if state == _FIELD_START:
            if c == quote:
                state = _QUOTED
            elif c != delimiter:
                state = _UNQUOTED
        elif c == delimiter:  # _UNQUOTED
            state = _FIELD_START
    if final and started:
        if malformed:  # the first problem of the record is its reason
            hits.extend([records, start, data.shape[0], _AFTER_QUOTE])
        elif state == _QUOTED:
            hits.extend([records, start, data.shape[0], _UNTERMINATED])
        records += 1
        end = data.shape[0]
    return np.array(hits, dtype=np.int64), records, end


malformed_quotes: Callable[[U8, int, int, bool], tuple[I64, int, int]] = numba.njit(cache=True, nogil=True)(
    _malformed_quotes_py
)


def in_piece(data: bytes | bytearray | memoryview, quote: int, delimiter: int, *, header: bool) -> Found:
    """The records of a piece with malformed quotes, the piece starting at a record and its end taken as
    the end of its last record (a piece cut inside a quoted field shows as one not closed, and the reader
    finds the wrong cut the same way)."""
    hits, _, _ = malformed_quotes(np.frombuffer(data, dtype=np.uint8), quote, delimiter, True)
    return _found(hits, data, -1 if header else 0)


def _found(hits: I64, data: bytes | bytearray | memoryview, first: int) -> Found:
    found: Found = {}
    for index, start, end, kind in hits.reshape(-1, 4).tolist():
        if index + first >= 0:  # a header's own quotes are the header reader's concern
            text = bytes(data[start:end]).decode("utf-8", errors="replace")
            found[index + first] = (text, REASONS[kind])
    return found


class InStream:
    """Byte blocks for pyarrow's serial reader, passed on cut at record ends after each is walked; the
    records with malformed quotes gather in `found` before pyarrow reads them.

    A record longer than `limit` (pyarrow's block, which it must fit in) ends the walk: the rest passes
    unwalked, and pyarrow refuses the record itself."""

    def __init__(self, quote: int, delimiter: int, *, header: bool, limit: int) -> None:
        self.found: Found = {}
        self._quote = quote
        self._delimiter = delimiter
        self._limit = limit
        self._records = -1 if header else 0

    def blocks(self, blocks: Iterator[bytes | bytearray]) -> Iterator[bytes | bytearray]:
        carry: bytes | bytearray = b""
        for block in blocks:
            if len(carry) > self._limit:
                yield carry
                yield block
                yield from blocks
                return
            buf = carry + block if carry else block
            end = self._walk(buf, final=False)
            yield buf[:end]
            carry = buf[end:]
        if carry:
            self._walk(carry, final=True)
            yield carry

    def _walk(self, buf: bytes | bytearray, *, final: bool) -> int:
        hits, records, end = malformed_quotes(
            np.frombuffer(buf, dtype=np.uint8), self._quote, self._delimiter, final
        )
        self.found |= _found(hits, buf, self._records)
        self._records += records
        return end
