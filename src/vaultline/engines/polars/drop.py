"""drop on Polars: remove columns from the flow.

`require_columns` lives here because checking that columns exist is this step's whole job; the
other steps of this engine reuse it so that every "missing column" error reads the same way.
"""

from __future__ import annotations

import polars as pl

from vaultline.engines.polars.base import StepContext, StepResult, require_columns
from vaultline.transforms.drop import Params


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    columns = list(dict.fromkeys(params.columns))
    require_columns(frame, columns, ctx, "drop")
    return StepResult(frame.drop(columns), facts={"columns": columns})
