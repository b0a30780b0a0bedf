"""Backpressure between Vaultline's Python sources and the encrypting writer of a streaming run.

Polars' streaming engine pulls batches from a Python IO source as fast as the source produces them
and buffers what the operators downstream have not consumed yet (pola-rs/polars#26432): when the
writer is slower than the CSV parser (Parquet encryption, FF1), that buffer grows with the input.

While a `gate` is open, each batch a source yields is admitted only when fewer than `limit` rows
are in flight: yielded by a source and not yet written to the first encrypted output or the
quarantine. Every step streams in the passes the executor gates (what needs every row is read
while planning; tests/engines/polars/test_streaming_steps.py keeps it so), but the engine itself
holds batches while it orders them for each writer, about one per thread of its pool, so the limit
grows with the pool (`limit_for`). Should the writers hold more than the limit anyway (nothing
written for `stall` seconds while a source waits), the gate doubles its limit and logs it: it can
slow a run down and let it use more memory, never stop it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

DEFAULT_STALL_SECONDS = 3.0

log = logging.getLogger("vaultline.run.backpressure")


def limit_for(batch_rows: int) -> int:
    """Rows in flight for a writer that writes `batch_rows` at a time: one batch per thread of
    Polars' pool, plus one. Measured on the fraud example (2 M rows, the spill pass, the smallest
    limit that never stalled): 2 batches with 2 threads, 4 with 4, 8 with 8 (6 stalled), set by
    POLARS_MAX_THREADS."""
    return (pl.thread_pool_size() + 1) * batch_rows


class Gate:
    """Rows admitted by the sources against rows drained by the writers."""

    def __init__(self, limit_rows: int, stall_seconds: float) -> None:
        self.limit = limit_rows
        self.stall = stall_seconds
        self.admitted = 0
        self.drained = 0
        self.throttling = True
        self.raised = 0
        """How many times the limit was doubled because nothing was written for `stall` seconds."""
        self._changed = threading.Condition()

    def admit(self, rows: int) -> None:
        with self._changed:
            while self.throttling and self.admitted - self.drained > self.limit:
                before = self.drained
                if not self._changed.wait(self.stall) and self.drained == before:
                    self._raise()
            self.admitted += rows

    def _raise(self) -> None:
        in_flight = self.admitted - self.drained
        self.limit *= 2
        self.raised += 1
        log.warning(
            "backpressure: nothing written for %.1f s with %d rows in flight; limit raised to %d rows "
            "(Polars threads: %d)",
            self.stall,
            in_flight,
            self.limit,
            pl.thread_pool_size(),
        )

    def drain(self, rows: int) -> None:
        with self._changed:
            self.drained += rows
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self.throttling = False
            self._changed.notify_all()


class _Current:
    gate: Gate | None = None


@contextmanager
def gate(limit_rows: int, stall_seconds: float = DEFAULT_STALL_SECONDS) -> Iterator[Gate]:
    """Throttle this process's sources while the block runs (a process runs one pipeline at a time)."""
    opened = Gate(limit_rows, stall_seconds)
    _Current.gate = opened
    try:
        yield opened
    finally:
        opened.close()
        _Current.gate = None


def admit(rows: int) -> None:
    """Called by a source before it yields `rows` rows; returns at once when no gate is open."""
    current = _Current.gate
    if current is not None:
        current.admit(rows)


def drained(rows: int) -> None:
    """Called by a writer once it has written (or kept) `rows` rows."""
    current = _Current.gate
    if current is not None:
        current.drain(rows)
