"""Every row the readers count reaches an output or the quarantine: a run that loses or duplicates rows
between them stops before anything is committed, and the report's input count is the readers' own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from vaultline.engines.polars import executor
from vaultline.engines.polars.base import ROW_ID
from vaultline.engines.polars.sources import input_files, read_source
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.spec.loader import loads
from vaultline.spec.sources import Source

SPEC = """
version: 1
name: accounting
sources:
  events: {{format: {format}, path: "{path}"}}
steps:
  - clean: {{cast: {{amount: float64}}, dedupe: {{keys: [event]}}}}
  - derive: {{columns: {{double: {{kind: arithmetic, expression: "amount * 2"}}}}}}
quarantine: {{max_fraction: 0.9, domain: other}}
outputs:
  out: {{path: "{out}", encryption: {{enabled: false}}}}
"""
CSV = (
    "event,amount\n"
    "e1,1\n"
    "e2,2,surplus\n"  # set aside by the reader
    "e3,three\n"  # quarantined by clean's cast
    "e4,4\n"
    "e4,4\n"  # a duplicate
    "e5,5\n"
)


def _run(ctx: RunContext, tmp_path: Path, source_format: str = "csv") -> executor.EngineResult:
    path = tmp_path / f"events.{source_format}"
    if source_format == "csv":
        path.write_text(CSV)
    else:
        pl.DataFrame({"event": ["e1", "e2", "e2"], "amount": ["1", "x", "2"]}).write_parquet(path)
    spec = SPEC.format(format=source_format, path=path, out=tmp_path / "out")
    return executor.execute(
        loads(spec).pipeline, ctx, run_id="r1", quarantine_dir=tmp_path / "q", on_phase=lambda _: None
    )


@pytest.mark.parametrize(("source_format", "rows"), [("csv", (6, 3)), ("parquet", (3, 2))])
def test_the_input_count_is_the_readers_and_matches_outputs_plus_quarantine(
    ctx: RunContext, tmp_path: Path, source_format: str, rows: tuple[int, int]
) -> None:
    result = _run(ctx, tmp_path, source_format)
    assert (result.rows_input, result.rows_output) == rows
    assert sum(result.quarantine_by_reason.values()) == rows[0] - rows[1]


@pytest.mark.parametrize(
    ("change", "message"), [("drop", "1 rows unaccounted for"), ("repeat", "1 rows too many")]
)
def test_a_step_that_loses_or_repeats_rows_stops_the_run_before_anything_is_written(
    ctx: RunContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str, message: str
) -> None:
    original = executor.implementation

    def defective(name: str) -> Any:
        apply = original(name)
        if name != "derive":
            return apply

        def lossy(frame: pl.LazyFrame, params: Any, step_ctx: Any) -> Any:
            result = apply(frame, params, step_ctx)
            first = result.frame.filter(pl.col(ROW_ID) == pl.col(ROW_ID).min())
            result.frame = (
                result.frame.filter(pl.col(ROW_ID) != pl.col(ROW_ID).min())
                if change == "drop"
                else pl.concat([result.frame, first])
            )
            return result

        return lossy

    monkeypatch.setattr(executor, "implementation", defective)
    with pytest.raises(TransformError, match=f"the sources held 6 rows, .*: {message}"):
        _run(ctx, tmp_path)
    assert not list((tmp_path / "out").rglob("*.parquet"))
    assert not (tmp_path / "q").exists() or not list((tmp_path / "q").iterdir())


def test_a_reader_counts_only_reads_to_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(input_files, "BLOCK_BYTES", 256)  # many batches: a head read stops early
    path = tmp_path / "e.csv"
    path.write_text(CSV + "".join(f"n{i},{i}\n" for i in range(5_000)))
    ingest = read_source("events", Source.model_validate({"format": "csv", "path": str(path)}))
    assert ingest.records() is None
    assert ingest.frame.head(2).collect().height == 2
    assert ingest.records() is None
    ingest.frame.collect()
    assert ingest.records() == 5_006  # valid and set-aside records
