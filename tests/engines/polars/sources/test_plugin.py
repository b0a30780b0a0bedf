"""IoPlugin: what every registered source does with Polars' requests (projection, predicate, row limit)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
from polars.io.plugins import register_io_source

from vaultline.engines.polars.sources.plugin import IoPlugin


class _Counting(IoPlugin):
    """Three batches of four rows; records what it was asked for and whether it was closed."""

    def __init__(self) -> None:
        self.schema = {"a": pl.Int64(), "b": pl.String()}
        self.asked: list[list[str]] = []
        self.produced = 0
        self.closed = False

    def batches(self, needed: list[str], n_rows: int | None) -> Iterator[pl.DataFrame]:
        self.asked.append(needed)
        try:
            for start in range(0, 12, 4):
                self.produced += 1
                values = list(range(start, start + 4))
                yield pl.DataFrame({"a": values, "b": [str(v) for v in values]}).select(needed)
        finally:
            self.closed = True


def _frame(plugin: _Counting) -> pl.LazyFrame:
    return register_io_source(plugin, schema=plugin.schema, is_pure=True)


def test_projection_and_predicate_are_applied_and_the_predicate_columns_are_read() -> None:
    plugin = _Counting()
    result = _frame(plugin).filter(pl.col("a") % 5 == 0).select("b").collect()
    assert result["b"].to_list() == ["0", "5", "10"]
    assert plugin.asked == [["a", "b"]]


def test_a_row_limit_cuts_the_last_batch_and_closes_the_source_early() -> None:
    plugin = _Counting()
    calls = list(plugin(["a"], None, 6, None))
    assert [frame.height for frame in calls] == [4, 2]
    assert plugin.produced == 2
    assert plugin.closed
    assert plugin.asked == [["a"]]


def test_every_row_when_no_limit() -> None:
    plugin = _Counting()
    assert _frame(plugin).collect().height == 12
    assert plugin.closed
