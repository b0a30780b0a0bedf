"""format_preserving on Polars: NIST FF1 (AES-256, radix 10) over the digits of each value.

What a value becomes (every engine must reproduce it; `vaultline.crypto.ff1.encrypt` is the reference)::

    K      = ctx.domain_key(domain, "fpe")      # 32 bytes, so FF1 runs on AES-256
    tweak  = domain name, ASCII bytes
    digits = the ASCII digits 0-9 of the value, in order; every other character keeps its position
    clear  = the first `preserve_prefix` and last `preserve_suffix` of those digits
    middle = FF1.Encrypt(K, tweak, the digits between), written back into the same positions

A value whose middle has fewer than `MIN_ENCRYPTED_DIGITS` digits is quarantined with reason
`fpe_too_short:<column>`: FF1 is not secure on so small a domain; one with more than
`MAX_ENCRYPTED_DIGITS` (256) with `fpe_too_long:<column>`, rather than stall the run; one holding a
digit of another script (fullwidth `１`, Arabic-Indic `٣`), which would stay in the clear, with
`fpe_other_digits:<column>`. Nulls stay
null; the output is String. Integer columns are formatted as decimal text first (a `-` sign is a
non-digit and stays).

The kernel runs per batch (`map_batches`, elementwise, so the streaming engine can call it on each
morsel) directly on the column's Arrow buffers: compiled walks over the UTF-8 bytes (`_ragged`; a
digit is always one byte) count, gather and write back each value's digits, rows are grouped by how
many digits they encrypt, and each group is one call of the vectorized FF1 kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np
import polars as pl
import pyarrow as pa
from numpy.typing import NDArray

from vaultline.crypto import ff1
from vaultline.engines.polars.base import (
    StepContext,
    StepResult,
    key_version,
    require_columns,
    split_quarantine,
    where,
)
from vaultline.errors import TransformError
from vaultline.keys.secret import SecretBytes
from vaultline.transforms.format_preserving import MAX_ENCRYPTED_DIGITS, MIN_ENCRYPTED_DIGITS, Params

STEP = "format_preserving"
ALGORITHM = "FF1-AES256"
PURPOSE = "fpe"

U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]


# --- Arrow buffers <-> numpy (shared with encrypt_deterministic) -----------------------------------


def ragged(series: pl.Series) -> tuple[U8, I64]:
    """The bytes of a null-free String or Binary series and its offsets, read from its Arrow buffers."""
    array: Any = series.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    target = pa.large_string() if text else pa.large_binary()
    if kind != target:
        array = array.cast(target)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    start = int(offsets[0]) if offsets.size else 0
    end = int(offsets[-1]) if offsets.size else 0
    return data[start:end], (offsets - start).astype(np.int64)


def from_ragged(name: str, data: U8, offsets: I64, dtype: type[pl.String] | type[pl.Binary]) -> pl.Series:
    """A String or Binary series over (data, offsets); text is checked to be UTF-8."""
    arrow_type = pa.large_string() if dtype is pl.String else pa.large_binary()
    array = pa.Array.from_buffers(
        arrow_type,
        offsets.shape[0] - 1,
        [None, pa.py_buffer(np.ascontiguousarray(offsets)), pa.py_buffer(np.ascontiguousarray(data))],
    )
    if dtype is pl.String:
        try:
            array.validate(full=True)
        except pa.ArrowInvalid:
            raise TransformError("a decrypted value is not valid UTF-8 text") from None
    return pl.Series(name, array)


def map_non_null(
    series: pl.Series, kernel: Callable[[pl.Series], pl.Series], dtype: type[pl.String] | type[pl.Binary]
) -> pl.Series:
    """`kernel` over the non-null values; nulls stay null in place."""
    if series.null_count() == 0:
        return kernel(series)
    valid = series.is_not_null().to_numpy()
    out = pl.Series(series.name, [None] * series.len(), dtype=dtype)
    if valid.any():
        out.scatter(np.flatnonzero(valid), kernel(series.filter(valid)))
    return out


# --- the kernel -----------------------------------------------------------------------------------


def protect_digits(
    key: bytes, tweak: bytes, data: U8, offsets: I64, *, prefix: int, suffix: int, decrypting: bool = False
) -> U8:
    """`data` with the middle digits of every value (see the module docstring) FF1-encrypted or decrypted."""
    from vaultline.engines.polars import _ragged

    out = data.copy()
    if offsets.shape[0] < 2:
        return out
    middle = _ragged.digit_counts(data, offsets) - prefix - suffix
    unfit = (middle < MIN_ENCRYPTED_DIGITS) | (middle > MAX_ENCRYPTED_DIGITS)
    if unfit.any():
        # Quarantine removes these rows before the kernel runs; reaching here means a caller skipped it.
        raise TransformError(
            f"{int(unfit.sum())} value(s) have fewer than {MIN_ENCRYPTED_DIGITS} or more than "
            f"{MAX_ENCRYPTED_DIGITS} digits to encrypt",
            hint="format-preserving encryption refuses them rather than leave them in the clear",
        )
    run = ff1.decrypt_digits_batch if decrypting else ff1.encrypt_digits_batch
    for length in np.unique(middle):
        rows = np.flatnonzero(middle == length)
        digits = np.empty((rows.shape[0], int(length)), dtype=np.uint8)
        _ragged.gather_digits(data, offsets, rows, prefix, digits)
        _ragged.scatter_digits(out, offsets, rows, prefix, run(key, tweak, digits))
    return out


class FF1Kernel:
    """The per-batch function handed to Polars; holds the key, refuses to be printed or pickled.

    Polars keeps the function in the query plan, so a plan that were serialized would otherwise
    carry the key with it.
    """

    __slots__ = ("_decrypting", "_key", "_prefix", "_suffix", "_tweak")

    def __init__(self, key: SecretBytes, tweak: bytes, prefix: int, suffix: int, *, decrypting: bool) -> None:
        if len(key) != 32:
            raise TransformError(f"an FF1-AES256 key has 32 bytes, not {len(key)}")
        self._key = key
        self._tweak = tweak
        self._prefix = prefix
        self._suffix = suffix
        self._decrypting = decrypting

    def __call__(self, series: pl.Series) -> pl.Series:
        return map_non_null(series, self._values, pl.String)

    def _values(self, series: pl.Series) -> pl.Series:
        data, offsets = ragged(series)
        digits = protect_digits(
            self._key.reveal(),
            self._tweak,
            data,
            offsets,
            prefix=self._prefix,
            suffix=self._suffix,
            decrypting=self._decrypting,
        )
        return from_ragged(series.name, digits, offsets, pl.String)

    def __repr__(self) -> str:
        return "FF1Kernel(<hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("FF1Kernel cannot be pickled: key material must not leave the process")


# --- the step -------------------------------------------------------------------------------------


def _text(column: str, dtype: pl.DataType, ctx: StepContext) -> pl.Expr:
    if dtype == pl.String:
        return pl.col(column)
    if dtype.is_integer() or dtype == pl.Null:
        return pl.col(column).cast(pl.String)
    raise TransformError(
        f"column '{column}' has type {dtype}; format_preserving encrypts the digits of text or integers",
        hint="add a `clean` step that formats it as text first",
        where=where(ctx, STEP),
    )


def _count_digits(series: pl.Series) -> pl.Series:
    from vaultline.engines.polars import _ragged

    counts = pl.Series(series.name, _ragged.digit_counts(*ragged(series.fill_null(""))))
    if series.null_count() == 0:
        return counts
    return pl.select(pl.when(series.is_not_null()).then(counts)).to_series()


def _digit_count(text: pl.Expr) -> pl.Expr:
    """How many digits each value has (null stays null), counted by the compiled walk the kernel
    uses. `str.count_matches("[0-9]")` cost more CPU than the FF1 rounds: 0.55 s against 0.21 s
    on 2 M account numbers of 12 encrypted digits."""
    return text.map_batches(_count_digits, return_dtype=pl.Int64, is_elementwise=True)


def _kernel(params: Params, ctx: StepContext, *, decrypting: bool) -> FF1Kernel:
    key = ctx.domain_key(params.domain, PURPOSE)
    tweak = params.domain.encode("ascii")
    return FF1Kernel(key, tweak, params.preserve_prefix, params.preserve_suffix, decrypting=decrypting)


_OTHER_DIGIT = r"[\d&&[^0-9]]"
"""A decimal digit of any script but ASCII's (Rust regex classes are Unicode-aware)."""


def _run(text: pl.Expr, kernel: FF1Kernel) -> pl.Expr:
    return text.map_batches(kernel, return_dtype=pl.String, is_elementwise=True)


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    columns = list(dict.fromkeys(params.columns))
    schema = require_columns(frame, columns, ctx, STEP)
    texts = {c: _text(c, schema[c], ctx) for c in columns}
    clear = params.preserve_prefix + params.preserve_suffix
    counts = {c: _digit_count(texts[c]) for c in columns}
    unfit = [
        # a digit of another script (`１`, `٣`) would pass through in the clear: FF1 here is over 0-9
        pl.when(texts[c].str.contains(_OTHER_DIGIT))
        .then(pl.lit(f"fpe_other_digits:{c}"))
        .when(counts[c] < MIN_ENCRYPTED_DIGITS + clear)
        .then(pl.lit(f"fpe_too_short:{c}"))
        .when(counts[c] > MAX_ENCRYPTED_DIGITS + clear)
        .then(pl.lit(f"fpe_too_long:{c}"))
        for c in columns
    ]
    kept, quarantine = split_quarantine(frame, pl.coalesce(unfit))
    kernel = _kernel(params, ctx, decrypting=False)
    out = kept.with_columns(_run(texts[c], kernel).alias(c) for c in columns)
    facts: dict[str, Any] = {
        "columns": columns,
        "domain": params.domain,
        "algorithm": ALGORITHM,
        "preserve_prefix": params.preserve_prefix,
        "preserve_suffix": params.preserve_suffix,
        "min_encrypted_digits": MIN_ENCRYPTED_DIGITS,
        "max_encrypted_digits": MAX_ENCRYPTED_DIGITS,
        "key_version": key_version(ctx, PURPOSE, params.domain),
    }
    return StepResult(out, quarantine=quarantine, facts=facts)


def decrypt_column(column: str, params: Params, ctx: StepContext) -> pl.Expr:
    """An expression that undoes `apply` on `column` (a String column of its output)."""
    return _run(pl.col(column), _kernel(params, ctx, decrypting=True)).alias(column)
