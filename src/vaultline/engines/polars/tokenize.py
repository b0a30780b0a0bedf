"""tokenize on Polars: HMAC-SHA256 keyed deterministic tokens, vectorized with polars-hash.

Token format (every engine must reproduce it byte for byte; `vaultline.crypto.tokens` is the
pure-Python reference)::

    K     = ctx.domain_key(domain, "tokenize")   # 32 bytes; the local keyring derives it with HKDF-SHA256,
                                                  # info "vaultline/v1/tokenize/<domain>"
    key   = lowercase hex text of K               # 64 ASCII characters; its UTF-8 bytes are the HMAC key
    token = prefix + HMAC-SHA256(key, utf8(text)).hexdigest()[:length]

The HMAC key is the hex *text* (64 bytes), not the 32 raw bytes, because polars-hash takes its key
as a string. Nulls stay null; the output column is always String.

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

from typing import Any

import polars as pl
import polars_hash as plh

from vaultline.engines.polars.base import StepContext, StepResult
from vaultline.engines.polars.drop import require_columns, where
from vaultline.errors import TransformError
from vaultline.transforms.tokenize import Params

ALGORITHM = "HMAC-SHA256"
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


def key_version(ctx: StepContext, purpose: str, domain: str) -> int | None:
    """The master key version the run context recorded, when it records one (RunContext does)."""
    versions: Any = getattr(ctx, "key_versions", None)
    if not isinstance(versions, dict):
        return None
    version = versions.get(f"{purpose}/{domain}")
    return version if isinstance(version, int) else None


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    columns = list(dict.fromkeys(params.columns))
    schema = require_columns(frame, columns, ctx, "tokenize")
    texts = frame.with_columns(canonical_text(c, schema[c], ctx, "tokenize").alias(c) for c in columns)

    key = ctx.domain_key(params.domain, "tokenize")
    # SECURITY: polars-hash takes the key as a plugin kwarg, which is pickled into the query plan.
    # The plan returned here therefore holds the key: never call explain() on it, never log,
    # serialize or cache it (LazyFrame.serialize, .cache(), plan dumps in error reports).
    hmac_key = key.reveal().hex()
    tokens = [plh.col(c).chash.hmac_sha256(key=hmac_key).str.head(params.length) for c in columns]
    if params.prefix:
        tokens = [pl.concat_str(pl.lit(params.prefix), t) for t in tokens]
    out = texts.with_columns(t.alias(c) for t, c in zip(tokens, columns, strict=True))

    facts: dict[str, Any] = {
        "columns": columns,
        "algorithm": ALGORITHM,
        "domain": params.domain,
        "length": params.length,
        "key_version": key_version(ctx, "tokenize", params.domain),
    }
    return StepResult(out, facts=facts)
