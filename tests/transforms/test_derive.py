"""derive: time since previous, velocity (ties, window boundaries, nulls), safe arithmetic, row order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from vaultline.engines.polars import derive
from vaultline.engines.polars.base import StepResult
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.derive import Params

T0 = dt.datetime(2024, 1, 1)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def run(frame: pl.DataFrame, ctx: RunContext, columns: dict[str, Any]) -> StepResult:
    return derive.apply(frame.lazy(), Params.model_validate({"columns": columns}), ctx)


def arith(expression: str) -> dict[str, Any]:
    return {"kind": "arithmetic", "expression": expression}


def since(**extra: Any) -> dict[str, Any]:
    return {"kind": "time_since_previous", "entity": "customer", "time": "ts", **extra}


def velocity(window: str) -> dict[str, Any]:
    return {"kind": "velocity", "entity": "customer", "time": "ts", "window": window}


# Unsorted input, two entities interleaved, a tie, the window boundary, nulls in entity and time.
EVENTS = pl.DataFrame(
    {
        "customer": ["ana", "bo", "ana", "ana", "bo", "ana", "ana", None, "ana", "bo"],
        "ts": [at(3600), at(0), at(0), at(1800), at(3600), at(3600), None, at(0), at(3600.000001), at(7201)],
        "amount": [10.0, 20.0, 0.0, -5.0, None, 2.5, 1.0, 3.0, 4.0, 100.0],
    }
)


def test_golden_time_since_and_velocity(ctx: RunContext) -> None:
    columns = {"delta": since(), "minutes": since(unit="m", first_value=-1), "v1h": velocity("1h")}
    result = run(EVENTS, ctx, columns)
    expected = EVENTS.with_columns(
        # ana sorted: 0, 1800, 3600 (row 0), 3600 (row 5), 3600.000001; the null time is no event.
        delta=pl.Series([1800.0, None, None, 1800.0, 3600.0, 0.0, None, None, 0.000001, 3601.0]),
        minutes=pl.Series([30.0, -1.0, -1.0, 30.0, 60.0, 0.0, None, None, 0.000001 / 60, 3601 / 60]),
        # (t - 1h, t]: at 3600 the event at 0 is out, both events at 3600 are in (ties count both ways).
        v1h=pl.Series([3, 1, 1, 2, 1, 3, None, None, 4, 1], dtype=pl.Int64),
    )
    out = result.frame.collect()
    assert_frame_equal(out, expected)
    assert_frame_equal(result.frame.collect(engine="streaming"), out)
    assert result.facts == {
        "columns": {"delta": "time_since_previous", "minutes": "time_since_previous", "v1h": "velocity"},
        "inputs": ["customer", "ts"],
    }
    assert result.metrics == {}


def test_ties_are_ordered_by_input_position(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {"customer": [1, 1, 1, 1], "ts": [at(10), at(5), at(10), at(10)], "tag": list("abcd")}
    )
    result = run(frame, ctx, {"d": since(), "v": velocity("5s")})
    out = result.frame.collect()
    # a is the first event at 10 after b at 5: 5 s; c and d follow a at the same instant: 0.
    assert out["d"].to_list() == [5.0, None, 0.0, 0.0]
    # (5, 10]: b at exactly t - 5s is out; all three events at 10 are in.
    assert out["v"].to_list() == [3, 1, 3, 3]
    assert out["tag"].to_list() == list("abcd")


@pytest.mark.parametrize(
    ("window", "counts"),
    [
        ("1s", [1, 1, 1, 1]),
        ("10s", [1, 1, 1, 1]),
        ("11s", [1, 2, 2, 2]),
        ("21s", [1, 2, 3, 3]),
        ("1d", [1, 2, 3, 4]),
    ],
)
def test_window_boundaries(ctx: RunContext, window: str, counts: list[int]) -> None:
    frame = pl.DataFrame({"customer": ["x"] * 4, "ts": [at(0), at(10), at(20), at(30)]})
    out = run(frame, ctx, {"v": velocity(window)}).frame.collect()
    assert out["v"].to_list() == counts


def test_dates_and_time_zones(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {
            "customer": ["a", "a", "a"],
            "ts": [dt.date(2024, 3, 2), dt.date(2024, 3, 1), dt.date(2024, 3, 9)],
        }
    )
    out = run(frame, ctx, {"d": since(unit="d"), "v": velocity("7d")}).frame.collect()
    assert out["d"].to_list() == [1.0, None, 7.0]
    # (Mar 2, Mar 9]: Mar 2 is exactly 7 days before, out.
    assert out["v"].to_list() == [2, 1, 1]

    zoned = pl.DataFrame({"customer": ["a", "a"], "ts": [at(0), at(90)]}).with_columns(
        pl.col("ts").dt.replace_time_zone("Europe/Paris").dt.cast_time_unit("ms")
    )
    out = run(zoned, ctx, {"d": since(unit="ms"), "v": velocity("90s"), "w": velocity("2m")}).frame.collect()
    assert out["d"].to_list() == [None, 90_000.0]
    assert out["v"].to_list() == [1, 1]
    assert out["w"].to_list() == [1, 2]


def test_arithmetic(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {
            "a": [7, -7, 0, None, 2, 1],
            "b": [2.0, 2.0, 0.0, 1.0, -8.0, float("nan")],
            "flag": [True, False, True, False, True, False],
        }
    )
    columns = {
        "div": arith("a / b"),
        "floordiv": arith("a // b"),
        "mod": arith("a % b"),
        "power": arith("b ** -1 + -a"),
        "logs": arith("log(a) + log10(100)"),
        "roots": arith("sqrt(b) * flag"),
        "rounding": arith("round(a / 2) + floor(b / 3) - ceil(0.5) + abs(-a)"),
        "growth": arith("exp(a * 200)"),
    }
    out = run(frame, ctx, columns).frame.collect()
    expected = frame.with_columns(
        div=pl.Series([3.5, -3.5, None, None, -0.25, None]),
        floordiv=pl.Series([3.0, -4.0, None, None, -1.0, None]),
        mod=pl.Series([1.0, 1.0, None, None, -6.0, None]),  # Python semantics: the divisor's sign
        power=pl.Series([-6.5, 7.5, None, None, -2.125, None]),  # 0 ** -1 is a division by zero
        logs=pl.Series([2.0 + 1.945910149055313, None, None, None, 2.0 + 0.6931471805599453, 2.0]),
        roots=pl.Series([1.4142135623730951, 0.0, 0.0, 0.0, None, None]),
        # round halves to even: round(3.5) = 4, round(-3.5) = -4, round(0.5) = 0.
        rounding=pl.Series([4.0 + 0 - 1 + 7, -4.0 + 0 - 1 + 7, 0.0 + 0 - 1, None, 1.0 - 3 - 1 + 2, None]),
        # exp(1400) overflows to inf: null.
        growth=pl.Series([None, 0.0, 1.0, None, 5.221469689764144e173, 7.225973768125749e86]),
    )
    assert_frame_equal(out, expected)


def test_outputs_replace_columns_and_all_read_the_input(ctx: RunContext) -> None:
    frame = pl.DataFrame({"a": [1.0, 2.0]})
    out = run(
        frame,
        ctx,
        {"a": arith("a * 10"), "b": arith("a + 1")},
    ).frame.collect()
    assert_frame_equal(out, pl.DataFrame({"a": [10.0, 20.0], "b": [2.0, 3.0]}))


def test_row_order_is_preserved_on_shuffled_data(ctx: RunContext) -> None:
    n = 200
    frame = pl.DataFrame(
        {
            "customer": [i % 7 for i in range(n)],
            "ts": [at((i * 7919) % 1000) for i in range(n)],
            "i": list(range(n)),
        }
    )
    out = run(frame, ctx, {"d": since(), "v": velocity("1m")}).frame.collect()
    assert out["i"].to_list() == list(range(n))
    assert out.columns == ["customer", "ts", "i", "d", "v"]
    # Brute force: count the same customer's events in (t - 60 s, t].
    rows = frame.rows()
    minute = dt.timedelta(seconds=60)
    brute = [sum(1 for c2, t2, _ in rows if c2 == c and t - minute < t2 <= t) for c, t, _ in rows]
    assert out["v"].to_list() == brute


@pytest.mark.parametrize(
    ("frame", "columns", "words"),
    [
        (
            pl.DataFrame({"customer": ["a"], "ts": ["2024-01-01"]}),
            {"d": since()},
            ["'d'", "'ts'", "clean"],
        ),
        (
            pl.DataFrame({"customer": ["a"], "ts": [1]}),
            {"v": velocity("1h")},
            ["'v'", "'ts'", "Date or Datetime"],
        ),
        (pl.DataFrame({"s": ["SECRET"]}), {"x": arith("s + 1")}, ["'x'", "'s'"]),
        (pl.DataFrame({"s": [1]}), {"x": arith("t + 1")}, ["'t'", "not in the flow"]),
    ],
)
def test_errors(ctx: RunContext, frame: pl.DataFrame, columns: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(TransformError) as info:
        run(frame, ctx, columns)
    text = str(info.value)
    for word in ["step 0 (derive)", "hint:", *words]:
        assert word in text
    assert "SECRET" not in text and "2024" not in text


def test_model_refuses_unsafe_expressions() -> None:
    for expression in ("__import__('os')", "a.b", "max(a)", "1e999 * a", "1" + "0" * 400, "a if b else c"):
        with pytest.raises(ValueError):
            Params.model_validate({"columns": {"x": arith(expression)}})


def test_a_refused_expression_is_named_by_its_kind_never_by_its_text() -> None:
    with pytest.raises(ValidationError) as caught:
        Params.model_validate({"columns": {"x": arith("amount + '4111111111111111'")}})
    message = caught.value.errors()[0]["msg"]  # what the spec loader reports
    assert "a str constant (column 10 of the expression) is not allowed" in message
    assert "4111" not in message
