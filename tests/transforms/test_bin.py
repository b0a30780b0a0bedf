"""bin: fitted, custom and reused edges, collapsed edges on skewed data, clamping, nulls, Enum output."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vaultline.engines.polars import bin as binning
from vaultline.engines.polars.base import StepResult
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.bin import Params

LABELS = ["low", "mid", "high", "top"]


def run(frame: pl.DataFrame, ctx: RunContext, **params: Any) -> StepResult:
    return binning.apply(frame.lazy(), Params.model_validate({"column": "x", **params}), ctx)


def visible(result: StepResult) -> pl.DataFrame:
    return result.frame.collect().select(pl.exclude("^__vl_.*$"))


def metrics(result: StepResult) -> dict[str, int]:
    return result.frame.select(**result.metrics).collect().row(0, named=True)


def binned(result: StepResult, labels: list[str] = LABELS) -> pl.Series:
    return pl.Series("x_bin", result.frame.collect()["x_bin"].to_list(), dtype=pl.Enum(labels))


def test_golden_quartiles(ctx: RunContext) -> None:
    frame = pl.DataFrame({"x": [1, 2, 3, 4, 5, 6, 7, 8, 9, None], "id": list("abcdefghij")})
    result = run(frame, ctx, bins=4, method="quantile", labels=LABELS)
    # Linear quartiles of 1..9: 1, 3, 5, 7, 9. Left-closed, last bin closed, null stays null.
    bins = ["low", "low", "mid", "mid", "high", "high", "top", "top", "top", None]
    expected = frame.with_columns(pl.Series("x_bin", bins, dtype=pl.Enum(LABELS)))
    assert_frame_equal(visible(result), expected)
    assert result.facts == {
        "column": "x",
        "output": "x_bin",
        "method": "quantile",
        "interpolation": "linear",
        "edges": [1.0, 3.0, 5.0, 7.0, 9.0],
        "labels": LABELS,
        "edges_source": "fitted",
    }
    assert metrics(result) == {"out_of_range": 0}
    assert result.frame.collect_schema()["x_bin"] == pl.Enum(LABELS)


def test_percentiles_with_interpolation(ctx: RunContext) -> None:
    frame = pl.DataFrame({"x": [10.0, 20.0, 30.0, 40.0]})
    result = run(frame, ctx, bins=[0, 50, 100], interpolation="lower")
    assert result.facts["edges"] == [10.0, 20.0, 40.0]
    assert binned(result, ["bin_0", "bin_1"]).to_list() == ["bin_0", "bin_1", "bin_1", "bin_1"]
    midpoint = run(frame, ctx, bins=[0, 50, 100], interpolation="midpoint")
    assert midpoint.facts["edges"] == [10.0, 25.0, 40.0]


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "nearest", "midpoint"])
def test_edges_fitted_together_equal_each_point_fitted_alone(ctx: RunContext, interpolation: str) -> None:
    values = [7.5, None, 3.0, float("nan"), 3.0, -2.0, float("inf"), 11.0, 0.25, 3.0, 8.0]
    frame = pl.DataFrame({"x": values})
    points = [0, 10, 25, 50, 75, 90, 95, 99, 100]
    result = run(frame, ctx, bins=points, interpolation=interpolation)
    finite = frame.filter(pl.col("x").is_finite())["x"]
    alone = [finite.quantile(p / 100, interpolation=interpolation) for p in points]
    assert result.facts["edges"] == alone


def test_default_params_give_quartiles(ctx: RunContext) -> None:
    result = run(pl.DataFrame({"x": [0, 1, 2, 3, 4]}), ctx)
    assert result.facts["method"] == "percentile"
    assert result.facts["edges"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert result.facts["labels"] == ["bin_0", "bin_1", "bin_2", "bin_3"]


def test_skewed_data_collapsed_edges(ctx: RunContext) -> None:
    # 80% zeros: the 0th, 25th, 50th and 75th percentiles are all 0.
    frame = pl.DataFrame({"x": [0, 0, 0, 0, 0, 0, 0, 0, 1, 100]})
    result = run(frame, ctx, bins=[0, 25, 50, 75, 100], labels=LABELS)
    assert result.facts["edges"] == [0.0, 0.0, 0.0, 0.0, 100.0]
    # Point bins [0,0] for low, mid, high: zeros go to the FIRST (low); mid and high stay empty;
    # everything above 0 goes to [0, 100].
    assert binned(result).to_list() == ["low"] * 8 + ["top", "top"]


def test_collapsed_edges_in_the_middle_and_at_the_top(ctx: RunContext) -> None:
    frame = pl.DataFrame({"x": [-1.0, 0.0, 2.5, 5.0, 7.0, 10.0, 11.0]})
    three = [0, 50, 75, 100]  # the spec's percentiles: reused edges must give as many bins
    middle = run(frame, ctx, bins=three, edges=[0, 5, 5, 10], labels=["a", "b", "c"])
    # [0,5) a, [5,5] b, [5,10] c: 5 is in the point bin b, above 5 in c.
    assert binned(middle, ["a", "b", "c"]).to_list() == ["a", "a", "a", "b", "c", "c", "c"]
    top = run(frame, ctx, bins=three, edges=[0, 5, 10, 10], labels=["a", "b", "c"])
    # [0,5) a, [5,10) b, [10,10] c: only 10 (and the clamped 11) are in c.
    assert binned(top, ["a", "b", "c"]).to_list() == ["a", "a", "a", "b", "b", "c", "c"]
    everything = run(frame, ctx, bins=[0, 50, 100], edges=[3, 3, 3], labels=["a", "b"])
    assert binned(everything, ["a", "b"]).to_list() == ["a", "a", "a", "b", "b", "b", "b"]
    assert metrics(everything) == {"out_of_range": 7}


def test_custom_edges_boundaries_and_clamping(ctx: RunContext) -> None:
    values = [-5.0, 0.0, 9.999, 10.0, 50.0, 100.0, 100.5, None, float("nan"), float("inf"), float("-inf")]
    result = run(pl.DataFrame({"x": values}), ctx, method="custom", bins=[0, 10, 100], labels=["s", "l"])
    assert binned(result, ["s", "l"]).to_list() == ["s", "s", "s", "l", "l", "l", "l", None, None, "l", "s"]
    assert metrics(result) == {"out_of_range": 4}
    assert result.facts["edges_source"] == "custom"


def test_given_edges_override_fitting(ctx: RunContext) -> None:
    frame = pl.DataFrame({"x": [1, 50, 500]})
    result = run(frame, ctx, bins=[0, 50, 100], edges=[0, 100, 1000], labels=["a", "b"], output="band")
    expected = frame.with_columns(pl.Series("band", ["a", "a", "b"], dtype=pl.Enum(["a", "b"])))
    assert_frame_equal(visible(result), expected)
    assert result.facts["edges"] == [0.0, 100.0, 1000.0]
    assert result.facts["edges_source"] == "edges"


def test_reused_edges_from_an_earlier_run(ctx: RunContext) -> None:
    seen: list[tuple[str, int]] = []

    def lookup(run_id: str, step: int) -> dict[str, Any]:
        seen.append((run_id, step))
        return {"column": "x", "edges": [0.0, 0.0, 10.0]}

    ctx.facts_lookup = lookup
    result = run(pl.DataFrame({"x": [-1, 0, 5, 10, 11]}), ctx, bins=[0, 50, 100], reuse_run="r-1")
    assert seen == [("r-1", 0)]
    assert binned(result, ["bin_0", "bin_1"]).to_list() == ["bin_0", "bin_0", "bin_1", "bin_1", "bin_1"]
    assert metrics(result) == {"out_of_range": 2}
    assert result.facts["edges"] == [0.0, 0.0, 10.0]
    assert result.facts["edges_source"] == "reuse_run"


@pytest.mark.parametrize(
    "facts",
    [{}, {"column": "x", "edges": [0.0, 10.0]}, {"column": "other", "edges": [0.0, 1.0, 2.0]}],
)
def test_unusable_reused_edges(ctx: RunContext, facts: dict[str, Any]) -> None:
    ctx.facts_lookup = lambda run_id, step: facts
    with pytest.raises(TransformError, match=r"step 0 \(bin\).*'x'"):
        run(pl.DataFrame({"x": [1]}), ctx, bins=[0, 50, 100], reuse_run="r-1")


def test_decimal_column_and_in_place_output(ctx: RunContext) -> None:
    frame = pl.DataFrame({"x": [1.5, 2.5, 3.5]}).with_columns(pl.col("x").cast(pl.Decimal(10, 2)))
    result = run(frame, ctx, method="custom", bins=[0, 2, 4], labels=["a", "b"], output="x")
    expected = pl.DataFrame({"x": pl.Series(["a", "b", "b"], dtype=pl.Enum(["a", "b"]))})
    assert_frame_equal(visible(result), expected)


def test_fit_ignores_nan_and_infinity(ctx: RunContext) -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, float("nan"), float("inf")]})
    result = run(frame, ctx, bins=[0, 50, 100])
    assert result.facts["edges"] == [1.0, 2.0, 3.0]
    assert binned(result, ["bin_0", "bin_1"]).to_list() == ["bin_0", "bin_1", "bin_1", None, "bin_1"]
    assert metrics(result) == {"out_of_range": 1}


def test_streaming_matches(ctx: RunContext) -> None:
    frame = pl.DataFrame({"x": [*range(20), None]})
    result = run(frame, ctx, bins=5, method="quantile")
    assert_frame_equal(result.frame.collect(engine="streaming"), result.frame.collect())


@pytest.mark.parametrize(
    ("frame", "params", "words"),
    [
        (pl.DataFrame({"x": ["1", "2"]}), {}, ["'x'", "numbers"]),
        (pl.DataFrame({"x": [None, None]}, schema={"x": pl.Float64}), {}, ["'x'", "no finite"]),
        (pl.DataFrame({"x": [1.0], "x_bin": ["a"]}), {}, ["'x_bin'", "overwrite"]),
        (pl.DataFrame({"y": [1.0]}), {}, ["'x'", "not in the flow"]),
    ],
)
def test_errors(ctx: RunContext, frame: pl.DataFrame, params: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(TransformError) as info:
        run(frame, ctx, **params)
    text = str(info.value)
    assert "step 0 (bin)" in text and "hint:" in text
    for word in words:
        assert word in text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"edges": [0, 1]}, "4 bins need 5 edges"),
        ({"bins": [0, 50, 100], "edges": [2, 1, 3]}, "non-decreasing"),
        ({"method": "custom"}, "needs a list of edges"),
        ({"bins": [0, 50, 50, 100]}, "strictly increasing"),
        ({"bins": [0, 150]}, "between 0 and 100"),
        ({"method": "custom", "bins": [0, float("inf")]}, "finite"),
    ],
)
def test_model_checks(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Params.model_validate({"column": "x", **params})
