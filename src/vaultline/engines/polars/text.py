"""Canonical text of a value, the input of tokens, digests and masks on every engine.

`text` is the canonical text form of the value, which `canonical_text` defines per column type:

- String: the value itself; Categorical and Enum: the category text;
- integers (signed or unsigned): decimal digits, `-` for negatives, no `+`, no leading zeros;
- Boolean: `true` / `false`;
- Date: ISO 8601 `YYYY-MM-DD`;
- Decimal(p, s): plain notation with exactly `s` fractional digits (`-2.50` for scale 2);
- Null (an all-null column): null.

Floats, datetimes, times, durations, binary and nested types are refused: their text form is not
stable across engines (float shortest repr, time units, zones). Cast or format them in a `clean`
step first so that the text being tokenized is explicit in the spec.
"""

from __future__ import annotations

import polars as pl

from vaultline.engines.polars.base import StepContext, where
from vaultline.errors import TransformError

_TEXT_CASTABLE = (pl.Boolean, pl.Date, pl.Null, pl.Categorical, pl.Enum)


def canonical_text(column: str, dtype: pl.DataType, ctx: StepContext, step: str) -> pl.Expr:
    """`column` as its canonical text (see the module docstring), or a TransformError for other types."""
    if dtype == pl.String:
        return pl.col(column)
    if dtype.is_integer() or dtype.is_decimal() or dtype in _TEXT_CASTABLE:
        return pl.col(column).cast(pl.String)
    raise TransformError(
        f"column '{column}' has type {dtype}, which has no canonical text form for {step}",
        hint="add a `clean` step that casts or formats it to text first "
        "(e.g. round a float to an integer, or format a timestamp with an explicit pattern)",
        where=where(ctx, step),
    )


def json_text(value: pl.Expr) -> pl.Expr:
    """A list or struct column as JSON text, which Polars does not cast to; nulls stay null."""
    wrapped = pl.struct(value.alias("v")).struct.json_encode()  # json_encode takes structs only
    return (
        pl.when(value.is_null()).then(None).otherwise(wrapped.str.strip_prefix('{"v":').str.strip_suffix("}"))
    )


def lossless_text(column: str, dtype: pl.DataType) -> pl.Expr:
    """`column` as text that keeps every value, for people to read (a quarantine under review, a
    classifier's sample, `vaultline read`): lists and structs as JSON and durations as ISO 8601, which
    Polars does not cast to text, bytes as hex (they need not be UTF-8), anything else cast."""
    value = pl.col(column)
    if dtype.is_nested() or dtype == pl.Object:
        return json_text(value).alias(column)
    if dtype == pl.Binary:
        return value.bin.encode("hex")
    if isinstance(dtype, pl.Duration):
        return value.dt.to_string("iso")
    return value.cast(pl.String)
