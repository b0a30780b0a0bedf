"""Every step streams in the run's last pass: behind a backpressure gate of a few batches, the
source never waits for a step that consumes every row before it lets one out (the gate would stall
and raise its limit).

Polars holds batches while it orders them for each sink, more with more threads (measured, the
smallest limit that never stalled, in batches: 3 with 2 threads, 5 with 3, 7 with 4, 15 with 8 for a
step with a quarantine; up to 22 with 8 for k_anonymity, whose reasons come from an in-memory frame
the engine aligns with the flow), so the gate admits three batches per thread and the source yields
four times that: a step that held every row would stall it.

Steps that fit (bin edges, an anomaly model, per-entity windows, expectations, dedupe) read what
they need while planning; what they add to the flow must stream all the same. Two Polars
expressions did not (`search_sorted` with a column argument, `replace_strict`): the streaming engine
ran them on whole columns, which held every row of the fraud example's flow.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from vaultline.engines.polars import backpressure
from vaultline.engines.polars.registry import implementation
from vaultline.run.context import RunContext
from vaultline.spec.loader import loads

BATCH = 2_000
LIMIT = 3 * pl.thread_pool_size() * BATCH
ROWS = 4 * LIMIT

SPEC = """
version: 1
name: streaming
keys: {{customer: customer_key, account: account_key}}
sources:
  events: {{format: csv, path: unused.csv}}
steps:
  - {step}
outputs:
  out: {{path: unused}}
"""

STEPS = {
    "clean": "clean: {trim: true, case: {email: lower}, constraints: {amount: {min: 0}}}",
    "clean-dedupe": "clean: {dedupe: {keys: [customer, mcc]}}",
    "tokenize": "tokenize: {columns: [customer], domain: customer}",
    "encrypt_deterministic": "encrypt_deterministic: {columns: [email], domain: customer}",
    "format_preserving": "format_preserving: {columns: [account], domain: account, preserve_prefix: 4}",
    "hash": "hash: {columns: [email], algorithm: sha256}",
    "mask": "mask: {columns: [ip], style: custom, pattern: '[0-9]+$'}",
    "redact": "redact: {columns: [email]}",
    "drop": "drop: {columns: [email]}",
    "generalize": "generalize: {rules: {zip: {rule: zip3}, dob: {rule: year}}}",
    "bin": "bin: {column: amount, output: b, method: percentile, bins: [0, 50, 100], labels: [lo, hi]}",
    "encode": "encode: {column: mcc, mapping: {'5411': {risk: low}, unknown: {risk: high}}}",
    "derive-arithmetic": "derive: {columns: {double: {kind: arithmetic, expression: 'amount * 2'}}}",
    "derive-window": "derive: {columns: {v: {kind: velocity, entity: customer, time: ts, window: 1h}}}",
    "expect": "expect: [{name: positive, kind: range, column: amount, min: 0, severity: quarantine}]",
    "anomaly": "anomaly: {features: [amount], n_estimators: 10, random_state: 1}",
    "k_anonymity": "k_anonymity: {quasi_identifiers: [zip], min_k: 2, on_violation: suppress}",
}


def _rows() -> pl.DataFrame:
    index = pl.int_range(ROWS, eager=True)
    frame = pl.DataFrame(
        {
            "customer": ("c" + (index % 97).cast(pl.String)),
            "account": (4_000_000_000_000_000 + index).cast(pl.String),
            "email": ("U" + index.cast(pl.String) + "@Example.org"),
            "ip": ("10.0.0." + (index % 250).cast(pl.String)),
            "amount": (index % 50 - 1).cast(pl.Float64),
            "mcc": pl.Series(["5411", "5812"] * (ROWS // 2)),
            "zip": (10_000 + index % 80_000).cast(pl.String),
            "index": index,
        }
    )
    return frame.with_columns(
        ts=pl.datetime(2024, 1, 1) + pl.duration(seconds=pl.col("index")),
        dob=pl.date(1970, 1, 1) + pl.duration(days=pl.col("index") % 15_000),
    ).drop("index")


def _source(rows: pl.DataFrame) -> pl.LazyFrame:
    from polars.io.plugins import register_io_source

    def batches(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        for start in range(0, rows.height, BATCH):
            batch = rows.slice(start, BATCH)
            batch = batch.filter(predicate) if predicate is not None else batch
            backpressure.admit(batch.height)
            yield batch.select(with_columns) if with_columns is not None else batch

    return register_io_source(batches, schema=rows.schema)


def _drain(batch: pl.DataFrame) -> None:
    backpressure.drained(batch.height)


@pytest.mark.parametrize("step", STEPS.values(), ids=STEPS.keys())
def test_the_step_streams_in_the_last_pass(ctx: RunContext, step: str) -> None:
    ((name, params),) = loads(SPEC.format(step=step)).pipeline.all_steps()
    # Warmed first: the modules and kernels a step loads on its first batch (seconds in a fresh venv,
    # on a loaded machine) are not what the gate's stall window is about.
    implementation(name)(_rows().head(BATCH).lazy(), params, ctx.for_step(0)).frame.collect()
    result = implementation(name)(_source(_rows()), params, ctx.for_step(0))
    sinks = [result.frame.sink_batches(_drain, chunk_size=BATCH, lazy=True)]
    if result.quarantine is not None:
        sinks.append(result.quarantine.sink_batches(_drain, chunk_size=BATCH, lazy=True))
    # a step that holds every row never drains: it stalls however long the window (15 s: a loaded
    # machine may pause a streaming step for seconds)
    with backpressure.gate(limit_rows=LIMIT, stall_seconds=15) as gate:
        pl.collect_all(sinks, engine="streaming")
        assert gate.raised == 0, f"{name} held every row before letting one out"
        assert gate.admitted == gate.drained == ROWS
