"""Backpressure: a source waits for the writer, never for ever; a streaming run is gated end to end."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from vaultline.engines.polars import backpressure, executor
from vaultline.keys.local import LocalKeyring
from vaultline.run.context import RunContext
from vaultline.run.runner import _ensure_encryption_keys
from vaultline.spec.loader import loads
from vaultline.storage.encrypted_parquet import read_table


def _admit_in_thread(gate: backpressure.Gate, batches: int, rows: int) -> threading.Thread:
    thread = threading.Thread(target=lambda: [gate.admit(rows) for _ in range(batches)], daemon=True)
    thread.start()
    return thread


def _admitted_settles_at(gate: backpressure.Gate, rows: int) -> bool:
    """The source reaches `rows` admitted (however slow the machine) and stays there a while."""
    deadline = time.monotonic() + 10
    while gate.admitted < rows and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # a source that ignored the gate would run past `rows` meanwhile
    return gate.admitted == rows


def test_a_source_waits_until_the_writer_catches_up() -> None:
    gate = backpressure.Gate(limit_rows=10, stall_seconds=30)
    source = _admit_in_thread(gate, batches=4, rows=10)
    assert _admitted_settles_at(gate, 20)  # the third batch waits: 20 rows in flight, over the limit
    gate.drain(10)
    assert _admitted_settles_at(gate, 30)
    gate.drain(20)
    source.join(timeout=10)
    assert gate.admitted == 40 and gate.throttling


def test_a_consumer_that_holds_every_row_doubles_the_limit_at_each_stall(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = backpressure.Gate(limit_rows=10, stall_seconds=0.3)
    started = time.perf_counter()
    source = _admit_in_thread(gate, batches=10, rows=10)
    source.join(timeout=10)
    # waits with 20 rows in flight (limit -> 20), 30 (-> 40), 50 (-> 80), 90 (-> 160)
    assert gate.admitted == 100 and gate.throttling
    assert (gate.raised, gate.limit) == (4, 160)
    assert time.perf_counter() - started >= 4 * 0.3  # one stall for each doubling
    raised = [r.getMessage() for r in caplog.records if r.name == "vaultline.run.backpressure"]
    assert len(raised) == 4 and "90 rows in flight; limit raised to 160 rows" in raised[-1]


def test_the_limit_grows_with_the_engine_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pl, "thread_pool_size", lambda: 2)
    assert backpressure.limit_for(1_000) == 3_000  # the measured sweet spot on 2 cores
    monkeypatch.setattr(pl, "thread_pool_size", lambda: 8)
    assert backpressure.limit_for(1_000) == 9_000


def test_closing_the_gate_releases_a_waiting_source() -> None:
    gate = backpressure.Gate(limit_rows=0, stall_seconds=30)
    source = _admit_in_thread(gate, batches=2, rows=5)
    assert _admitted_settles_at(gate, 5)
    gate.close()
    source.join(timeout=10)
    assert gate.admitted == 10


def test_without_an_open_gate_admit_and_drain_do_nothing() -> None:
    backpressure.admit(10**9)
    backpressure.drained(10**9)


SPEC = """
version: 1
name: gated
keys: {{customer: customer_key}}
sources:
  events: {{format: csv, path: "{csv}", columns: {{ts: datetime}}}}
steps:
  - {first}
  - tokenize: {{columns: [customer], domain: customer}}
quarantine: {{max_fraction: 0.5, domain: other}}
outputs:
  out: {{path: "{out}"}}
"""


@pytest.mark.parametrize(
    "first",
    [
        "clean: {cast: {amount: float64}, constraints: {amount: {min: 0}}}",
        "clean: {cast: {amount: float64}, dedupe: {keys: [event]}}",  # dedupe streams too
        # the windows are computed while planning, on a projection read from the source: the run's
        # pass streams all the same
        "derive: {columns: {since: {kind: time_since_previous, entity: customer, time: ts}}}",
    ],
    ids=["row-local", "dedupe", "window-first"],
)
def test_a_run_is_gated_end_to_end(
    ctx: RunContext, keyring: LocalKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    rows = 30_000
    csv = tmp_path / "events.csv"
    frame = pl.DataFrame(
        {
            "event": [f"e{i}" for i in range(rows)],
            "customer": [f"c{i % 97}" for i in range(rows)],
            "ts": pl.datetime_range(
                pl.datetime(2024, 1, 1),
                pl.datetime(2024, 1, 1) + pl.duration(seconds=rows - 1),
                "1s",
                eager=True,
            ),
            "amount": [float(i % 50 - 1) for i in range(rows)],
        }
    )
    frame.write_csv(csv)
    pipeline = loads(SPEC.format(csv=csv, out=tmp_path / "out", first=first)).pipeline
    _ensure_encryption_keys(pipeline, keyring)
    opened: list[backpressure.Gate] = []
    original = backpressure.gate

    @contextlib.contextmanager
    def recording(limit_rows: int) -> Iterator[backpressure.Gate]:
        with original(limit_rows) as gate:
            opened.append(gate)
            yield gate

    monkeypatch.setattr(backpressure, "gate", recording)
    result = executor.execute(
        pipeline, ctx, run_id="r1", quarantine_dir=tmp_path / "q", on_phase=lambda _: None
    )
    written = read_table(result.outputs[0].location, keyring)
    assert written.num_rows == result.rows_output
    assert result.rows_input == rows
    (gate,) = opened
    assert gate.raised == 0  # the source never waited for a consumer that holds every row
    assert gate.throttling is False  # closed at the end of the run
    assert gate.admitted == rows  # every row the source yielded went through the gate
    assert gate.drained == rows  # and came out: written, or quarantined
