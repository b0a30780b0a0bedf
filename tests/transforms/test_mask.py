"""mask: keep_last, keep_first, email and custom styles, counted in characters, nulls kept."""

from __future__ import annotations

import random
import re
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from vaultline.engines.polars import mask
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.mask import Params

VALUES = ["4111111111111111", "1234", "12", "", None, "héllo😀wörld"]


def masked(ctx: RunContext, values: list[Any], **params: Any) -> list[str | None]:
    frame = pl.LazyFrame({"v": values})
    return mask.apply(frame, Params(columns=["v"], **params), ctx).frame.collect()["v"].to_list()


def test_golden_keep_last_on_two_columns(ctx: RunContext) -> None:
    frame = pl.DataFrame({"card": VALUES, "other": ["a", "b", "c", "d", "e", "f"]})
    result = mask.apply(frame.lazy(), Params(columns=["card"]), ctx)
    expected = pl.DataFrame(
        {
            "card": ["************1111", "****", "**", "", None, "*******örld"],
            "other": ["a", "b", "c", "d", "e", "f"],
        }
    )
    assert_frame_equal(result.frame.collect(), expected)
    assert result.facts == {"columns": ["card"], "style": "keep_last"}


def test_keep_first_with_another_char(ctx: RunContext) -> None:
    assert masked(ctx, VALUES, style="keep_first", keep=2, char="•") == [
        "41••••••••••••••",
        "12••",
        "••",
        "",
        None,
        "hé•••••••••",
    ]


def test_keep_zero_masks_everything(ctx: RunContext) -> None:
    assert masked(ctx, ["abc", "😀"], keep=0, char="#") == ["###", "#"]


def test_email(ctx: RunContext) -> None:
    values = [
        "john.doe@example.com",
        "j@x.io",
        "ü@bücher.de",
        "no-at-sign",
        "two@@example.com",
        "@example.com",
        "trailing@",
        "",
        None,
    ]
    assert masked(ctx, values, style="email") == [
        "j***@example.com",
        "j***@x.io",
        "ü***@bücher.de",
        "**********",
        "****************",
        "************",
        "*********",
        "",
        None,
    ]


def test_custom_pattern_keeps_match_lengths(ctx: RunContext) -> None:
    values = ["call 555-1234 now", "no digits", "😀12😀", "", None, "a\x00b1"]
    assert masked(ctx, values, style="custom", pattern=r"[0-9]+", char="$") == [
        "call $$$-$$$$ now",
        "no digits",
        "😀$$😀",
        "",
        None,
        "$$$$",  # holds the internal boundary marker: masked entirely rather than risk a wrong split
    ]


def test_custom_pattern_multibyte_matches_and_fill(ctx: RunContext) -> None:
    # a value holding the marker comes first: the values after it are masked on their own
    values = ["a\x00b1", "café 42", "ß9", None, "é"]
    assert masked(ctx, values, style="custom", pattern=r"[é0-9]+", char="•") == [
        "••••",
        "caf• ••",
        "ß•",
        None,
        "•",
    ]


@pytest.mark.parametrize("pattern", [r"[0-9]+$", r"[a-zé]{2}", r"\.[0-9]", r"x*"])
def test_custom_pattern_matches_a_per_value_reference(ctx: RunContext, pattern: str) -> None:
    alphabet = list("ab9.0xé😀 ")
    rng = random.Random(7)
    values = ["".join(rng.choices(alphabet, k=rng.randrange(0, 12))) for _ in range(500)]
    expected = [re.sub(pattern, lambda m: "#" * len(m.group()), v) for v in values]
    assert masked(ctx, values, style="custom", pattern=pattern, char="#") == expected


def test_custom_pattern_with_empty_matches(ctx: RunContext) -> None:
    assert masked(ctx, ["abc1", "x"], style="custom", pattern=r"[a-z]*") == ["***1", "*"]


def test_integers_are_masked_as_their_decimal_text(ctx: RunContext) -> None:
    assert masked(ctx, [123456789, None], keep=3) == ["******789", None]


def test_custom_without_pattern_or_with_unsupported_pattern(ctx: RunContext) -> None:
    with pytest.raises(ValidationError, match="style custom needs a `pattern`"):
        Params(columns=["v"], style="custom")
    with pytest.raises(ValidationError, match="look-around"):
        Params(columns=["v"], style="custom", pattern=r"(?<=a)b")
    with pytest.raises(ValidationError, match="invalid regular expression"):
        Params(columns=["v"], style="custom", pattern="([a-")
    with pytest.raises(TransformError, match=r"(?s)step 0 \(mask\).*not supported by Polars"):
        masked(ctx, ["x"], style="custom", pattern=r"x\Z")  # Python's end of text; Rust has no \Z


def test_wrong_type_and_missing_column(ctx: RunContext) -> None:
    with pytest.raises(TransformError, match=r"(?s)'v' has type Float64.*clean"):
        masked(ctx, [1.5])
    with pytest.raises(TransformError, match="available columns: v"):
        mask.apply(pl.LazyFrame({"v": ["x"]}), Params(columns=["email"]), ctx)
