"""Where a block of CSV text may be cut so that its pieces parse in parallel, and the byte stream the serial
fallback reads when a cut was wrong.

Records end at newlines preceded by an even number of quote characters (RFC 4180). A cut that lands
inside a quoted field (possible only with stray quote characters) is detected by the reader, which then
parses the rest of the file serially through `Chain`. The same quote offsets tell which pieces hold quotes
RFC 4180 does not explain, the only ones where pyarrow may drop quotes after text follows a closing one."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
_LF, _CR = 10, 13


def quote_positions(buf: bytes | bytearray, quote: int) -> I64:
    """Offsets of the quote characters in `buf`, in order."""
    return np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == quote)


def _even_newline_from(
    buf: bytes | bytearray, quotes: I64, start: int, *, limit: int, tries: int
) -> int | None:
    """End offset of the first newline at/after `start` with an even number of quotes before it."""
    pos = start
    for _ in range(tries):
        nl = buf.find(b"\n", pos, limit)
        if nl < 0:
            return None
        if np.searchsorted(quotes, nl) % 2 == 0:
            return nl + 1
        pos = nl + 1
    return None


def record_cuts(
    buf: bytes | bytearray, quotes: I64, parts: int, *, eof: bool, tries: int = 64
) -> list[int] | None:
    """Offsets `[0, c1, ..., end]` cutting `buf` (which starts at a record start; `quotes` are the offsets
    of its quote characters) into up to `parts` pieces at newlines preceded by an even number of quote
    characters, i.e. record ends under RFC 4180. `end` is `len(buf)` at the end of the file, else the last
    such newline (None when there is none)."""
    size = len(buf)
    end: int | None = size if eof else None
    hi = size
    for _ in range(0 if eof else tries):
        nl = buf.rfind(b"\n", 0, hi)
        if nl < 0:
            break
        if np.searchsorted(quotes, nl) % 2 == 0:
            end = nl + 1
            break
        hi = nl
    if end is None:
        return None
    cuts = [0]
    for target in (size * i // parts for i in range(1, parts)):
        if target < cuts[-1]:
            continue
        cut = _even_newline_from(buf, quotes, target, limit=end, tries=tries)
        if cut is None or cut >= end:
            break
        cuts.append(cut)
    cuts.append(end)
    return cuts


def irregular_quotes(buf: bytes | bytearray, quotes: I64, delimiter: int, end: int) -> I64:
    """Offsets, before `end`, of the quotes RFC 4180 does not explain, `buf` starting at a record start.

    Counted from there, an even-numbered quote opens a quoted field, so it must start a field (or follow
    the quote before it: a doubled quote); an odd-numbered one closes it, so a delimiter, a line break,
    the end or another quote must follow; the last one must not open a field the end leaves open. When
    every quote of a piece passes, pyarrow reads the piece as RFC 4180 does (no text after a closing
    quote to drop); a piece with any other goes to `_csv_quotes` for the exact walk."""
    quotes = quotes[: np.searchsorted(quotes, end)]
    if not quotes.size:
        return quotes
    data = np.frombuffer(buf, dtype=np.uint8)
    ends_field = np.zeros(256, dtype=bool)
    ends_field[[delimiter, _LF, _CR]] = True
    doubled = np.zeros(quotes.size + 1, dtype=bool)  # doubled[i]: quote i-1 is right before quote i
    doubled[1:-1] = np.diff(quotes) == 1
    opens_well = ends_field[data[np.maximum(quotes[::2] - 1, 0)]] | doubled[:-1:2]
    opens_well[0] |= quotes[0] == 0
    closes_well = ends_field[data[np.minimum(quotes[1::2] + 1, len(buf) - 1)]] | doubled[2::2]
    if quotes.size % 2 == 0:
        closes_well[-1] |= quotes[-1] == len(buf) - 1
    unclosed = quotes[-1:] if quotes.size % 2 else quotes[:0]  # a quoted field open at the end of the file
    unexplained: I64 = np.concatenate([quotes[::2][~opens_well], quotes[1::2][~closes_well], unclosed])
    unexplained.sort()
    return unexplained


class Chain(io.RawIOBase):
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


def then(first: list[bytes | bytearray], rest: Iterator[bytes | bytearray]) -> Iterator[bytes | bytearray]:
    yield from (b for b in first if b)
    yield from rest
