"""mask on Polars: hide part of each value with vectorized string expressions (custom patterns: plus
one compiled walk over the bytes of each batch, `_ragged.unwrap`).

Lengths count characters (Unicode code points), not bytes. Nulls stay null; output is String.

- keep_last / keep_first: every character but the last / first `keep` is replaced by `char`; a value
  of `keep` characters or fewer is masked entirely, since showing all of it would hide nothing;
- email: the first character of the local part, three `char`s, `@` and the domain (`j***@example.com`);
  a value that is not `local@domain` with exactly one `@` and both parts non-empty is masked entirely;
- custom: every match of `pattern` is replaced by as many `char`s as it has characters. The pattern
  runs on Polars' regex engine (Rust `regex`: no look-around, no backreferences).

"Masked entirely" keeps the length: every character becomes `char`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from vaultline.engines.polars.base import StepContext, StepResult, require_columns, where
from vaultline.engines.polars.format_preserving import from_ragged, map_non_null, ragged
from vaultline.engines.polars.text import canonical_text
from vaultline.errors import TransformError
from vaultline.transforms.mask import Params

_EMAIL = r"^[^@]+@[^@]+$"
# Marks match boundaries so a split can tell matches from the text between them; a value that
# already holds it cannot be split safely and is masked entirely (fail closed).
_SENTINEL = "\x00"


def _runs(length: pl.Expr, char: str) -> pl.Expr:
    """`char` repeated `length` times."""
    return pl.lit("").str.pad_start(length, char)


def _keep(text: pl.Expr, params: Params, *, last: bool) -> pl.Expr:
    length = text.str.len_chars()
    if last:
        shown = text.str.tail(params.keep).str.pad_start(length, params.char)
    else:
        shown = text.str.head(params.keep).str.pad_end(length, params.char)
    return pl.when(length > params.keep).then(shown).otherwise(_runs(length, params.char))


def _email(text: pl.Expr, params: Params) -> pl.Expr:
    masked = pl.concat_str(text.str.head(1), pl.lit(params.char * 3 + "@"), text.str.extract(r"@([^@]+)$", 1))
    return pl.when(text.str.contains(_EMAIL)).then(masked).otherwise(_runs(text.str.len_chars(), params.char))


def _unwrap_matches(series: pl.Series, char: str) -> pl.Series:
    """Values whose matches are wrapped in sentinel pairs -> each matched character becomes `char`,
    the sentinels go: one compiled walk over the UTF-8 bytes of the batch (`_ragged.unwrap`)."""
    from vaultline.engines.polars import _ragged

    data, offsets = ragged(series)
    fill = np.frombuffer(char.encode("utf-8"), dtype=np.uint8)
    sentinel = np.uint8(ord(_SENTINEL))
    ends = np.zeros(offsets.shape[0], dtype=np.int64)
    _ragged.unwrap(data, offsets, sentinel, fill, np.empty(0, dtype=np.uint8), ends)
    out = np.empty(ends[-1], dtype=np.uint8)
    _ragged.unwrap(data, offsets, sentinel, fill, out, ends)
    return from_ragged(series.name, out, ends, pl.String)


def _custom(text: pl.Expr, pattern: str, char: str) -> pl.Expr:
    # Wrap each match in sentinels, then replace what they enclose in one pass over the bytes
    # (a list per value, split on the sentinels and joined again, took 1.4 s on 2 M IP addresses;
    # numpy passes over the bytes 0.65 s; a compiled walk a fifth of that).
    wrapped = text.str.replace_all(pattern, f"{_SENTINEL}${{0}}{_SENTINEL}")
    unwrapped = wrapped.map_batches(
        lambda s: map_non_null(s, lambda values: _unwrap_matches(values, char), pl.String),
        return_dtype=pl.String,
        is_elementwise=True,
    )
    return (
        pl.when(text.str.contains(_SENTINEL, literal=True))
        .then(_runs(text.str.len_chars(), char))
        .otherwise(unwrapped)
    )


def _check_pattern(pattern: str | None, ctx: StepContext) -> str:
    if pattern is None:
        raise TransformError(
            "style custom needs a `pattern`",
            hint="add `pattern: <regular expression>` whose matches are masked, or choose another style",
            where=where(ctx, "mask"),
        )
    try:
        # Compiles the pattern in Rust's regex engine on an empty literal: no data is touched.
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError:
        raise TransformError(
            "the custom `pattern` is not supported by Polars' regular expressions",
            hint="rewrite it without look-around or backreferences (Rust `regex` syntax)",
            where=where(ctx, "mask"),
        ) from None
    return pattern


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    columns = list(dict.fromkeys(params.columns))
    schema = require_columns(frame, columns, ctx, "mask")
    pattern = _check_pattern(params.pattern, ctx) if params.style == "custom" else None
    texts = frame.with_columns(canonical_text(c, schema[c], ctx, "mask").alias(c) for c in columns)

    def masked(column: str) -> pl.Expr:
        text = pl.col(column)
        if params.style == "email":
            return _email(text, params)
        if pattern is not None:
            return _custom(text, pattern, params.char)
        return _keep(text, params, last=params.style == "keep_last")

    out = texts.with_columns(masked(c).alias(c) for c in columns)
    return StepResult(out, facts={"columns": columns, "style": params.style})
