"""`IoPlugin`: what every IO source registered with Polars (the readers here, and the spill's scan) does
with Polars' requests: projection, predicate, row limit, and admission by the run's backpressure gate.
A source says only how to produce its batches."""

from __future__ import annotations

from abc import ABC, abstractmethod
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


class IoPlugin(ABC):
    """The callable `register_io_source` is given. Subclasses set `schema` and implement `batches`."""

    schema: dict[str, pl.DataType]
    records: int | None = None
    """How many rows (records set aside included) the last read to the end produced, counted before
    any predicate: what the executor checks every row of a run against (None: no such read yet)."""

    @abstractmethod
    def batches(self, needed: list[str], n_rows: int | None) -> Iterator[pl.DataFrame]:
        """Frames holding at least the `needed` columns, in order; `n_rows` is a hint (None: every row)."""

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        _batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        """The batches projected and filtered as Polars asked, cut after `n_rows` rows, each admitted
        by the run's backpressure gate (if one is open); the source is closed as soon as it is no
        longer needed."""
        frames = self.batches(needed_columns(list(self.schema), with_columns, predicate), n_rows)
        left = n_rows
        counted = 0
        try:
            for frame in frames:
                counted += frame.height
                batch = project(frame, with_columns, predicate)
                if left is not None:
                    batch = batch.head(left) if batch.height > left else batch
                    left -= batch.height
                backpressure.admit(batch.height)
                yield batch
                if left is not None and left <= 0:
                    return
            if n_rows is None:
                self.records = counted
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
