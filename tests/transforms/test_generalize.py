"""generalize: Safe Harbor year, zip3, age top-coding, age bands and ages from birth dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vaultline.engines.polars import generalize
from vaultline.engines.polars.base import StepResult
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.generalize import RESTRICTED_ZIP3, Params


def run(frame: pl.DataFrame, ctx: RunContext, rules: dict[str, Any]) -> StepResult:
    return generalize.apply(frame.lazy(), Params.model_validate({"rules": rules}), ctx)


def visible(result: StepResult) -> pl.DataFrame:
    return result.frame.collect().select(pl.exclude("^__vl_.*$"))


def metrics(result: StepResult) -> dict[str, int]:
    return result.frame.select(**result.metrics).collect().row(0, named=True)


def test_golden_patient_frame(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {
            "date_of_birth": [
                dt.date(1980, 3, 1),
                dt.date(2000, 2, 29),
                dt.date(1920, 1, 1),
                None,
                dt.date(2030, 1, 1),
            ],
            "admission_date": [
                dt.date(2020, 2, 29),
                dt.date(2021, 2, 28),
                dt.date(2020, 6, 1),
                dt.date(2020, 1, 1),
                dt.date(2020, 1, 1),
            ],
            "zip": ["02134", "03601-1234", " 123456789 ", "1234", None],
            "age": [34, 89, 90, -1, None],
        }
    )
    rules = {
        "date_of_birth": {"rule": "age_from_date", "as_of": "admission_date", "output": "age_at_admission"},
        "admission_date": {"rule": "year"},
        "zip": {"rule": "zip3"},
        "age": {"rule": "age_band", "width": 7},
    }
    result = run(frame, ctx, rules)
    expected = pl.DataFrame(
        {
            "admission_date": pl.Series([2020, 2021, 2020, 2020, 2020], dtype=pl.Int32),
            "zip": ["021", "000", "123", None, None],
            "age": ["28-34", "84-89", "90+", None, None],
            # 29 February birthdays count from 1 March in other years; a birth after admission is invalid.
            "age_at_admission": ["39", "20", "90+", None, None],
        }
    )
    assert_frame_equal(visible(result), expected)
    assert metrics(result) == {"invalid:date_of_birth": 1, "invalid:zip": 1, "invalid:age": 1}
    assert result.facts == {
        "columns": ["date_of_birth", "admission_date", "zip", "age"],
        "outputs": {
            "date_of_birth": "age_at_admission",
            "admission_date": "admission_date",
            "zip": "zip",
            "age": "age",
        },
        "rules": {
            "date_of_birth": "age_from_date",
            "admission_date": "year",
            "zip": "zip3",
            "age": "age_band",
        },
    }


def test_year_of_datetimes_with_output(ctx: RunContext) -> None:
    frame = pl.DataFrame({"seen": [dt.datetime(1999, 12, 31, 23, 59), None], "id": [1, 2]})
    result = run(frame, ctx, {"seen": {"rule": "year", "output": "seen_year"}})
    expected = pl.DataFrame({"id": [1, 2], "seen_year": pl.Series([1999, None], dtype=pl.Int32)})
    assert_frame_equal(visible(result), expected)
    assert result.metrics == {}


def test_zip3_restricted_prefixes_and_invalid_forms(ctx: RunContext) -> None:
    restricted = [f"{p}12" for p in RESTRICTED_ZIP3]
    invalid = ["", "abcde", "1234", "123456", "12345-67", "١٢٣٤٥", "12 345"]
    frame = pl.DataFrame({"zip": [*restricted, *invalid, None, "99501", "00501-0001", "021", "036"]})
    result = run(frame, ctx, {"zip": {"rule": "zip3"}})
    # a ZIP3 already stays one (a restricted one still becomes 000), rather than null
    expected = ["000"] * len(restricted) + [None] * len(invalid) + [None, "995", "005", "021", "000"]
    assert visible(result)["zip"].to_list() == expected
    assert metrics(result) == {"invalid:zip": len(invalid)}


def test_age_top_code_on_integers_and_floats(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {
            "age": pl.Series([0, 89, 90, 120, None, -3], dtype=pl.Int16),
            "fage": [34.9, 89.99, 90.0, float("nan"), None, float("inf")],
        }
    )
    result = run(frame, ctx, {"age": {"rule": "age_top_code"}, "fage": {"rule": "age_top_code"}})
    expected = pl.DataFrame(
        {"age": ["0", "89", "90+", "90+", None, None], "fage": ["34", "89", "90+", None, None, None]}
    )
    assert_frame_equal(visible(result), expected)
    assert metrics(result) == {"invalid:age": 1, "invalid:fage": 2}


def test_age_band_default_width(ctx: RunContext) -> None:
    frame = pl.DataFrame({"age": [0, 9, 10, 39, 89, 90, 200]})
    result = run(frame, ctx, {"age": {"rule": "age_band"}})
    assert visible(result)["age"].to_list() == ["0-9", "0-9", "10-19", "30-39", "80-89", "90+", "90+"]


def test_age_from_date_as_of_today(ctx: RunContext) -> None:
    today = dt.date.today()
    frame = pl.DataFrame(
        {"dob": [dt.date(today.year - 30, 1, 1), dt.date(1900, 1, 1), dt.date(today.year + 1, 1, 1), None]}
    )
    result = run(frame, ctx, {"dob": {"rule": "age_from_date", "output": "age"}})
    expected = pl.DataFrame({"age": ["30", "90+", None, None]})
    assert_frame_equal(visible(result), expected)
    assert result.facts["as_of_date"] == today.isoformat()
    assert metrics(result) == {"invalid:dob": 1}


def test_null_as_of_is_not_counted_as_invalid(ctx: RunContext) -> None:
    frame = pl.DataFrame({"dob": [dt.date(1980, 1, 1)], "visit": pl.Series([None], dtype=pl.Date)})
    result = run(frame, ctx, {"dob": {"rule": "age_from_date", "as_of": "visit"}})
    assert visible(result)["dob"].to_list() == [None]
    assert metrics(result) == {"invalid:dob": 0}


def test_empty_frame(ctx: RunContext) -> None:
    frame = pl.DataFrame({"zip": [], "dob": []}, schema={"zip": pl.String, "dob": pl.Date})
    result = run(frame, ctx, {"zip": {"rule": "zip3"}, "dob": {"rule": "year"}})
    expected = pl.DataFrame({"zip": [], "dob": []}, schema={"zip": pl.String, "dob": pl.Int32})
    assert_frame_equal(visible(result), expected)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"text_date": {"rule": "year"}}, r"(?s)\(generalize\).*rule year.*'text_date'.*parse it"),
        ({"int_zip": {"rule": "zip3"}}, r"(?s)'int_zip'.*leading zeros"),
        ({"text_date": {"rule": "age_band"}}, r"(?s)'text_date'.*ages must be numbers"),
        ({"int_zip": {"rule": "age_from_date"}}, r"(?s)'int_zip'.*dates or timestamps"),
        ({"dob": {"rule": "age_from_date", "as_of": "text_date"}}, r"(?s)'text_date'.*parse it"),
    ],
)
def test_wrong_types_are_refused_without_values(ctx: RunContext, rules: dict[str, Any], message: str) -> None:
    frame = pl.DataFrame({"text_date": ["2020-01-31"], "int_zip": [2134], "dob": [dt.date(1970, 1, 1)]})
    with pytest.raises(TransformError, match=message) as info:
        run(frame, ctx, rules)
    assert "2020-01-31" not in str(info.value)
    assert "2134" not in str(info.value)


def test_output_conflicts_and_missing_columns(ctx: RunContext) -> None:
    frame = pl.DataFrame({"a": [1], "b": [2], "zip": ["12345"]})
    with pytest.raises(TransformError, match="overwrite an existing column"):
        run(frame, ctx, {"zip": {"rule": "zip3", "output": "a"}})
    with pytest.raises(TransformError, match="several rules write column 'x'"):
        run(
            frame,
            ctx,
            {"a": {"rule": "age_top_code", "output": "x"}, "b": {"rule": "age_band", "output": "x"}},
        )
    with pytest.raises(TransformError, match=r"(?s)'visit'.*available columns: a, b, zip"):
        run(frame, ctx, {"a": {"rule": "age_from_date", "as_of": "visit"}})


def test_outputs_may_reuse_names_of_inputs_of_the_same_step(ctx: RunContext) -> None:
    frame = pl.DataFrame({"a": [95], "b": [35]})
    result = run(
        frame, ctx, {"a": {"rule": "age_top_code", "output": "b"}, "b": {"rule": "age_band", "output": "c"}}
    )
    assert_frame_equal(visible(result), pl.DataFrame({"b": ["90+"], "c": ["30-39"]}))
