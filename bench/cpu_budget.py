"""CPU seconds the fraud job's parts cost, against what 1 M rows/s on 2 cores would allow.

    .venv/bin/python bench/cpu_budget.py [--rows 2000000]

At R rows/s on C cores, a job may spend at most C / R CPU-seconds a row, whatever its parallelism:
1 M rows/s on 2 cores is 2 CPU-microseconds a row, 4 CPU-seconds for 2 M rows. This measures the
process CPU time (user + system, every thread) of each part of `examples/fraud/pipeline.yaml`,
one at a time on the same N generated rows:
- the imports a run needs (a child process, so nothing is imported yet);
- reading the CSV source (fingerprint + parse, streamed to nowhere), and reading it again while
  the first step is planned (clean's dedupe);
- each step's planning (the fits read the flow) and execution, on the previous step's output held
  in memory (collected once, outside the measurement), with Polars' streaming engine;
- writing the flow after the protections to an encrypted spill and reading it back, with the
  executor's spill sink and scan (the run does this once, before its first step that needs every
  row);
- writing the final flow to encrypted Parquet through the run's own sink (Parquet Modular
  Encryption, a local keyring).
A run reads its source twice when the first step dedupes (once narrow, while planning): that
second read is the first step's planning on the CSV source less its planning on the rows in
memory. Nothing a run does around the engine (audit, catalog, lineage) is counted: the sum is a
floor for the job. For comparison, the whole `vaultline run` process on the same rows (after a
small warm-up run) is measured last. The last line is machine-readable:

    cpu_budget rows=N cpu_s=X budget_cpu_s=Y over_budget=Z

Timings only; nothing here asserts on them.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from bench_crypto import BenchContext
from bench_pipeline import ROOT, SPEC, dataset, measure, prepare, run_vaultline
from vaultline.engines.polars import spill
from vaultline.engines.polars.outputs import BATCH_ROWS, _EncryptingSink
from vaultline.engines.polars.registry import PREFETCH, implementation
from vaultline.engines.polars.sources import read_source
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.spec.loader import load
from vaultline.storage.output_keys import ColumnKeys
from vaultline.storage.spill import Spill

T = TypeVar("T")
RUN_IMPORTS = (
    "vaultline.cli.main", "vaultline.run.runner", "vaultline.engines.polars.executor",
    *(module for modules in PREFETCH.values() for module in modules if not module.startswith("pycanon")),
)  # fmt: skip
PROTECTED = {
    "pii": ["customer_id", "email", "ip_address", "device_id"],
    "pci": ["account_number", "card_number"],
}


class _Context(BenchContext):
    def for_step(self, _index: int) -> _Context:
        return self

    def previous_facts(self, run_id: str, step_index: int) -> dict[str, Any]:
        return {}

    def previous_run_report(self) -> None:
        return None


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured(action: Callable[[], T]) -> tuple[float, T]:
    start = _cpu()
    result = action()
    return _cpu() - start, result


def import_cpu() -> float:
    code = "".join(f"import {module}\n" for module in RUN_IMPORTS)
    return measure([sys.executable, "-c", code], dict(os.environ)).cpu_s


def stream_to_nowhere(source: Any) -> None:
    read_source("transactions", source).frame.sink_batches(lambda _: None, lazy=True).collect()


def spill_round_trip(frame: pl.DataFrame, directory: Path) -> None:
    """What the executor's checkpoint does: the flow into an encrypted spill, then read back."""
    flow = frame.lazy()
    target = Spill.create(directory, frame.head(0).to_arrow().schema)
    spill.sink(flow, target, BATCH_ROWS).collect(engine="streaming")
    target.finish()
    spill.scan(target, frame.schema).sink_batches(lambda _: None, lazy=True).collect(engine="streaming")
    target.delete()


def write_encrypted(frame: pl.DataFrame, directory: Path) -> None:
    """The run's encrypting output sink (outputs.py), its keys in a local keyring."""
    os.environ.setdefault(PASSPHRASE_ENV, "bench-only-passphrase")
    keyring = LocalKeyring(directory / "state", warn=False)
    for name in ("footer", *PROTECTED):
        keyring.ensure(name)
    columns = {key: [c for c in names if c in frame.columns] for key, names in PROTECTED.items()}
    schema = frame.head(0).to_arrow(compat_level=pl.CompatLevel.oldest()).schema
    sink = _EncryptingSink(
        str(directory / "out.parquet"), ColumnKeys("footer", columns), keyring, "snappy", schema, drains=False
    )
    frame.lazy().sink_batches(sink, chunk_size=BATCH_ROWS, lazy=True).collect(engine="streaming")
    sink.close()


def plan_step(frame: pl.LazyFrame, name: str, params: Any, ctx: _Context) -> None:
    """Plan the step only: what reads the flow while planning (fits, clean's dedupe) runs."""
    implementation(name)(frame, params, ctx)


def run_step(flow: pl.DataFrame, name: str, params: Any, ctx: _Context) -> pl.DataFrame:
    """Plan the step (its fits read the flow), then run it with the streaming engine."""
    return implementation(name)(flow.lazy(), params, ctx).frame.collect(engine="streaming")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    rows = args.rows
    parts: list[tuple[str, float]] = [("imports of a run (child process)", import_cpu())]
    for module in RUN_IMPORTS:  # this process: loaded before anything is measured
        __import__(module)

    loaded = load(SPEC)
    csv = str(dataset(rows, args.out) / "raw" / "transactions.csv")
    source = loaded.pipeline.sources["transactions"].model_copy(update={"path": csv})
    parts.append(("read the CSV source", measured(partial(stream_to_nowhere, source))[0]))
    flow = read_source("transactions", source).frame.collect()

    ctx = _Context()
    first, first_params = loaded.pipeline.all_steps()[0]
    on_source, _ = measured(
        partial(plan_step, read_source("transactions", source).frame, first, first_params, ctx)
    )
    in_memory, _ = measured(partial(plan_step, flow.lazy(), first, first_params, ctx))
    # On a few rows the two are within noise of each other: a read costs at least nothing.
    parts.append((f"step 0 {first} planning reads the source", max(0.0, on_source - in_memory)))
    with tempfile.TemporaryDirectory() as scratch:
        spilled = False
        for index, (name, params) in enumerate(loaded.pipeline.all_steps()):
            # Where the run spills a source read in a stable order (`spills_before` in the executor):
            # before its first step, after the first, that needs every row.
            if not spilled and index > 0 and params.needs_all_rows():
                spilled = True
                parts.append(
                    ("spill: write + read back", measured(partial(spill_round_trip, flow, Path(scratch)))[0])
                )
            cpu, flow = measured(partial(run_step, flow, name, params, ctx))
            parts.append((f"step {index} {name} (plan + run)", cpu))
        parts.append(("encrypted Parquet output", measured(partial(write_encrypted, flow, Path(scratch)))[0]))

    whole = run_vaultline(dataset(rows, args.out), args.out, prepare(args.out))
    total = sum(cpu for _, cpu in parts)
    budget = 2 * rows / 1e6
    for label, cpu in [
        *parts,
        ("sum", total),
        ("the whole `vaultline run` process", whole.cpu_s),
        ("1 M rows/s on 2 cores allows", budget),
    ]:
        print(f"  {label:<40} {cpu:6.2f} CPU-s  {cpu / rows * 1e6:5.2f} us/row")
    over = total / budget
    print(f"cpu_budget rows={rows} cpu_s={total:.2f} budget_cpu_s={budget:.2f} over_budget={over:.2f}")


if __name__ == "__main__":
    main()
