"""bench/cpu_budget.py runs against the engine it measures: every part of the fraud job is counted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from vaultline.spec.loader import load

ROOT = Path(__file__).resolve().parents[2]


def test_every_step_of_the_fraud_job_is_measured(tmp_path: Path) -> None:
    script = ROOT / "bench" / "cpu_budget.py"
    command = [sys.executable, str(script), "--rows", "5000", "--out", str(tmp_path)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout
    steps = [name for name, _ in load(ROOT / "examples" / "fraud" / "pipeline.yaml").pipeline.all_steps()]
    measured = re.findall(r"step (\d+) (\w+) \(plan \+ run\)", out)
    assert measured == [(str(index), name) for index, name in enumerate(steps)]
    parts = ("imports of a run", "read the CSV source", "step 0 clean planning reads the source")
    for part in (*parts, "spill: write + read back", "encrypted Parquet"):
        assert part in out
    # Where the run spills: right before derive, the fraud job's first step that needs every row.
    assert re.search(r"spill: write \+ read back[^\n]*\n\s+step 7 derive", out)
    for part in ("sum", "the whole `vaultline run` process", "1 M rows/s on 2 cores allows"):
        assert part in out
    last = out.strip().splitlines()[-1]
    expected = r"cpu_budget rows=5000 cpu_s=[\d.]+ budget_cpu_s=0\.01 over_budget=[\d.]+"
    assert re.fullmatch(expected, last), last
