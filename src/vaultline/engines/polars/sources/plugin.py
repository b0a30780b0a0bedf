"""What every IO plugin does with Polars' requests (the readers here, and the spill's scan): projection,
predicate, row limit, and admission by the run's backpressure gate."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import polars as pl

from vaultline.engines.polars import backpressure


def project(frame: pl.DataFrame, with_columns: list[str] | None, predicate: pl.Expr | None) -> pl.DataFrame:
    """Apply what Polars pushed down to the plugin: the predicate (which it then trusts), the projection."""
    if predicate is not None:
        frame = frame.filter(predicate)
    if with_columns is not None:
        frame = frame.select(with_columns) if with_columns else pl.DataFrame(height=frame.height)
    return frame


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """`frame` with exactly the columns of `schema`, in order; missing ones are nulls of the frame's height
    (added with with_columns: a select of literals alone would make a single row)."""
    missing = [pl.lit(None, dtype).alias(c) for c, dtype in schema.items() if c not in frame.columns]
    if missing:
        frame = frame.with_columns(missing)
    return frame.select(list(schema))


def needed_columns(
    all_columns: Sequence[str], with_columns: list[str] | None, predicate: pl.Expr | None
) -> list[str]:
    wanted = set(all_columns if with_columns is None else with_columns)
    if predicate is not None:
        wanted |= set(predicate.meta.root_names())
    return [c for c in all_columns if c in wanted]


def limited(batches: Iterator[pl.DataFrame], n_rows: int | None) -> Iterator[pl.DataFrame]:
    """The batches, cut after `n_rows` rows, each admitted by the run's backpressure gate (if one is
    open); the source is closed as soon as it is no longer needed."""
    try:
        if n_rows is None:
            for batch in batches:
                backpressure.admit(batch.height)
                yield batch
            return
        left = n_rows
        for batch in batches:
            part = batch.head(left) if batch.height > left else batch
            left -= part.height
            backpressure.admit(part.height)
            yield part
            if left <= 0:
                return
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


# ------------------------------------------------------------------------------------------------ CSV
