"""The flow written to an encrypted spill (storage/spill.py) and scanned back as a Polars source.

The scan pushes projections down: a fit that reads two columns decrypts two columns. Batches come
back in the order they were written, so two scans of one spill line up row for row. The scan is a
source like the others: the run's backpressure gate admits its batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from vaultline.engines.polars import backpressure
from vaultline.engines.polars.sources.plugin import IoPlugin
from vaultline.storage.spill import Spill


def sink(frame: pl.LazyFrame, spill: Spill, chunk_rows: int) -> pl.LazyFrame:
    """A lazy sink writing `frame` to `spill` (run it with `collect_all`)."""

    def write(batch: pl.DataFrame) -> None:
        for record_batch in batch.to_arrow().to_batches():
            spill.write(record_batch)
        backpressure.drained(batch.height)

    return frame.sink_batches(write, chunk_size=chunk_rows, lazy=True)


class _SpillScan(IoPlugin):
    def __init__(self, spill: Spill, schema: pl.Schema) -> None:
        self.spill = spill
        self.schema = dict(schema)

    def batches(self, needed: list[str], n_rows: int | None) -> Iterator[pl.DataFrame]:
        # No column asked for (a row count): the first one gives the heights.
        needed = needed or list(self.schema)[:1]
        types = pl.Schema({name: self.schema[name] for name in needed})
        for record_batch in self.spill.batches(needed):
            frame = pl.from_arrow(record_batch)
            assert isinstance(frame, pl.DataFrame)
            yield frame.cast(types)


def scan(spill: Spill, schema: pl.Schema) -> pl.LazyFrame:
    """The spilled rows, with the Polars types they were written with."""
    from polars.io.plugins import register_io_source

    return register_io_source(
        _SpillScan(spill, schema), schema=schema, is_pure=True, explain_name="vaultline spill"
    )
