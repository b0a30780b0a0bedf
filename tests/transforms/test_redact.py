"""redact: every non-null value becomes the marker; nulls stay null, whatever the type."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vaultline.engines.polars import redact
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.redact import Params


def test_golden(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {
            "notes": ["call me", "", None, "zoë 😀"],
            "dob": [dt.date(1980, 1, 1), None, dt.date(1990, 1, 1), None],
            "keep": [1, 2, 3, 4],
        }
    )
    result = redact.apply(frame.lazy(), Params(columns=["notes", "dob"]), ctx)
    expected = pl.DataFrame(
        {
            "notes": ["[REDACTED]", "[REDACTED]", None, "[REDACTED]"],
            "dob": ["[REDACTED]", None, "[REDACTED]", None],
            "keep": [1, 2, 3, 4],
        }
    )
    assert_frame_equal(result.frame.collect(), expected)
    assert result.facts == {"columns": ["notes", "dob"]}


def test_custom_replacement_and_empty_frame(ctx: RunContext) -> None:
    frame = pl.DataFrame({"notes": ["a", None]})
    out = redact.apply(frame.lazy(), Params(columns=["notes"], replacement="✂"), ctx).frame.collect()
    assert out["notes"].to_list() == ["✂", None]
    empty = pl.DataFrame({"notes": []}, schema={"notes": pl.String})
    assert_frame_equal(redact.apply(empty.lazy(), Params(columns=["notes"]), ctx).frame.collect(), empty)


def test_missing_column(ctx: RunContext) -> None:
    with pytest.raises(TransformError, match=r"(?s)step 0 \(redact\).*'ssn'.*available columns: notes"):
        redact.apply(pl.LazyFrame({"notes": ["x"]}), Params(columns=["ssn"]), ctx)
