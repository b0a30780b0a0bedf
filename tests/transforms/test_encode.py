"""encode: inline and file mappings, codes as stripped text, unknown fallback and count, ordinals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vaultline.engines.polars import encode
from vaultline.engines.polars.base import StepResult
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.encode import Params

RISK = ["low", "medium", "high"]
MAPPING: dict[str, Any] = {
    "5411": {"category": "grocery", "risk_level": "low", "parent": "retail"},
    "5812": {"category": "restaurant", "risk_level": "medium", "parent": "dining"},
    "7995": {"category": "gambling", "risk_level": "high", "parent": "entertainment"},
    "unknown": {"category": "other", "risk_level": "high", "parent": "uncategorized"},
}


def run(frame: pl.DataFrame, ctx: RunContext, **params: Any) -> StepResult:
    return encode.apply(frame.lazy(), Params.model_validate({"column": "mcc", **params}), ctx)


def visible(result: StepResult) -> pl.DataFrame:
    return result.frame.collect().select(pl.exclude("^__vl_.*$"))


def metrics(result: StepResult) -> dict[str, int]:
    return result.frame.select(**result.metrics).collect().row(0, named=True)


OUTPUTS = {"category": "merchant_category", "risk_level": "merchant_risk", "parent": "merchant_parent"}


def test_golden_merchant_mapping(ctx: RunContext) -> None:
    frame = pl.DataFrame({"mcc": ["5411", " 5812 ", None, "9999", "5411", "", "7995", "unknown"]})
    result = run(frame, ctx, mapping=MAPPING, outputs=OUTPUTS, ordinal={"risk_level": RISK})
    none = "uncategorized"
    expected = frame.with_columns(
        merchant_category=pl.Series(
            ["grocery", "restaurant", "other", "other", "grocery", "other", "gambling", "other"]
        ),
        merchant_risk=pl.Series(
            ["low", "medium", "high", "high", "low", "high", "high", "high"], dtype=pl.Enum(RISK)
        ),
        merchant_parent=pl.Series(["retail", "dining", none, none, "retail", none, "entertainment", none]),
    )
    assert_frame_equal(visible(result), expected)
    # null, 9999, "" and the literal unknown key are unknown.
    assert metrics(result) == {"unknown": 4}
    assert result.facts == {
        "column": "mcc",
        "codes": 3,
        "attributes": ["category", "risk_level", "parent"],
        "outputs": OUTPUTS,
        "ordinal": ["risk_level"],
        "source": "inline",
    }
    assert_frame_equal(result.frame.collect(engine="streaming"), result.frame.collect())


def test_integer_codes_and_typed_attributes(ctx: RunContext) -> None:
    mapping = {
        "1": {"weight": 1, "score": 0.5, "flag": True, "label": "é"},
        "02": {"weight": 2, "score": 1, "flag": False, "label": 7},
        "unknown": {"weight": 0, "score": 0, "flag": False, "label": True},
    }
    frame = pl.DataFrame({"mcc": [1, 2, None, 3]})
    result = run(frame, ctx, mapping=mapping)
    expected = frame.with_columns(
        mcc_weight=pl.Series([1, 0, 0, 0]),
        mcc_score=pl.Series([0.5, 0.0, 0.0, 0.0]),
        mcc_flag=pl.Series([True, False, False, False]),
        mcc_label=pl.Series(["é", "true", "true", "true"]),
    )
    # Integer 2 is the text "2", not "02".
    assert_frame_equal(visible(result), expected)
    assert metrics(result) == {"unknown": 3}


def test_categorical_codes(ctx: RunContext) -> None:
    frame = pl.DataFrame({"mcc": pl.Series(["5411", "x"], dtype=pl.Categorical)})
    result = run(frame, ctx, mapping=MAPPING, outputs={"category": "cat"})
    assert visible(result)["cat"].to_list() == ["grocery", "other"]


# A BOM, a blank line, a padded code and a quoted comma.
CSV = "\n".join(
    [
        "\ufeffcode,category,risk_level",
        "5411,grocery,low",
        " ",
        ' 5812 ,"restaurant, bar",medium',
        "unknown,other,high",
    ]
)
JSON = """{"5411": {"category": "grocery", "risk_level": "low"},
           "unknown": {"category": "other", "risk_level": "high"}}"""
YAML = """\
'5411': {category: grocery, risk_level: low}
'5812': {category: restaurant, risk_level: medium}
unknown: {category: other, risk_level: high}
"""


@pytest.mark.parametrize(
    ("name", "text", "categories"),
    [
        ("map.csv", CSV, ["grocery", "restaurant, bar", "other"]),
        ("map.JSON", JSON, ["grocery", "other", "other"]),
        ("map.yaml", YAML, ["grocery", "restaurant", "other"]),
        ("map.yml", YAML, ["grocery", "restaurant", "other"]),
    ],
)
def test_mapping_files(ctx: RunContext, tmp_path: Path, name: str, text: str, categories: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    frame = pl.DataFrame({"mcc": ["5411", "5812", "0000"]})
    result = run(frame, ctx, mapping_file=str(path), ordinal={"risk_level": RISK})
    assert visible(result)["mcc_category"].to_list() == categories
    assert result.frame.collect_schema()["mcc_risk_level"] == pl.Enum(RISK)
    assert result.facts["source"] == "file"


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("m.csv", "code\n1\n", ["header"]),
        ("m.csv", "code,a\n1,x,y\nunknown,z\n", ["row 2", "fields"]),
        ("m.csv", "code,a\n1,x\n1,y\nunknown,z\n", ["row 3", "repeats"]),
        ("m.csv", "code,a\n1,x\n", ["'unknown' entry"]),
        ("m.json", '{"1": {"a": "SECRET"}, ', ["JSON"]),
        ("m.json", '["SECRET"]', ["mapping"]),
        ("m.json", '{"1": {"a": null}, "unknown": {"a": "x"}}', ["null"]),
        ("m.yaml", "'1': {a: [SECRET]}\nunknown: {a: x}\n", ["nested"]),
        ("m.yaml", "'1': {a: x}\n'1': {a: y}\nunknown: {a: z}\n", ["YAML", "DuplicateKeyError"]),
        ("m.yaml", "05411: {a: x}\nunknown: {a: z}\n", ["not text", "quote every code"]),  # read as 5411
        ("m.json", '{"1": {"a": "x"}, "1": {"a": "SECRET"}, "unknown": {"a": "z"}}', ["repeats a key"]),
        ("m.json", '{"1": {"a": 99999999999999999999}, "unknown": {"a": 1}}', ["beyond 64 bits"]),
        ("m.json", '{" 1": {"a": "x"}, "1": {"a": "y"}, "unknown": {"a": "z"}}', ["stripped"]),
        ("m.txt", "whatever", ["extension"]),
    ],
)
def test_bad_mapping_files(ctx: RunContext, tmp_path: Path, name: str, text: str, words: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TransformError) as info:
        run(pl.DataFrame({"mcc": ["1"]}), ctx, mapping_file=str(path))
    message = str(info.value)
    assert "step 0 (encode)" in message and "hint:" in message
    assert "SECRET" not in message
    for word in words:
        assert word in message


def test_a_missing_mapping_file_is_the_step_s_error(ctx: RunContext, tmp_path: Path) -> None:
    with pytest.raises(TransformError) as info:
        run(pl.DataFrame({"mcc": ["1"]}), ctx, mapping_file=str(tmp_path / "nope.csv"))
    message = str(info.value)
    assert (
        "step 0 (encode): its mapping_file cannot be read" in message and "nope.csv does not exist" in message
    )


def test_file_ordinal_values_must_be_listed(ctx: RunContext, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("code,risk\n1,low\nunknown,severe\n", encoding="utf-8")
    with pytest.raises(TransformError, match="ordinal attribute 'risk'"):
        run(pl.DataFrame({"mcc": ["1"]}), ctx, mapping_file=str(path), ordinal={"risk": RISK})


def test_only_the_unknown_entry(ctx: RunContext) -> None:
    result = run(pl.DataFrame({"mcc": ["a", None]}), ctx, mapping={"unknown": {"category": "other"}})
    assert visible(result)["mcc_category"].to_list() == ["other", "other"]
    assert metrics(result) == {"unknown": 2}


@pytest.mark.parametrize(
    ("frame", "params", "words"),
    [
        (pl.DataFrame({"mcc": [1.5]}), {}, ["'mcc'", "text or integers"]),
        (pl.DataFrame({"mcc": ["1"], "mcc_category": ["x"]}), {}, ["mcc_category", "collide"]),
        (pl.DataFrame({"other": ["1"]}), {}, ["'mcc'", "not in the flow"]),
    ],
)
def test_errors(ctx: RunContext, frame: pl.DataFrame, params: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(TransformError) as info:
        run(frame, ctx, mapping=MAPPING, **params)
    for word in ["step 0 (encode)", "hint:", *words]:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ordinal": {"risk_level": ["low", "medium"]}}, "ordinal attribute 'risk_level'"),
        ({"ordinal": {"nope": ["a"]}}, "ordinal names attribute"),
        ({"ordinal": {"risk_level": ["low", "low"]}}, "distinct"),
        ({"outputs": {"nope": "x"}}, "outputs names attribute"),
        ({"outputs": {"category": "x", "parent": "x"}}, "same column"),
        ({"unknown_key": "other"}, "no 'other' entry"),
    ],
)
def test_model_checks(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Params.model_validate({"column": "mcc", "mapping": MAPPING, **params})
