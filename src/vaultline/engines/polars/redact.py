"""redact on Polars: every non-null value becomes the replacement text; nulls stay null."""

from __future__ import annotations

import polars as pl

from vaultline.engines.polars.base import StepContext, StepResult, require_columns
from vaultline.transforms.redact import Params


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    columns = list(dict.fromkeys(params.columns))
    require_columns(frame, columns, ctx, "redact")
    redacted = [pl.when(pl.col(c).is_not_null()).then(pl.lit(params.replacement)).alias(c) for c in columns]
    return StepResult(frame.with_columns(redacted), facts={"columns": columns})
