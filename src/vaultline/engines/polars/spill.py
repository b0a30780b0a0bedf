"""The flow written to an encrypted spill (storage/spill.py) and scanned back as a Polars source.

The scan pushes projections down: a fit that reads two columns decrypts two columns. Batches come
back in the order they were written, so two scans of one spill line up row for row. The scan is a
source like the others: the run's backpressure gate admits its batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from vaultline.engines.polars import backpressure
from vaultline.engines.polars.sources.plugin import limited, needed_columns, project
from vaultline.storage.spill import Spill


def sink(frame: pl.LazyFrame, spill: Spill, chunk_rows: int) -> pl.LazyFrame:
    """A lazy sink writing `frame` to `spill` (run it with `collect_all`)."""

    def write(batch: pl.DataFrame) -> None:
        for record_batch in batch.to_arrow().to_batches():
            spill.write(record_batch)
        backpressure.drained(batch.height)

    return frame.sink_batches(write, chunk_size=chunk_rows, lazy=True)


def scan(spill: Spill, schema: pl.Schema) -> pl.LazyFrame:
    """The spilled rows, with the Polars types they were written with."""
    from polars.io.plugins import register_io_source

    names = schema.names()

    def batches(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        # No column asked for (a row count): the first one gives the heights.
        needed = needed_columns(names, with_columns, predicate) or names[:1]
        types = pl.Schema({name: schema[name] for name in needed})

        def frames() -> Iterator[pl.DataFrame]:
            for record_batch in spill.batches(needed):
                frame = pl.from_arrow(record_batch)
                assert isinstance(frame, pl.DataFrame)
                yield project(frame.cast(types), with_columns, predicate)

        return limited(frames(), n_rows)

    return register_io_source(batches, schema=schema, is_pure=True, explain_name="vaultline spill")
