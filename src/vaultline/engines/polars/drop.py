"""drop on Polars: remove columns from the flow.

`require_columns` lives here because checking that columns exist is this step's whole job; the
other steps of this engine reuse it so that every "missing column" error reads the same way.
"""

from __future__ import annotations

import polars as pl

from vaultline.engines.polars.base import StepContext, StepResult
from vaultline.errors import TransformError
from vaultline.transforms.drop import Params


def where(ctx: StepContext, step: str) -> str:
    return f"step {ctx.step_index} ({step})"


def require_columns(frame: pl.LazyFrame, columns: list[str], ctx: StepContext, step: str) -> pl.Schema:
    """The frame's schema, after checking `columns` are in it (the error lists names, never values)."""
    schema = frame.collect_schema()
    missing = [c for c in columns if c not in schema]
    if missing:
        available = [c for c in schema.names() if not c.startswith(("__vl", "_vl"))]
        raise TransformError(
            f"column(s) {', '.join(repr(c) for c in missing)} not in the flow",
            hint=f"available columns: {', '.join(available) or 'none'}; check the spelling, "
            "or whether an earlier step dropped or renamed the column",
            where=where(ctx, step),
        )
    return schema


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    columns = list(dict.fromkeys(params.columns))
    require_columns(frame, columns, ctx, "drop")
    return StepResult(frame.drop(columns), facts={"columns": columns})
