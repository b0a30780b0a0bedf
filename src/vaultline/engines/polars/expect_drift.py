"""expect's distribution_drift on Polars: the population stability index (PSI) of a column against
the baseline an earlier run recorded, and the baseline this run records for the next one.

PSI = sum over bins of (a - e) * ln(a / e), a and e the shares of this run and of the
baseline, each floored at 1e-4 so that an empty bin weighs a large but finite amount. Numeric
columns use the baseline run's equal-frequency edges e_1 < ... < e_k, bins (-inf, e_1],
(e_1, e_2], ..., (e_k, +inf), nulls and NaN left out; each edge is the midpoint of two adjacent
distinct values, so it is never a value of the data. Other columns use the baseline's most
frequent categories plus one `other` bucket; a category is recorded as HMAC-SHA256 of its text
under the expectation's token domain (purpose `quality`), 16 hex digits, never as text.

Each run records its own baseline for the next one; a baseline under another key version starts
afresh. A run with too few values for a baseline (numeric: fewer than 10 finite values per bin, or
a single distinct one; other columns: none) carries the baseline it was given forward, still naming
the run that recorded it, so one such run does not erase the history.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from vaultline.engines.polars.base import StepContext, key_version, where
from vaultline.engines.polars.text import canonical_text
from vaultline.errors import TransformError
from vaultline.transforms.expect import SPEC as EXPECT
from vaultline.transforms.expect import DistributionDrift

STEP = EXPECT.name
PURPOSE = "quality"
"""The token domain purpose under which category labels are hashed."""
PSI_FLOOR = 1e-4
HASH_HEX_DIGITS = 16
# Distinct labels hashed for a categorical drift check: beyond this the column is an identifier,
# whose "distribution" says nothing.
MAX_DISTINCT_LABELS = 10_000
# Finite values per bin a numeric baseline needs: fewer make shares too noisy to compare with, and
# with a handful of rows an edge would pin down individual values.
MIN_VALUES_PER_BIN = 10
_CATEGORICAL_TYPES = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)
Statistic = Callable[[pl.LazyFrame], pl.LazyFrame]
"""A frame -> its one-row statistics (what a dataset-level result reports and its check bounds)."""


def _psi_term(actual: pl.Expr, expected: pl.Expr) -> pl.Expr:
    a = pl.max_horizontal(actual, pl.lit(PSI_FLOOR))
    e = pl.max_horizontal(expected, pl.lit(PSI_FLOOR))
    return (a - e) * (a / e).log()


def _numbers(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """The column's numbers as one Float64 column `v`, without nulls and NaN (which have no bin)."""
    return frame.select(pl.col(column).cast(pl.Float64).alias("v")).filter(pl.col("v").is_not_nan())


def _numeric_shares(frame: pl.LazyFrame, column: str, edges: list[float]) -> pl.LazyFrame:
    """Count of the column's numbers and the share in each bin (e_i-1, e_i] (edges below a value)."""
    bucket = pl.sum_horizontal([(pl.col("v") > edge).cast(pl.UInt32) for edge in edges])
    bins = _numbers(frame, column).select(bucket.alias("bin"))
    shares = [(pl.col("bin") == i).mean().alias(f"s{i}") for i in range(len(edges) + 1)]
    return bins.select(pl.len().alias("values"), *shares)


def _numeric_psi(frame: pl.LazyFrame, *, column: str, baseline: dict[str, Any]) -> pl.LazyFrame:
    shares = _numeric_shares(frame, column, baseline["edges"])
    terms = [_psi_term(pl.col(f"s{i}"), pl.lit(p)) for i, p in enumerate(baseline["proportions"])]
    return shares.select("values", pl.when(pl.col("values") > 0).then(pl.sum_horizontal(terms)).alias("psi"))


def _midpoint_edges(values: np.ndarray[Any, np.dtype[np.float64]], bins: int) -> list[float]:
    """Equal-frequency edges of sorted `values`, none of them a value: the i-th edge is the midpoint of
    the nearest pair of adjacent distinct values around the (n * i / bins)-th one.

    A quantile (linear or midpoint interpolation alike) is itself an order statistic whenever its
    position is whole, or when the two order statistics around it are equal; a midpoint between two
    *distinct* adjacent values lies strictly between them, where no value is. Where the cut falls
    inside a run of equal values, the nearest boundary of that run is used instead (moving the cut, not
    the value): the run stays whole in one bin, and cuts that land on the same boundary merge into one
    edge (fewer, uneven bins, which the PSI compares as well as even ones)."""
    n = len(values)
    # gaps[g] = j: values[j - 1] < values[j], the places where a cut can fall between two values.
    gaps = np.flatnonzero(np.diff(values) > 0) + 1
    edges: set[float] = set()
    for i in range(1, bins):
        cut = n * i // bins
        after = int(np.searchsorted(gaps, cut))
        nearest = [int(gaps[g]) for g in (after - 1, after) if 0 <= g < len(gaps)]
        if not nearest:
            continue
        j = min(nearest, key=lambda candidate: abs(candidate - cut))
        low, high = float(values[j - 1]), float(values[j])
        edge = low / 2 + high / 2  # halves first: (low + high) can overflow
        # Between two consecutive floats the midpoint rounds onto one of them: no edge there.
        if low < edge < high:
            edges.add(edge)
    return sorted(edges)


def _numeric_baseline(data: pl.DataFrame, e: DistributionDrift) -> tuple[dict[str, Any] | None, str]:
    """The baseline this run records, or None and why there is none."""
    finite = _numbers(data.lazy(), e.column).filter(pl.col("v").is_finite()).sort("v").collect()
    needed = MIN_VALUES_PER_BIN * e.bins
    if finite.height < needed:
        return None, f"fewer than {needed} finite values ({MIN_VALUES_PER_BIN} per bin)"
    edges = _midpoint_edges(finite["v"].to_numpy(), e.bins)
    if not edges:
        return None, "no two distinct finite values to put an edge between"
    shares = _numeric_shares(data.lazy(), e.column, edges).collect().row(0)
    return {"type": "numeric", "edges": edges, "proportions": [float(s) for s in shares[1:]]}, ""


def _label_hashes(data: pl.DataFrame, ctx: StepContext, e: DistributionDrift) -> pl.DataFrame:
    """label -> keyed hash for each distinct label (one HMAC per label, not per row). The labels stay
    in this in-memory frame; only the hashes are recorded."""
    text = canonical_text(e.column, data.schema[e.column], ctx, STEP)
    labels = data.select(text.alias("label")).unique().drop_nulls()
    if labels.height > MAX_DISTINCT_LABELS:
        raise TransformError(
            f"expectation '{e.name}' needs a categorical column, but '{e.column}' has more than "
            f"{MAX_DISTINCT_LABELS} distinct values",
            hint="watch the drift of a numeric, binned or generalized column rather than an identifier",
            where=where(ctx, STEP),
        )
    key = ctx.domain_key(e.domain, PURPOSE).reveal()
    digests = [
        hmac.new(key, label.encode("utf-8"), hashlib.sha256).hexdigest()[:HASH_HEX_DIGITS]
        for label in labels["label"]
    ]
    return labels.with_columns(pl.Series("hash", digests, dtype=pl.String))


def _category_shares(frame: pl.LazyFrame, *, label: pl.Expr, hashes: pl.DataFrame) -> pl.LazyFrame:
    """hash, count and share of each category of the frame."""
    counts = frame.select(label.alias("label")).drop_nulls().group_by("label").len()
    joined = counts.join(hashes.lazy(), on="label").select("hash", "len")
    return joined.with_columns((pl.col("len") / pl.col("len").sum()).alias("share"))


def _categorical_psi(frame: pl.LazyFrame, *, shares: Statistic, baseline: dict[str, Any]) -> pl.LazyFrame:
    current = shares(frame)
    expected = pl.LazyFrame(
        {"hash": baseline["categories"], "expected": baseline["proportions"]},
        schema={"hash": pl.String, "expected": pl.Float64},
    )
    matched = expected.join(current, on="hash", how="left").with_columns(pl.col("share").fill_null(0.0))
    # Categories the baseline did not keep (or never saw) fall in its `other` bucket.
    other = matched.select(
        pl.lit(float(baseline["other"])).alias("expected"), (1.0 - pl.col("share").sum()).alias("share")
    )
    buckets = pl.concat([matched.select("expected", "share"), other])
    psi = buckets.select(_psi_term(pl.col("share"), pl.col("expected")).sum().alias("psi"))
    values = current.select(pl.col("len").sum().alias("values"))
    both = pl.concat([values, psi], how="horizontal")
    return both.select("values", pl.when(pl.col("values") > 0).then(pl.col("psi")).alias("psi"))


def _categorical_baseline(
    shares: pl.DataFrame, e: DistributionDrift, version: int | None
) -> tuple[dict[str, Any] | None, str]:
    """The baseline this run records, or None and why there is none."""
    if not shares.height:
        return None, "no values"
    top = shares.sort(["share", "hash"], descending=[True, False]).head(e.max_categories)
    return {
        "type": "categorical",
        "categories": top["hash"].to_list(),
        "proportions": [float(s) for s in top["share"]],
        "other": max(0.0, 1.0 - float(top["share"].sum())),
        "key_version": version,
    }, ""


@dataclass
class Drift:
    """One drift expectation: its statistic (None when there is no comparable baseline), the baseline
    this run records for the next one, and what the result reports."""

    statistic: Statistic | None
    next_baseline: dict[str, Any] | None
    observed: dict[str, Any]


def _recorded_by(baseline: dict[str, Any], run: str | None) -> str | None:
    """The run whose values a baseline describes: `run` (the previous run), unless it carried it."""
    recorded = baseline.get("run") or run
    return None if recorded is None else str(recorded)


def drift_of(
    data: pl.DataFrame,
    ctx: StepContext,
    e: DistributionDrift,
    previous: dict[str, Any] | None,
    run: str | None,
) -> Drift:
    dtype = data.schema[e.column]
    statistic: Statistic | None = None
    if dtype.is_numeric():
        if previous is not None and previous.get("type") == "numeric":
            statistic = partial(_numeric_psi, column=e.column, baseline=previous)
        next_baseline, why_none = _numeric_baseline(data, e)
    elif dtype in _CATEGORICAL_TYPES:
        hashes = _label_hashes(data, ctx, e)
        version = key_version(ctx, PURPOSE, e.domain)
        shares = partial(_category_shares, label=canonical_text(e.column, dtype, ctx, STEP), hashes=hashes)
        if (
            previous is not None
            and previous.get("type") == "categorical"
            and previous["key_version"] == version
        ):
            statistic = partial(_categorical_psi, shares=shares, baseline=previous)
        next_baseline, why_none = _categorical_baseline(shares(data.lazy()).collect(), e, version)
    else:
        raise TransformError(
            f"expectation '{e.name}' needs a numeric or categorical column, "
            f"but '{e.column}' has type {dtype}",
            hint="watch a numeric, text or boolean column (cast dates to numbers in a clean step first)",
            where=where(ctx, STEP),
        )
    observed: dict[str, Any] = {"threshold": e.threshold}
    if statistic is not None:
        observed["baseline_run"] = _recorded_by(previous or {}, run)
    else:
        # No comparable baseline (first run, new expectation, changed type, rotated key): this run is
        # one, if it has enough values.
        observed["baseline"] = next_baseline is not None
    if next_baseline is None:
        observed["no_new_baseline"] = why_none
        if previous is not None:
            # One run with nothing (or too little) to measure must not erase the history: the next
            # run compares with the baseline this one was given, which still names its own run.
            next_baseline = {**previous, "run": _recorded_by(previous, run)}
    return Drift(statistic, next_baseline, observed)
