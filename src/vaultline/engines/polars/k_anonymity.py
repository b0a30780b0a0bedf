"""k_anonymity on Polars: class sizes by window counts, suppression by a reason, k and l by pycanon.

Planning reads the QI and sensitive columns of the flow once (from the executor's spill, since the
step `fits_on_data`):
- per row, the size of its equivalence class is `pl.len().over(QIs)` and its l is the smallest
  `n_unique().over(QIs)` over the sensitive columns. Polars groups nulls together (and NaN with NaN,
  -0.0 with 0.0), so a null QI value is a class of its own and a null sensitive value is one
  distinct value;
- a row violates when its class size < min_k (checked first) or its l < min_l; the same
  expressions, on the projection, give each row's quarantine reason, which the flow gets side by
  side (row for row: the same plan gives the same rows in the same order), so in `suppress` mode
  `split_quarantine` removes exactly those rows (whole classes: the classes left are unchanged);
- in `fail` mode any violation raises a TransformError naming the columns and counts;
- pycanon (`anonymity.k_anonymity`, `anonymity.l_diversity`) then measures the kept rows. It is given
  the QI and sensitive columns converted to pandas as dense integer codes (`rank("dense")`, null ->
  0), one code per distinct value of a column: classes and distinct counts are exactly those of the
  values, but pandas' group-by (which drops null keys) sees no null, and no value leaves Polars.
  Its k must equal the smallest kept class size counted here; a difference is a bug and fails the
  step rather than report a wrong k.

Facts (value-free): quasi_identifiers, sensitive, k (after suppression; null when no row is left),
k_before, l and l_before (null without sensitive columns), classes and classes_before,
classes_suppressed, rows_suppressed, class_sizes (histogram of the classes before suppression:
bucket such as `2`, `3-4`, `100+` -> number of classes), min_k, min_l, on_violation and library
(`pycanon <version>`).
"""

from __future__ import annotations

import warnings
from importlib.metadata import version
from typing import Any

import polars as pl

from vaultline.engines.polars.base import (
    StepContext,
    StepResult,
    internal_column,
    require_columns,
    split_quarantine,
    where,
)
from vaultline.errors import TransformError
from vaultline.transforms.k_anonymity import Params

STEP = "k_anonymity"
# Class-size histogram buckets (inclusive bounds; None = no upper bound).
BUCKETS: tuple[tuple[int, int | None], ...] = (
    (1, 1), (2, 2), (3, 4), (5, 9), (10, 19), (20, 49), (50, 99), (100, None),
)  # fmt: skip
_SIZE = "__vl_k_size"
_L = "__vl_k_l"


def _error(ctx: StepContext, message: str, hint: str) -> TransformError:
    return TransformError(message, hint=hint, where=where(ctx, STEP))


def k_reason(min_k: int) -> str:
    return f"{STEP}:equivalence class smaller than k={min_k}"


def l_reason(min_l: int) -> str:
    return f"{STEP}:equivalence class with fewer than l={min_l} distinct sensitive values"


def _bucket_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{high}"


def _names(columns: list[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def _class_size(qis: list[str]) -> pl.Expr:
    return pl.len().over(qis)


def _class_l(qis: list[str], sensitive: list[str]) -> pl.Expr | None:
    if not sensitive:
        return None
    return pl.min_horizontal([pl.col(s).n_unique().over(qis) for s in sensitive])


def _reason(params: Params, qis: list[str], sensitive: list[str]) -> pl.Expr:
    """The row's violation (null = none): class too small first, then too few sensitive values."""
    reason = pl.lit(None, pl.String)
    l_expr = _class_l(qis, sensitive)
    if params.min_l is not None and l_expr is not None:
        reason = pl.when(l_expr < params.min_l).then(pl.lit(l_reason(params.min_l))).otherwise(reason)
    if params.min_k is not None:
        reason = (
            pl.when(_class_size(qis) < params.min_k).then(pl.lit(k_reason(params.min_k))).otherwise(reason)
        )
    return reason


def _check_types(schema: pl.Schema, columns: list[str], ctx: StepContext) -> None:
    for name in columns:
        dtype = schema[name]
        if dtype.is_nested() or dtype == pl.Object:
            raise _error(
                ctx,
                f"column '{name}' has type {dtype}, which cannot define equivalence classes",
                f"derive a flat (text, number, date) column from '{name}' in an earlier step",
            )


def _histogram(sizes: pl.Series) -> dict[str, int]:
    counts: dict[str, int] = {}
    for low, high in BUCKETS:
        inside = sizes >= low if high is None else (sizes >= low) & (sizes <= high)
        counts[_bucket_label(low, high)] = int(inside.sum())
    return counts


def _pycanon(kept: pl.DataFrame, qis: list[str], sensitive: list[str]) -> tuple[int, int | None]:
    """k and l of the kept rows by pycanon, on dense integer codes (see the module docstring)."""
    try:
        from pycanon import anonymity
    except ImportError:
        raise TransformError(
            "k_anonymity needs the pycanon library, which is not installed",
            hint="run `make setup`, or `pip install --no-deps pycanon==1.3.6` (its pins clash with pydantic)",
        ) from None

    codes = kept.select(pl.col(c).rank("dense").fill_null(0).alias(c) for c in [*qis, *sensitive])
    data = codes.to_pandas()
    with warnings.catch_warnings():
        # pandas deprecations triggered inside pycanon (group keys of a one-column list); not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        k = int(anonymity.k_anonymity(data, qis))
        l_value = int(anonymity.l_diversity(data, qis, sensitive)) if sensitive else None
    return k, l_value


def _fail(ctx: StepContext, params: Params, qis: list[str], stats: dict[str, Any]) -> TransformError:
    parts: list[str] = []
    if stats["rows_below_k"]:
        parts.append(
            f"k-anonymity over {_names(qis)} is {stats['k_before']}, below min_k={params.min_k}: "
            f"{stats['rows_below_k']} row(s) in {stats['classes_below_k']} equivalence class(es) "
            f"smaller than {params.min_k}"
        )
    if stats["rows_below_l"]:
        parts.append(
            f"l-diversity of {_names(params.sensitive)} within the classes of {_names(qis)} is "
            f"{stats['l_before']}, below min_l={params.min_l}: {stats['rows_below_l']} row(s) in "
            f"{stats['classes_below_l']} equivalence class(es) with fewer than {params.min_l} distinct values"
        )
    return _error(
        ctx,
        "; ".join(parts),
        "generalize the quasi-identifiers further in an earlier step (e.g. zip3, age bands, years "
        "instead of dates), drop a quasi-identifier, or set `on_violation: suppress` to quarantine "
        "the rows of those classes",
    )


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    qis = list(dict.fromkeys(params.quasi_identifiers))
    sensitive = list(dict.fromkeys(params.sensitive))
    schema = require_columns(frame, [*qis, *sensitive], ctx, STEP)
    _check_types(schema, [*qis, *sensitive], ctx)

    projected = frame.select(*qis, *sensitive).collect(engine="streaming")
    l_expr = _class_l(qis, sensitive)
    per_row = projected.with_columns(
        _class_size(qis).alias(_SIZE),
        (l_expr if l_expr is not None else pl.lit(None, pl.UInt32)).alias(_L),
    )
    classes = per_row.group_by(qis).agg(pl.first(_SIZE), pl.first(_L))
    below_k = pl.col(_SIZE) < params.min_k if params.min_k is not None else pl.lit(False)
    below_l = pl.col(_L) < params.min_l if params.min_l is not None else pl.lit(False)
    violating = below_k | below_l
    stats: dict[str, Any] = {
        "k_before": per_row[_SIZE].min(),
        "l_before": per_row[_L].min() if sensitive else None,
        "rows_below_k": per_row.filter(below_k).height,
        "classes_below_k": classes.filter(below_k).height,
        "rows_below_l": per_row.filter(below_l).height,
        "classes_below_l": classes.filter(below_l).height,
    }
    rows_violating = per_row.filter(violating).height
    if rows_violating and params.on_violation == "fail":
        raise _fail(ctx, params, qis, stats)

    suppress = params.on_violation == "suppress" and rows_violating > 0
    kept = per_row.filter(~violating) if suppress else per_row
    kept_classes = classes.filter(~violating) if suppress else classes
    k: int | None = None
    l_value: int | None = None
    if kept.height:
        k, l_value = _pycanon(kept, qis, sensitive)
        counted = kept.select(pl.col(_SIZE).min()).item()
        if k != counted:
            raise _error(
                ctx,
                f"pycanon's k ({k}) differs from the class sizes counted here ({counted})",
                "this is a bug in vaultline or pycanon: please report it with the column types",
            )

    facts: dict[str, Any] = {
        "quasi_identifiers": qis,
        "sensitive": sensitive,
        "k": k,
        "k_before": stats["k_before"],
        "l": l_value,
        "l_before": stats["l_before"],
        "classes": kept_classes.height,
        "classes_before": classes.height,
        "classes_suppressed": classes.height - kept_classes.height,
        "rows_suppressed": per_row.height - kept.height,
        "class_sizes": _histogram(classes[_SIZE]),
        "min_k": params.min_k,
        "min_l": params.min_l,
        "on_violation": params.on_violation,
        "library": f"pycanon {version('pycanon')}",
    }
    if not suppress:
        return StepResult(frame, facts=facts)
    # The reasons come from the projection; the flow gets them side by side, row for row (a window
    # over the quasi-identifiers in the flow would hold every row of it).
    reason = internal_column(ctx, "reason")
    reasons = projected.select(_reason(params, qis, sensitive).alias(reason))
    marked = pl.concat([frame, reasons.lazy()], how="horizontal")
    out, rejected = split_quarantine(marked, pl.col(reason))
    return StepResult(out.drop(reason), quarantine=rejected.drop(reason), facts=facts)
