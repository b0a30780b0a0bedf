"""anomaly on Polars: fit an Isolation Forest on a sample of the flow, then score every row in batches.

Features (one float64 value per feature and row):
- numeric columns (integers, floats, decimals) as float64; booleans as 0/1;
- `pl.Enum` columns as their ordinal codes (`to_physical`: the position in the Enum's categories);
  `pl.Categorical` columns as their physical codes too, which follow Polars' category mapping (the
  order strings were first seen in the process), so an Enum gives reproducible models, a
  Categorical may not: prefer `bin`/`encode` outputs (Enums);
- nulls (and NaN, ±inf, float64 magnitudes beyond float32) are missing values, passed to the forest
  as NaN: scikit-learn's trees route a missing value to the side chosen when fitting (the side with
  more training rows when the node saw none), at fit and at scoring alike;
- text columns are refused (bin or encode them first), and so are other types (dates, lists...).
scikit-learn works in float32: every feature value is rounded to float32 before the trees see it.

Sample: the feature projection is collected once as float32 (what the trees see anyway; 16 bytes a
row for 4 features), then every k-th row is kept, k = ceil(rows / sample_rows), starting at the
first row: at most `sample_rows` rows, spread evenly over the flow, the same rows for the same input
in the same order (no randomness, no hashing of values). One pass over the upstream plan.

Model: `sklearn.ensemble.IsolationForest(n_estimators, max_samples, random_state,
contamination="auto")` fitted on the sample (`max_samples` "auto" = min(256, sample rows); an
integer larger than the sample is lowered to it). The threshold is computed here, not by sklearn.

Sign conventions:
- score = -IsolationForest.score_samples = 2 ** -(mean path length / c(max_samples)), the score of
  the original paper: in (0, 1], HIGHER = MORE ANOMALOUS (about 0.5 and below is ordinary, near 1
  is isolated at once);
- threshold = the (1 - contamination) quantile of the sample's scores (numpy's default linear
  interpolation);
- flag = score > threshold (strictly): about `contamination` of the sample is flagged (fewer when
  scores tie at the threshold). This is sklearn's own rule for a float `contamination` (outlier
  when score_samples < its `offset_`, the contamination percentile of the training scores),
  without fitting with a float contamination, which costs a second scoring pass inside sklearn.

Scoring: the score column is `pl.struct(features).map_batches(..., is_elementwise=True)`, so the
streaming engine scores batch by batch; each batch goes through the numba kernel of
`_isolation_forest`, which walks the fitted sklearn trees and returns exactly `score_samples`
(see that module). The flag is a plain comparison with the threshold.

Facts: feature names, n_estimators, the fitted max_samples, sample rows used (and the sampling
step), threshold, contamination, the implementation and the model fingerprint (SHA-256 over the
fitted trees' arrays, see `_isolation_forest.fingerprint`). Metrics: `flagged_rate` and `flagged`
(the count) over the final frame, from an internal copy of the flag, so a later drop of the flag
column does not break them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from vaultline.engines.polars.base import StepContext, StepResult, internal_column, require_columns, where
from vaultline.errors import TransformError
from vaultline.transforms.anomaly import Params

STEP = "anomaly"


def _error(ctx: StepContext, message: str, hint: str) -> TransformError:
    return TransformError(message, hint=hint, where=where(ctx, STEP))


def feature_expr(name: str, dtype: pl.DataType, ctx: StepContext) -> pl.Expr:
    """The feature as float64 with nulls as NaN (see the module docstring), or a TransformError."""
    column = pl.col(name)
    if isinstance(dtype, pl.Enum | pl.Categorical):
        value = column.to_physical()
    elif dtype == pl.Boolean or dtype.is_numeric():
        value = column
    elif dtype == pl.String:
        raise _error(
            ctx,
            f"feature '{name}' is text; an Isolation Forest needs numbers",
            f"bin or encode '{name}' into an ordered category (an Enum) in an earlier step, "
            "or leave it out of `features`",
        )
    else:
        raise _error(
            ctx,
            f"feature '{name}' has type {dtype}, which cannot be a feature",
            "use numeric, boolean or Enum features: derive a number from it in an earlier step",
        )
    return value.cast(pl.Float64).fill_null(float("nan")).alias(name)


def _sample(
    frame: pl.LazyFrame, features: list[pl.Expr], params: Params, ctx: StepContext
) -> tuple[pl.DataFrame, int]:
    """Every k-th row of the feature projection, k = ceil(rows / sample_rows); (sample, k)."""
    projected = frame.select(f.cast(pl.Float32) for f in features).collect(engine="streaming")
    rows = projected.height
    if rows == 0:
        raise _error(
            ctx,
            "the flow has no rows to fit the Isolation Forest on",
            "check the earlier steps (a filter may have removed every row) and the source",
        )
    every = -(-rows // params.sample_rows)
    sample = projected.gather_every(every).select(pl.all().cast(pl.Float64))
    return sample, every


def _columns(batch: pl.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    """(features, rows) C-contiguous float64 from a frame of Float64 columns."""
    return np.ascontiguousarray(batch.to_numpy(order="fortran").T, dtype=np.float64)


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    from vaultline.engines.polars import _isolation_forest as iforest

    names = list(dict.fromkeys(params.features))
    schema = require_columns(frame, names, ctx, STEP)
    score_name, flag_name = params.score_column, params.flag_column
    if score_name == flag_name:
        raise _error(ctx, f"score and flag columns are both '{score_name}'", "give them different names")
    for output in (score_name, flag_name):
        if output in schema:
            raise _error(
                ctx,
                f"anomaly output '{output}' would overwrite an existing column",
                "choose another `score_column`/`flag_column`, or drop the column in an earlier step",
            )
    features = [feature_expr(name, schema[name], ctx) for name in names]

    sample, every = _sample(frame, features, params, ctx)
    matrix = iforest.fit_matrix([sample[name].to_numpy() for name in names])
    max_samples = 256 if params.max_samples == "auto" else params.max_samples
    model = iforest.fit_sklearn(matrix, params.n_estimators, max_samples, params.random_state)
    forest = iforest.pack(model, names)
    sample_scores = iforest.anomaly_scores(forest, _columns(sample))
    threshold = float(np.quantile(sample_scores, 1.0 - params.contamination))

    def score_batch(batch: pl.Series) -> pl.Series:
        values = batch.struct.unnest()
        if values.height == 0:
            return pl.Series(score_name, [], dtype=pl.Float64)
        return pl.Series(score_name, iforest.anomaly_scores(forest, _columns(values)), dtype=pl.Float64)

    score = pl.struct(features).map_batches(score_batch, return_dtype=pl.Float64, is_elementwise=True)
    flag = internal_column(ctx, "flag")
    out = frame.with_columns(score.alias(score_name)).with_columns(
        (pl.col(score_name) > threshold).alias(flag_name)
    )
    out = out.with_columns(pl.col(flag_name).alias(flag))
    facts: dict[str, Any] = {
        "features": names,
        "n_estimators": params.n_estimators,
        "max_samples": forest.max_samples,
        "sample_rows_used": sample.height,
        "sample_every": every,
        "threshold": threshold,
        "contamination": params.contamination,
        "implementation": iforest.IMPLEMENTATION,
        "model_fingerprint": forest.fingerprint,
    }
    metrics = {"flagged_rate": pl.col(flag).mean(), "flagged": pl.col(flag).sum()}
    return StepResult(out, facts=facts, metrics=metrics)
