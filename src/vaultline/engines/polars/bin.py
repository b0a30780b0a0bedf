"""bin on Polars: fit edges on one column (or reuse them), then assign each value a labelled bin.

Edges:
- `percentile` / `quantile`: fitted with one `quantile(points, interpolation)` on the finite,
  non-null values of the column; only that column's quantiles are collected from the frame (one
  small projection);
- `custom`: the `bins` themselves;
- `edges:` or `reuse_run:` (the `edges` fact of this step in an earlier run): used as they are.

Assignment, with edges e_0 <= e_1 <= ... <= e_n and bins 0..n-1:
- bin i is the left-closed interval [e_i, e_i+1), the last one closed [e_n-1, e_n];
- fitted edges can collapse on skewed data (several quantiles equal to one value e). Every bin
  stays (the labels do not shift), and a bin whose edges are equal is the single point [e, e]. A
  value goes to the FIRST bin whose interval contains it, so a value equal to a collapsed edge goes
  to the first of the point bins at e, the other point bins at e stay empty, and the values just
  above e go to the bin that starts at e and is wider than a point. E.g. edges [0, 0, 0, 5, 10]:
  0 → bin 0, 3 → bin 2, 5 → bin 3, 10 → bin 3; bin 1 is always empty.
  In search terms: bin = (first index of x among the edges) if x is an edge, else
  (number of edges <= x) - 1, both counted by comparing x with every edge;
- values below e_0 or above e_n (possible with reused or custom edges, or with percentiles not
  spanning 0-100) go to the first / last bin and are counted in the metric `out_of_range`;
- nulls and NaN stay null (NaN is not ordered); +/-inf count as out of range.

The output is `pl.Enum(labels)`, an ordered categorical. Facts hold the column names, method,
interpolation, labels and the edges (statistics, allowed in reports) and where the edges came from.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from vaultline.engines.polars.base import StepContext, StepResult, internal_column, require_columns, where
from vaultline.errors import TransformError
from vaultline.transforms.bin import Params, check_edges

STEP = "bin"


def _error(ctx: StepContext, message: str, hint: str) -> TransformError:
    return TransformError(message, hint=hint, where=where(ctx, STEP))


def _fit(frame: pl.LazyFrame, params: Params, dtype: pl.DataType, ctx: StepContext) -> list[float]:
    """Quantiles of the column's finite values: one projection of one column is collected."""
    values = pl.col(params.column).cast(pl.Float64)
    if dtype.is_float():
        values = values.filter(values.is_finite())
    # One expression for every point: Polars then orders the column once, not once per point
    # (9 points on 2 M rows: 0.07 CPU-s against 0.61).
    fitted = values.quantile(params.quantile_points(), interpolation=params.interpolation)
    (row,) = frame.select(fitted.alias("edges")).collect(engine="streaming").row(0)
    if any(v is None for v in row):
        raise _error(
            ctx,
            f"column '{params.column}' has no finite, non-null value to fit {params.method} edges on",
            "check the earlier steps (a filter or a cast may have emptied it), or give `edges:`",
        )
    return [float(v) for v in row]


def _reused(params: Params, ctx: StepContext) -> list[float]:
    assert params.reuse_run is not None
    facts = ctx.previous_facts(params.reuse_run, ctx.step_index)
    edges = facts.get("edges")
    if not isinstance(edges, list):
        raise _error(
            ctx,
            f"run '{params.reuse_run}' recorded no edges for this step (column '{params.column}')",
            "reuse a run of the same spec whose report lists this step's edges, or give `edges:`",
        )
    if facts.get("column", params.column) != params.column:
        raise _error(
            ctx,
            f"run '{params.reuse_run}' fitted this step on another column than '{params.column}'",
            "reuse a run of the same spec, or give `edges:`",
        )
    return list(edges)


def _edges(
    frame: pl.LazyFrame, params: Params, dtype: pl.DataType, ctx: StepContext
) -> tuple[list[float], str]:
    """The edges and where they came from: fitted, custom, edges or reuse_run."""
    if params.edges is not None:
        return [float(e) for e in params.edges], "edges"
    if params.reuse_run is not None:
        edges, source = _reused(params, ctx), "reuse_run"
    elif params.method == "custom":
        assert not isinstance(params.bins, int)
        edges, source = list(params.bins), "custom"
    else:
        edges, source = _fit(frame, params, dtype, ctx), "fitted"
    try:
        check_edges(edges, params.n_bins)
    except ValueError as exc:
        raise _error(
            ctx,
            f"the {source} edges of column '{params.column}' are unusable: {exc}",
            "give `edges:` explicitly, with one more edge than there are labels",
        ) from None
    return [float(e) for e in edges], source


def assign(column: str, edges: list[float], labels: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """(the bin label as pl.Enum(labels), out-of-range flag) for `column`; see the module docstring."""
    value = pl.col(column).cast(pl.Float64)
    known = value.is_not_null() & value.is_not_nan()
    # search_sorted of the values in the edges, as counts of comparisons with each edge: the
    # streaming engine runs a search_sorted with a column argument on the whole column at once
    # (it held every row of the fraud example's flow), comparisons batch by batch
    first_at = pl.sum_horizontal([(pl.lit(e, dtype=pl.Float64) < value).cast(pl.Int64) for e in edges])
    after = pl.sum_horizontal([(pl.lit(e, dtype=pl.Float64) <= value).cast(pl.Int64) for e in edges])
    index = pl.when(first_at != after).then(first_at).otherwise(after - 1).clip(0, len(labels) - 1)
    # gather from an Enum literal: ~5x faster than replace_strict on millions of rows
    label = pl.lit(pl.Series(labels, dtype=pl.Enum(labels))).gather(index)
    outside = (value < edges[0]) | (value > edges[-1])
    return pl.when(known).then(label), known & outside


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    schema = require_columns(frame, [params.column], ctx, STEP)
    dtype = schema[params.column]
    if not dtype.is_numeric():
        raise _error(
            ctx,
            f"column '{params.column}' has type {dtype}; binning needs numbers",
            "cast it to int64, float64 or decimal in a `clean` step first",
        )
    output = params.output_column
    if output in schema and output != params.column:
        raise _error(
            ctx,
            f"bin output '{output}' would overwrite an existing column",
            "choose another `output` name, or drop the existing column in an earlier step",
        )
    edges, source = _edges(frame, params, dtype, ctx)
    labels = params.bin_labels
    label, outside = assign(params.column, edges, labels)
    flag = internal_column(ctx, "out_of_range")
    out = frame.with_columns(label.alias(output), outside.alias(flag))
    facts: dict[str, Any] = {
        "column": params.column,
        "output": output,
        "method": params.method,
        "interpolation": params.interpolation,
        "edges": edges,
        "labels": labels,
        "edges_source": source,
    }
    return StepResult(out, facts=facts, metrics={"out_of_range": pl.col(flag).sum()})
