"""A compiled walk (numba) over CSV bytes finding the records pyarrow accepts although text follows a
closing quote: pyarrow reads `"be"ta` as `beta` and `"x" ,` as `x `, silently dropping the quotes, where
RFC 4180 (and Python's `csv` in strict mode) call the record malformed.

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


def _text_after_quotes_py(  # noqa: PLR0915 - one state machine reads best as one loop
    data: U8, quote: int, delimiter: int, final: bool
) -> tuple[I64, int, int]:
    """(hits, records, end): `hits` holds (record index, start, end) triples, flattened, of the records with
    text after a closing quote (end excludes the line break); `records` counts the records that end in
    `data`; `end` is the offset after the last of them (the rest is an unfinished record, or, when `final`,
    the last record)."""
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
                    hits.append(records)
                    hits.append(start)
                    hits.append(i)
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
        if malformed:
            hits.append(records)
            hits.append(start)
            hits.append(data.shape[0])
        records += 1
        end = data.shape[0]
    return np.array(hits, dtype=np.int64), records, end


text_after_quotes: Callable[[U8, int, int, bool], tuple[I64, int, int]] = numba.njit(cache=True, nogil=True)(
    _text_after_quotes_py
)


def in_piece(
    data: bytes | bytearray | memoryview, quote: int, delimiter: int, *, header: bool
) -> dict[int, str]:
    """The records of a piece (whole records, the first at its start) with text after a closing quote:
    index among its data records (a header not counted) -> the record's text."""
    hits, _, _ = text_after_quotes(np.frombuffer(data, dtype=np.uint8), quote, delimiter, True)
    return _texts(hits, data, -1 if header else 0)


def _texts(hits: I64, data: bytes | bytearray | memoryview, first: int) -> dict[int, str]:
    found: dict[int, str] = {}
    for index, start, end in hits.reshape(-1, 3).tolist():
        if index + first >= 0:  # a header's own quotes are the header reader's concern
            found[index + first] = bytes(data[start:end]).decode("utf-8", errors="replace")
    return found


class InStream:
    """Byte blocks for pyarrow's serial reader, passed on cut at record ends after each is walked; the
    records with text after a closing quote gather in `found` (index among the stream's data records ->
    text) before pyarrow reads them.

    A record longer than `limit` (pyarrow's block, which it must fit in) ends the walk: the rest passes
    unwalked, and pyarrow refuses the record itself."""

    def __init__(self, quote: int, delimiter: int, *, header: bool, limit: int) -> None:
        self.found: dict[int, str] = {}
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
        hits, records, end = text_after_quotes(
            np.frombuffer(buf, dtype=np.uint8), self._quote, self._delimiter, final
        )
        self.found |= _texts(hits, buf, self._records)
        self._records += records
        return end
