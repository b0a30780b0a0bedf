"""The digits inside ragged UTF-8 values (Arrow's flat bytes + offsets), compiled by numba.

format_preserving reads and writes the digits of each value in place: every other character keeps
its position, and a digit is always one byte (no byte of a multi-byte UTF-8 character is in
0x30..0x39). One compiled walk per pass replaced numpy's digit mask, cumulative sum and a
(rows x digits) int64 index matrix (192 MB for 2 M 12-digit values): 2 M 16-digit account
numbers, FF1 included, 1.6 s -> 0.5 s here. The loops release the GIL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

_compile = numba.njit(cache=True, nogil=True)
_ZERO = np.uint8(ord("0"))
_TEN = np.uint8(10)


def _counts_py(data: U8, offsets: I64) -> I64:
    """How many ASCII digits each value holds."""
    counts = np.zeros(offsets.shape[0] - 1, dtype=np.int64)
    for r in range(counts.shape[0]):
        for p in range(offsets[r], offsets[r + 1]):
            counts[r] += (data[p] - _ZERO) < _TEN  # uint8 wraps: anything below '0' becomes large
    return counts


def _gather_py(data: U8, offsets: I64, rows: I64, skip: int, out: U8) -> None:
    """out[i] = the digit values 0..9 of value rows[i] after its first `skip` digits (out's width)."""
    width = out.shape[1]
    for i in range(rows.shape[0]):
        seen = 0
        for p in range(offsets[rows[i]], offsets[rows[i] + 1]):
            digit = data[p] - _ZERO
            if digit < _TEN:
                if skip <= seen < skip + width:
                    out[i, seen - skip] = digit
                seen += 1


def _scatter_py(data: U8, offsets: I64, rows: I64, skip: int, digits: U8) -> None:
    """The inverse of `_gather_py`: writes digits[i] (values 0..9) back into value rows[i] of data."""
    width = digits.shape[1]
    for i in range(rows.shape[0]):
        seen = 0
        for p in range(offsets[rows[i]], offsets[rows[i] + 1]):
            if data[p] - _ZERO < _TEN:
                if skip <= seen < skip + width:
                    data[p] = digits[i, seen - skip] + _ZERO
                seen += 1


counts: Callable[..., I64] = _compile(_counts_py)
gather: Callable[..., Any] = _compile(_gather_py)
scatter: Callable[..., Any] = _compile(_scatter_py)
