"""Where a block of CSV text may be cut so that its pieces parse in parallel, and the byte stream the serial
fallback reads when a cut was wrong.

Records end at newlines preceded by an even number of quote characters (RFC 4180). A cut that lands
inside a quoted field (possible only with stray quote characters) is detected by the reader, which then
parses the rest of the file serially through `Chain`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np


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


def record_cuts(
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
