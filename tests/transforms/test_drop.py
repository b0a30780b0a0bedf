"""drop: columns leave the flow; a missing one is a TransformError naming it and the available ones."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vaultline.engines.polars import drop
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.drop import Params


def test_golden(ctx: RunContext) -> None:
    frame = pl.DataFrame({"ssn": ["123-45-6789", None], "name": ["zoë", ""], "amount": [1, 2]})
    result = drop.apply(frame.lazy(), Params(columns=["ssn", "name"]), ctx)
    assert_frame_equal(result.frame.collect(), pl.DataFrame({"amount": [1, 2]}))
    assert result.facts == {"columns": ["ssn", "name"]}


def test_missing_column_names_it_and_lists_available_ones_without_values(ctx: RunContext) -> None:
    frame = pl.LazyFrame({"ssn": ["123-45-6789"], "amount": [1], "__vl_3_flag": [True]})
    with pytest.raises(TransformError) as info:
        drop.apply(frame, Params(columns=["ssn", "first_name"]), ctx)
    message = str(info.value)
    assert message.startswith("step 0 (drop): column(s) 'first_name' not in the flow")
    assert "available columns: ssn, amount;" in message
    assert "__vl_3_flag" not in message
    assert "123-45-6789" not in message
