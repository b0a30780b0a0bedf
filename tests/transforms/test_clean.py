"""clean: rule order, first-failing reasons, original values in quarantine, casts, constraints, dedupe."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from vaultline.engines.polars import clean
from vaultline.engines.polars.base import REASON, StepResult
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.clean import Params

DEC = pl.Decimal(38, 2)


def run(frame: pl.DataFrame, ctx: RunContext, **params: Any) -> StepResult:
    return clean.apply(frame.lazy(), Params.model_validate(params), ctx)


def kept(result: StepResult) -> pl.DataFrame:
    return result.frame.collect()


def rejected(result: StepResult) -> pl.DataFrame:
    assert result.quarantine is not None
    return result.quarantine.collect()


def reasons(result: StepResult) -> list[str]:
    return rejected(result)[REASON].to_list()


RAW = pl.DataFrame(
    {
        "transaction_id": ["t1", " t2 ", "t3", "t2", "t4", "t5", "t6", "t7", "t8", "t9", "t1"],
        "amount": ["10.50", "0", "abc", "5", "-0.01", "12.345", "", "1e3", "7", " 8 ", "99"],
        "email": [
            "  Ana@Example.COM ",
            "bo@x.io",
            "c@x.io",
            "dup@x.io",
            "e@x.io",
            "f@x.io",
            "g@x.io",
            "not-an-email",
            "ünï@bücher.de",
            "i@x.io",
            "late@x.io",
        ],
        "currency": ["usd", "eur", "usd", "gbp", "usd", "usd", "usd", "usd", None, "chf", "usd"],
        "ts": [
            "2024-01-01",
            "2024-02-29",
            "2024-01-03",
            "2024-01-04",
            "2024-01-05",
            "2024-01-06",
            "2024-01-07",
            "2024-01-08",
            "2024-01-09",
            "2023-02-29",
            "2024-01-11",
        ],
    }
)
RULES: dict[str, Any] = {
    "trim": True,
    "case": {"email": "lower", "currency": "upper"},
    "cast": {"amount": "decimal"},
    "parse": {"ts": {"format": "%Y-%m-%d"}},
    "required": ["transaction_id", "amount"],
    "fill": {"currency": "USD"},
    "constraints": {
        "amount": {"min": 0, "max": 1000},
        "email": {"pattern": r"[^@\s]+@[^@\s]+\.[^@\s]+"},
        "currency": {"allowed": ["USD", "EUR", "GBP"]},
    },
    "dedupe": {"keys": ["transaction_id"]},
}


def test_golden_clean(ctx: RunContext) -> None:
    result = run(RAW, ctx, **RULES)
    expected = pl.DataFrame(
        {
            "transaction_id": ["t1", "t2", "t8"],
            "amount": pl.Series([Decimal("10.50"), Decimal("0.00"), Decimal("7.00")], dtype=DEC),
            "email": ["ana@example.com", "bo@x.io", "ünï@bücher.de"],
            "currency": ["USD", "EUR", "USD"],
            "ts": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), dt.date(2024, 1, 9)],
        }
    )
    assert_frame_equal(kept(result), expected)

    # Quarantined rows carry their original values, in input order, with the first failing rule.
    quarantine = RAW.with_columns(
        pl.Series(
            REASON,
            [
                None,
                None,
                "cast:amount",  # abc
                "duplicate:transaction_id",  # " t2 " trimmed came first
                "range:amount",  # -0.01
                "cast:amount",  # 12.345 would lose a digit
                "required:amount",  # "" is null
                "pattern:email",  # 1e3 = 1000.00 is in range; the email is not
                None,
                "parse:ts",  # 2023-02-29 does not exist; CHF would fail later
                "duplicate:transaction_id",
            ],
        )
    ).filter(pl.col(REASON).is_not_null())
    assert_frame_equal(rejected(result), quarantine)


def test_facts_list_the_rules_not_counts(ctx: RunContext) -> None:
    facts = run(RAW, ctx, **RULES).facts
    assert facts["reasons"] == [
        "cast:amount",
        "parse:ts",
        "required:transaction_id",
        "required:amount",
        "range:amount",
        "pattern:email",
        "allowed:currency",
        "duplicate:transaction_id",
    ]
    assert facts["trim"] == ["transaction_id", "amount", "email", "currency", "ts"]
    assert facts["constraints"] == {"amount": ["min", "max"], "email": ["pattern"], "currency": ["allowed"]}
    assert facts["dedupe"] == {"keys": ["transaction_id"], "keep": "first"}
    assert facts["quarantine_values"] == "original"


def test_streaming_gives_the_same_rows(ctx: RunContext) -> None:
    result = run(RAW, ctx, **RULES)
    assert_frame_equal(result.frame.collect(engine="streaming"), kept(result))
    assert result.quarantine is not None
    assert_frame_equal(result.quarantine.collect(engine="streaming"), rejected(result))


def test_first_failing_rule_wins_in_order(ctx: RunContext) -> None:
    frame = pl.DataFrame({"a": ["x", None, "5", "50"], "b": [None, None, "zz", "ok"]})
    result = run(
        frame,
        ctx,
        cast={"a": "int64"},
        required=["b", "a"],
        constraints={"a": {"max": 10}, "b": {"allowed": ["ok"]}},
    )
    # cast before required; required in spec order (b, a); constraints in spec order.
    assert reasons(result) == ["cast:a", "required:b", "allowed:b", "range:a"]
    assert kept(result).height == 0


def test_casts(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {
            "i": ["1", "-2", "1.0", "x", None, "9223372036854775808"],
            "f": ["1.5", "-0", "nan", "1e-3", "", "one"],
            "b": ["TRUE", "no", "Y", "0", "maybe", None],
            "d": ["1", "2.5", "2.50", "-0.005", "1e2", "1.234e1"],
        }
    )
    result = run(frame, ctx, cast={"i": "int64", "f": "float64", "b": "bool", "d": "decimal"})
    # "1.0" is not an int64, "x" neither, "maybe" no bool, 2**63 overflows: the first failing cast wins.
    assert reasons(result) == ["cast:i", "cast:i", "cast:b", "cast:i"]
    assert_frame_equal(rejected(result).drop(REASON), frame[2:])
    assert kept(result).to_dicts() == [
        {"i": 1, "f": 1.5, "b": True, "d": Decimal("1.00")},
        {"i": -2, "f": -0.0, "b": False, "d": Decimal("2.50")},
    ]


@pytest.mark.parametrize(
    ("values", "target", "converted"),
    [
        (["1", "1.0", "x", None], "int64", [1, None, None, None]),
        ([1.0, 1.5, None, float("nan")], "int64", [1, None, None, None]),  # no silent truncation
        (["2.50", "-0.005", "1e2", "1.234e1"], "decimal", ["2.50", None, "100.00", "12.34"]),
        ([1, 0, 2, None], "bool", [True, False, None, None]),  # only 0 and 1 are booleans
        ([True, False, None, True], "decimal", ["1.00", "0.00", None, "1.00"]),
        ([1.25, -7.0, None, 1e300], "string", ["1.25", "-7.0", None, "1e+300"]),
        # a float64 holds whole numbers exactly only up to 2**53
        ([2**53, 2**53 + 1, -(2**53), None], "float64", [2.0**53, None, -(2.0**53), None]),
        (["12", "1.5e3", "1234567890123456", "-00000000000000012"], "float64", [12.0, 1500.0, None, None]),
        # past float64's range the text would become inf; an infinity written as such converts
        (["1e309", "-1e400", "-Infinity", "inf"], "float64", [None, None, float("-inf"), float("inf")]),
    ],
)
def test_cast_per_type(ctx: RunContext, values: list[Any], target: str, converted: list[Any]) -> None:
    frame = pl.DataFrame({"v": values}, strict=False)
    result = run(frame, ctx, cast={"v": target}, empty_as_null=False)
    if target == "decimal":
        converted = [None if v is None else Decimal(v) for v in converted]
    failed = [v is not None and c is None for v, c in zip(values, converted, strict=True)]
    assert kept(result)["v"].to_list() == [c for c, bad in zip(converted, failed, strict=True) if not bad]
    assert reasons(result) == ["cast:v"] * sum(failed)
    assert_frame_equal(rejected(result).drop(REASON), frame.filter(pl.Series(failed)))


def test_bool_and_float_values(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {"b": ["TRUE", "no", "Y", "0", "t", "F"], "x": [1.0, 2.675, -1.005, 0.1 + 0.2, 3.0, 4.0]}
    )
    result = run(frame, ctx, cast={"b": "bool", "x": "decimal"})
    expected = pl.DataFrame(
        {
            "b": [True, False, True, False, True, False],
            # Floats are rounded half to even on their shortest decimal form (2.675 -> 2.68).
            "x": pl.Series([Decimal(v) for v in ("1", "2.68", "-1", "0.3", "3", "4")], dtype=DEC),
        }
    )
    assert_frame_equal(kept(result), expected)


def test_unicode_trim_and_case(ctx: RunContext) -> None:
    frame = pl.DataFrame({"name": ["\u00a0élodie\u2003", "ÇA VA", "straße", "ǆemal", " "]})
    result = run(frame, ctx, trim=["name"], case={"name": "title"})
    assert kept(result)["name"].to_list() == ["Élodie", "Ça Va", "Straße", "ǅemal", None]
    upper = run(frame, ctx, case={"name": "upper"})
    assert kept(upper)["name"].to_list() == ["\u00a0ÉLODIE\u2003", "ÇA VA", "STRASSE", "ǄEMAL", " "]


def test_empty_as_null_runs_after_trim(ctx: RunContext) -> None:
    frame = pl.DataFrame({"a": ["", "  ", None, "x"]})
    result = run(frame, ctx, trim=True, required=["a"])
    assert reasons(result) == ["required:a", "required:a", "required:a"]
    assert kept(result)["a"].to_list() == ["x"]
    off = run(frame, ctx, empty_as_null=False, required=["a"])
    assert reasons(off) == ["required:a"]


def test_fill_then_required(ctx: RunContext) -> None:
    frame = pl.DataFrame({"n": ["1", None, ""], "c": [None, "EUR", None], "d": ["2024-01-01", None, "x"]})
    result = run(
        frame,
        ctx,
        cast={"n": "int64"},
        parse={"d": {"format": "%Y-%m-%d"}},
        fill={"n": 0, "c": "USD", "d": "1970-01-01"},
        required=["n", "c", "d"],
    )
    expected = pl.DataFrame(
        {"n": [1, 0], "c": ["USD", "EUR"], "d": [dt.date(2024, 1, 1), dt.date(1970, 1, 1)]}
    )
    assert_frame_equal(kept(result), expected)
    # A value that fails to parse is quarantined, not filled.
    assert reasons(result) == ["parse:d"]
    assert rejected(result).row(0) == ("", None, "x", "parse:d")


def test_datetime_parse(ctx: RunContext) -> None:
    frame = pl.DataFrame({"ts": ["2024-03-01T10:20:30", "2024-03-01 10:20:30", "2024-03-01T24:00:00"]})
    result = run(frame, ctx, parse={"ts": {"format": "%Y-%m-%dT%H:%M:%S", "type": "datetime"}})
    expected = pl.DataFrame({"ts": pl.Series([dt.datetime(2024, 3, 1, 10, 20, 30)], dtype=pl.Datetime("us"))})
    assert_frame_equal(kept(result), expected)
    assert reasons(result) == ["parse:ts", "parse:ts"]


def test_a_four_digit_year_format_refuses_two_digit_years(ctx: RunContext) -> None:
    frame = pl.DataFrame({"d": ["01/05/2024", "01/05/24", "1/5/2024"]})
    result = run(frame, ctx, parse={"d": {"format": "%m/%d/%Y"}})
    assert kept(result)["d"].to_list() == [dt.date(2024, 1, 5), dt.date(2024, 1, 5)]
    assert reasons(result) == ["parse:d"]


def test_range_boundaries_are_inclusive_and_nan_fails(ctx: RunContext) -> None:
    frame = pl.DataFrame({"x": [0.0, 10.0, -1e-9, 10.000001, None, float("nan"), float("inf")]})
    result = run(frame, ctx, constraints={"x": {"min": 0, "max": 10}})
    assert kept(result)["x"].to_list() == [0.0, 10.0, None]
    assert reasons(result) == ["range:x"] * 4
    only_min = run(pl.DataFrame({"x": [1, -1, None]}), ctx, constraints={"x": {"min": 0}})
    assert kept(only_min)["x"].to_list() == [1, None]


def test_pattern_matches_the_whole_value(ctx: RunContext) -> None:
    frame = pl.DataFrame({"code": ["AB12", "xAB12", "AB12\n", "ÄB12", None]})
    result = run(frame, ctx, constraints={"code": {"pattern": "[A-ZÄ]{2}[0-9]{2}"}})
    assert kept(result)["code"].to_list() == ["AB12", "ÄB12", None]
    assert reasons(result) == ["pattern:code", "pattern:code"]


def test_pattern_with_a_verbose_comment_still_matches_the_whole_value(ctx: RunContext) -> None:
    # In verbose mode `#` comments out the rest of the line: it must not swallow the closing anchor.
    frame = pl.DataFrame({"code": ["AB12", "xAB12", "AB12\n", "AB123", None]})
    result = run(frame, ctx, constraints={"code": {"pattern": "(?x) [A-Z]{2} [0-9]{2}  # two letters ) $"}})
    assert kept(result)["code"].to_list() == ["AB12", None]
    assert reasons(result) == ["pattern:code"] * 3


def test_allowed_numbers_and_text(ctx: RunContext) -> None:
    frame = pl.DataFrame({"n": [1, 2, 3, None], "s": ["1", "2.5", "x", "3"]})
    result = run(frame, ctx, constraints={"n": {"allowed": [1, 3]}, "s": {"allowed": [1, 2.5, "3"]}})
    assert_frame_equal(kept(result), pl.DataFrame({"n": [1, None], "s": ["1", "3"]}))
    assert reasons(result) == ["allowed:n", "allowed:s"]


def test_dedupe_keep_last_and_compound_keys(ctx: RunContext) -> None:
    frame = pl.DataFrame({"a": [1, 1, 1, 2, 1], "b": ["x", "y", "x", "x", "x"], "v": [1, 2, 3, 4, 5]})
    result = run(frame, ctx, dedupe={"keys": ["a", "b"], "keep": "last"})
    assert_frame_equal(kept(result), pl.DataFrame({"a": [1, 2, 1], "b": ["y", "x", "x"], "v": [2, 4, 5]}))
    assert rejected(result)["v"].to_list() == [1, 3]
    assert reasons(result) == ["duplicate:a+b", "duplicate:a+b"]


def test_dedupe_counts_only_rows_that_passed_and_nulls_are_equal(ctx: RunContext) -> None:
    frame = pl.DataFrame({"k": ["a", "a", "a", None, None], "x": ["-1", "1", "2", "3", "4"]})
    result = run(frame, ctx, cast={"x": "int64"}, constraints={"x": {"min": 0}}, dedupe={"keys": ["k"]})
    # The first "a" is out of range, so the second "a" is the kept one.
    assert_frame_equal(kept(result), pl.DataFrame({"k": ["a", None], "x": [1, 3]}))
    assert reasons(result) == ["range:x", "duplicate:k", "duplicate:k"]
    assert rejected(result)["x"].to_list() == ["-1", "2", "4"]


@pytest.mark.parametrize("keep", ["first", "last"])
@pytest.mark.parametrize("keys", [["k"], ["k", "n"]])
def test_dedupe_finds_the_same_copies_as_comparing_every_key(keys: list[str], keep: str) -> None:
    # the hash round must only narrow what is compared: same rows as comparing every key by value
    rng = np.random.default_rng(7)
    size = 20_000
    frame = pl.DataFrame(
        {
            "k": pl.Series(rng.integers(0, 3_000, size).astype(str)).scatter(rng.integers(0, size, 50), None),
            "n": rng.integers(0, 3, size),
        }
    ).with_row_index("i")
    group = pl.col(keys[0]) if len(keys) == 1 else pl.struct(keys)
    kept_by_value = group.is_first_distinct() if keep == "first" else group.is_last_distinct()
    expected = frame.filter(~kept_by_value)["i"]
    found = clean._copies(frame, keys, keep)["i"]
    assert 10_000 < found.len() < size
    assert found.to_list() == expected.to_list()


def test_quarantine_keeps_original_types_and_other_columns(ctx: RunContext) -> None:
    frame = pl.DataFrame({"n": [1.5, 2.0], "keep": [True, False], "t": [" a", " b"]})
    result = run(frame, ctx, cast={"n": "int64"}, trim=True)
    assert_frame_equal(kept(result), pl.DataFrame({"n": [2], "keep": [False], "t": ["b"]}))
    assert_frame_equal(
        rejected(result), pl.DataFrame({"n": [1.5], "keep": [True], "t": [" a"], REASON: ["cast:n"]})
    )


def test_internal_and_meta_columns_are_left_alone(ctx: RunContext) -> None:
    frame = pl.DataFrame({"a": ["", " x "], "_vl_source": ["", " s "], "__vl_row": [0, 1]})
    result = run(frame, ctx, trim=True)
    expected = pl.DataFrame({"a": [None, "x"], "_vl_source": ["", " s "], "__vl_row": [0, 1]})
    assert_frame_equal(kept(result), expected)


def test_no_rules_is_identity(ctx: RunContext) -> None:
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    result = run(frame, ctx)
    assert_frame_equal(kept(result), frame)
    assert rejected(result).height == 0


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"case": {"n": "lower"}}, ["'n'", "text column"]),
        ({"trim": ["n"]}, ["'n'", "text column"]),
        ({"cast": {"d": "int64"}}, ["'d'", "cast"]),
        ({"parse": {"n": {"format": "%Y"}}}, ["'n'", "parse"]),
        ({"parse": {"s": {"format": "%Y-%m-%d %H"}}}, ["'s'", "format"]),
        ({"fill": {"n": "abc"}}, ["'n'", "fill value"]),
        ({"fill": {"n": 1.5}}, ["'n'", "fill value"]),
        ({"constraints": {"s": {"min": 1}}}, ["'s'", "numeric"]),
        ({"constraints": {"n": {"pattern": "[0-9]+"}}}, ["'n'", "text column"]),
        ({"constraints": {"s": {"pattern": r"b\Z"}}}, ["'s'", "regular expressions"]),  # no \Z in Rust
        ({"constraints": {"n": {"allowed": ["a"]}}}, ["'n'", "numbers"]),
        ({"constraints": {"d": {"allowed": ["a"]}}}, ["'d'", "text or numeric"]),
        ({"required": ["missing"]}, ["'missing'", "not in the flow"]),
    ],
)
def test_errors_name_step_column_and_fix(ctx: RunContext, params: dict[str, Any], words: list[str]) -> None:
    frame = pl.LazyFrame({"n": [41], "s": ["SECRET-VALUE"], "d": [dt.date(2001, 2, 3)]})
    with pytest.raises(TransformError) as info:
        clean.apply(frame, Params.model_validate(params), ctx)
    text = str(info.value)
    assert "step 0" in text
    assert "hint:" in text
    for word in words:
        assert word in text
    assert "SECRET-VALUE" not in text and "41" not in text and "2001" not in text


def test_model_refuses_min_above_max() -> None:
    with pytest.raises(ValueError, match="min must not be greater than max"):
        Params.model_validate({"constraints": {"x": {"min": 2, "max": 1}}})


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("%Q-%m", "unknown strftime directive at character 1"),  # the engines would parse no value
        ("%Y-%m-%d %", "unknown strftime directive at character 10"),
        ("2020", "no strftime directive"),
        ("%Y-%m-%d %H:%M:%S %Z", "uses %Z"),  # would take "garbage" for a zone, and drop "EST"
    ],
)
def test_parse_formats_the_engines_would_misread_are_refused(fmt: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Params.model_validate({"parse": {"d": {"format": fmt}}})


@pytest.mark.parametrize("fmt", ["%Y-%m-%dT%H:%M:%S%.f%:z", "%-d.%-m.%Y", "%d%%%m", "%e %b %Y %I:%M %p"])
def test_parse_formats_with_padding_fractions_and_zones_are_valid(fmt: str) -> None:
    assert Params.model_validate({"parse": {"d": {"format": fmt}}})
