"""The executor materializes the flow once before each step that holds every row, after the first."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from vaultline.engines.polars import executor
from vaultline.run.context import RunContext
from vaultline.spec.loader import loads

SPEC = """
version: 1
name: materialize
sources:
  events: {{format: csv, path: "{csv}"}}
steps:
  - clean: {{parse: {{ts: {{format: "%Y-%m-%d %H:%M:%S", type: datetime}}}}, cast: {{amount: float64}}}}
  - derive: {{columns: {{double: {{kind: arithmetic, expression: "amount * 2"}}}}}}
  - derive:
      columns:
        since: {{kind: time_since_previous, entity: customer, time: ts}}
  - clean: {{dedupe: {{keys: [event]}}}}
  - bin: {{column: amount, output: amount_bin, method: quantile, bins: 2}}
quarantine: {{max_fraction: 0.5, domain: other}}
outputs:
  out: {{path: "{out}", encryption: {{enabled: false}}}}
"""


def test_steps_holding_every_row_start_from_a_materialized_flow(
    ctx: RunContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "events.csv"
    csv.write_text(
        "event,customer,ts,amount\n"
        "e1,a,2024-01-01 00:00:00,1\n"
        "e2,a,2024-01-01 00:01:00,2\n"
        "e3,b,2024-01-01 00:02:00,3\n"
        "e3,b,2024-01-01 00:02:00,3\n"
    )
    pipeline = loads(SPEC.format(csv=csv, out=tmp_path / "out")).pipeline
    materialized: list[int] = []
    original = executor._checkpoint

    def record(plan: executor._Plan) -> None:
        materialized.append(len(plan.steps))  # the index of the step about to be planned
        original(plan)

    monkeypatch.setattr(executor, "_checkpoint", record)
    result = executor.execute(
        pipeline, ctx, run_id="r1", quarantine_dir=tmp_path / "q", on_phase=lambda _: None
    )
    # clean and arithmetic stream, and so does dedupe (it reads a projection of keys while planning);
    # the per-entity window and the bin fit each hold every row
    assert materialized == [2, 4]
    assert result.rows_output == 3
    assert result.quarantine_by_reason == {"duplicate:event": 1}
    written = pl.read_parquet(result.outputs[0].location)
    assert written.sort("event")["since"].to_list() == [None, 60.0, None]
