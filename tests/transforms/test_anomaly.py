"""anomaly on Polars: exact sklearn scores, outliers found, determinism, feature types, nulls."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import IsolationForest

from vaultline.engines.polars import _isolation_forest as iforest
from vaultline.engines.polars.anomaly import apply
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.anomaly import Params

FACT_KEYS = {
    "features",
    "n_estimators",
    "max_samples",
    "sample_rows_used",
    "threshold",
    "contamination",
    "implementation",
    "model_fingerprint",
}


def _normal(rows: int, features: int, seed: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, features))


def _frame(matrix: np.ndarray[Any, Any], names: list[str]) -> pl.LazyFrame:
    return pl.DataFrame({n: matrix[:, i] for i, n in enumerate(names)}).lazy()


def _sklearn_reference(matrix: np.ndarray[Any, Any], params: Params, every: int) -> IsolationForest:
    """What the step should fit: sklearn on every `every`-th row, float32, contamination='auto'."""
    sample = matrix[::every].astype(np.float32)
    sample[np.isinf(sample)] = np.nan
    return IsolationForest(
        n_estimators=params.n_estimators,
        max_samples=256 if params.max_samples == "auto" else params.max_samples,
        random_state=params.random_state,
        contamination="auto",
    ).fit(sample)


def test_scores_equal_sklearn_score_samples(ctx: RunContext) -> None:
    names = ["a", "b", "c"]
    matrix = _normal(3000, 3, seed=1)
    matrix[:, 1] = np.exp(matrix[:, 1])
    params = Params(features=names, sample_rows=1000, n_estimators=50, random_state=7, contamination=0.05)
    result = apply(_frame(matrix, names), params, ctx)
    out = result.frame.collect()

    reference = _sklearn_reference(matrix, params, every=3)
    expected = -reference.score_samples(matrix.astype(np.float32))
    np.testing.assert_allclose(out["anomaly_score"].to_numpy(), expected, rtol=0, atol=1e-9)

    sample_scores = -reference.score_samples(matrix[::3].astype(np.float32))
    threshold = float(np.quantile(sample_scores, 1 - params.contamination))
    assert result.facts["threshold"] == pytest.approx(threshold, abs=1e-12)
    assert result.facts["sample_rows_used"] == 1000
    assert out["is_anomaly"].to_list() == (expected > threshold).tolist()
    # The same flags as sklearn fitted with a float contamination, on its training sample.
    with_contamination = IsolationForest(
        n_estimators=50, max_samples=256, random_state=7, contamination=0.05
    ).fit(matrix[::3].astype(np.float32))
    assert (with_contamination.predict(matrix[::3].astype(np.float32)) == -1).tolist() == (
        sample_scores > threshold
    ).tolist()
    assert set(result.facts) >= FACT_KEYS
    assert all(0 < s <= 1 for s in out["anomaly_score"].to_list())


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"max_features": 0.5},  # trees read a subset of the columns (estimators_features_)
        {"max_samples": 2048},  # deeper trees
        {"max_samples": 2},
    ],
)
def test_kernel_equals_sklearn_with_missing_values(options: dict[str, Any]) -> None:
    matrix = _normal(6000, 4, seed=2)
    rng = np.random.default_rng(3)
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    matrix[:5, 0] = np.inf
    matrix[5:10, 2] = -1e300  # beyond float32: missing, like inf
    fit = iforest.fit_matrix([matrix[:3000, i] for i in range(4)])
    model = IsolationForest(random_state=0, **options).fit(fit)
    forest = iforest.pack(model, ["a", "b", "c", "d"])
    scored = iforest.anomaly_scores(forest, np.ascontiguousarray(matrix.T))
    as_fitted = iforest.fit_matrix([matrix[:, i] for i in range(4)])
    np.testing.assert_allclose(scored, -model.score_samples(as_fitted), rtol=0, atol=1e-9)


def test_injected_outliers_are_flagged(ctx: RunContext) -> None:
    rows, names = 20_000, ["f0", "f1", "f2", "f3"]
    matrix = _normal(rows, 4, seed=4)
    rng = np.random.default_rng(5)
    outliers = rng.choice(rows, size=rows // 100, replace=False)
    signs = rng.choice([-1.0, 1.0], size=(outliers.size, 4))
    matrix[outliers] = signs * rng.uniform(6, 10, size=(outliers.size, 4))
    params = Params(features=names, contamination=0.01, sample_rows=5000)
    result = apply(_frame(matrix, names), params, ctx)
    out = result.frame.collect()
    flags = out["is_anomaly"].to_numpy()
    recall = flags[outliers].mean()
    rate = flags.mean()
    assert recall >= 0.9
    assert 0.005 <= rate <= 0.02
    metrics = out.select(**result.metrics)
    assert metrics["flagged"].item() == flags.sum()
    assert metrics["flagged_rate"].item() == pytest.approx(rate)
    assert result.facts["sample_rows_used"] == 5000


def test_deterministic(ctx: RunContext) -> None:
    names = ["x", "y"]
    frame = _frame(_normal(4000, 2, seed=6), names)
    params = Params(features=names, sample_rows=1000, random_state=11)
    first, second = apply(frame, params, ctx), apply(frame, params, ctx)
    assert first.facts == second.facts
    assert len(first.facts["model_fingerprint"]) == 64
    assert first.frame.collect().equals(second.frame.collect(engine="streaming"))
    other = apply(frame, params.model_copy(update={"random_state": 12}), ctx)
    assert other.facts["model_fingerprint"] != first.facts["model_fingerprint"]


def test_enum_and_boolean_features_enter_as_codes(ctx: RunContext) -> None:
    rng = np.random.default_rng(7)
    levels = ["low", "mid", "high", "extreme"]
    codes = rng.choice(4, size=3000, p=[0.5, 0.3, 0.19, 0.01])
    amount = rng.normal(size=3000)
    flag = rng.random(3000) < 0.2
    typed = pl.LazyFrame(
        {
            "level": pl.Series([levels[c] for c in codes], dtype=pl.Enum(levels)),
            "amount": amount,
            "flag": flag,
        }
    )
    numeric = pl.LazyFrame({"level": codes.astype(np.int64), "amount": amount, "flag": flag.astype(np.int64)})
    params = Params(features=["level", "amount", "flag"], sample_rows=1000)
    typed_result, numeric_result = apply(typed, params, ctx), apply(numeric, params, ctx)
    assert typed_result.facts["model_fingerprint"] == numeric_result.facts["model_fingerprint"]
    typed_out = typed_result.frame.collect()
    assert typed_out["anomaly_score"].equals(numeric_result.frame.collect()["anomaly_score"])
    assert typed_out["level"].dtype == pl.Enum(levels)  # the inputs are untouched


def test_text_feature_is_rejected(ctx: RunContext) -> None:
    frame = pl.LazyFrame({"amount": [1.0, 2.0], "merchant": ["a", "b"]})
    with pytest.raises(TransformError) as caught:
        apply(frame, Params(features=["amount", "merchant"]), ctx)
    message = str(caught.value)
    assert "'merchant'" in message
    assert "text" in message
    assert "bin or encode" in message


def test_other_types_and_missing_columns_are_rejected(ctx: RunContext) -> None:
    frame = pl.LazyFrame({"amount": [1.0, 2.0], "day": pl.Series(["2024-01-01", "2024-01-02"]).str.to_date()})
    with pytest.raises(TransformError, match="'day' has type Date"):
        apply(frame, Params(features=["amount", "day"]), ctx)
    with pytest.raises(TransformError, match="'nope'"):
        apply(frame, Params(features=["nope"]), ctx)
    with pytest.raises(TransformError, match="overwrite"):
        apply(frame, Params(features=["amount"], score_column="day"), ctx)


def test_empty_flow_is_rejected(ctx: RunContext) -> None:
    with pytest.raises(TransformError, match="no rows"):
        apply(pl.LazyFrame({"a": pl.Series([], dtype=pl.Float64)}), Params(features=["a"]), ctx)


def test_nulls_are_missing_values(ctx: RunContext) -> None:
    names = ["a", "b", "c"]
    matrix = _normal(3000, 3, seed=8)
    rng = np.random.default_rng(9)
    missing = rng.random(matrix.shape) < 0.1
    with_nan = np.where(missing, np.nan, matrix)
    frame = pl.DataFrame({n: pl.Series(with_nan[:, i]).fill_nan(None) for i, n in enumerate(names)})
    assert frame.null_count().sum_horizontal().item() == missing.sum()
    params = Params(features=names, sample_rows=1000)
    result = apply(frame.lazy(), params, ctx)
    scores = result.frame.collect()["anomaly_score"]
    assert scores.null_count() == 0
    assert np.isfinite(scores.to_numpy()).all()
    reference = _sklearn_reference(with_nan, params, every=3)
    expected = -reference.score_samples(with_nan.astype(np.float32))
    np.testing.assert_allclose(scores.to_numpy(), expected, rtol=0, atol=1e-9)
    # NaN and infinities are missing too: the same scores as nulls.
    odd = frame.with_columns(pl.col("a").fill_null(float("nan")), pl.col("b").fill_null(float("inf")))
    odd_scores = apply(odd.lazy(), params, ctx).frame.collect()["anomaly_score"]
    assert odd_scores.equals(scores)
