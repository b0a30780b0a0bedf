"""End-to-end benchmark of the fraud example against the naive pandas job, in one session.

Generates N fraud rows (default 2M) once, then times whole processes (startup included):
1. `vaultline run examples/fraud/pipeline.yaml` on N rows (after one small warm-up run, `prepare`);
2. `bench/naive_fraud.py` (pandas, a Python call per value) on `--baseline-rows` rows (default
   min(N, 200k): its cost is linear in rows and it would take many minutes on millions).
Peak RSS comes from each child's own rusage. The last line is machine-readable:

    fraud_pipeline rows=N rows_per_s=X baseline_rows_per_s=Y ratio=R peak_rss_mb=M

    make bench ROWS=2000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "fraud" / "pipeline.yaml"
VAULTLINE = Path(sys.executable).with_name("vaultline")


class Child(NamedTuple):
    seconds: float
    """Wall clock, start to exit."""
    rss_mb: float
    """Peak resident memory."""
    cpu_s: float
    """User + system CPU time of every thread."""


def measure(command: list[str], env: dict[str, str]) -> Child:
    """What one child process took."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed with status {status}")
    return Child(elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def dataset(rows: int, out: Path) -> Path:
    from vaultline.demo.fraud import generate_fraud

    folder = out / f"data-{rows}"
    marker = folder / "raw" / "transactions.csv"
    if not marker.exists():
        print(f"generating {rows:,} fraud rows in {folder} ...", flush=True)
        generate_fraud(rows, folder)
    return folder


def run_vaultline(folder: Path, out: Path, env: dict[str, str]) -> Child:
    command = [
        str(VAULTLINE), "run", str(SPEC), "--state", str(out / "state"),
        "--param", f"source_bucket={folder / 'raw'}", "--param", f"target_bucket={out / 'output'}",
    ]  # fmt: skip
    return measure(command, env)


def prepare(out: Path) -> dict[str, str]:
    """The environment for `run_vaultline`: the spec's keys in the bench keyring, and one small
    warm-up run, which fills numba's on-disk cache the way any second run on a machine would."""
    env = {**os.environ, "VAULTLINE_PASSPHRASE": "bench-only-passphrase"}
    os.environ.update(env)

    from vaultline.keys.local import LocalKeyring
    from vaultline.spec.loader import load

    keyring = LocalKeyring((out / "state").resolve(), warn=False)
    for ref in load(SPEC).pipeline.keys.values():
        keyring.ensure(ref)
    run_vaultline(dataset(10_000, out), out, env)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--baseline-rows", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    baseline_rows = args.baseline_rows or min(args.rows, 200_000)
    env = prepare(args.out)
    run = run_vaultline(dataset(args.rows, args.out), args.out, env)
    rate = args.rows / run.seconds
    print(
        f"vaultline: {args.rows:,} rows in {run.seconds:.2f}s = {rate:,.0f} rows/s, "
        f"peak RSS {run.rss_mb:,.0f} MB, {run.cpu_s:.1f} CPU-s"
    )

    small = dataset(baseline_rows, args.out)
    base = measure(
        [sys.executable, str(ROOT / "bench" / "naive_fraud.py"), str(small / "raw" / "transactions.csv"),
         str(args.out / "naive.parquet")],
        env,
    )  # fmt: skip
    base_rate = baseline_rows / base.seconds
    print(
        f"naive pandas: {baseline_rows:,} rows in {base.seconds:.2f}s = {base_rate:,.0f} rows/s, "
        f"peak RSS {base.rss_mb:,.0f} MB"
    )
    print(
        f"fraud_pipeline rows={args.rows} rows_per_s={rate:.0f} baseline_rows_per_s={base_rate:.0f} "
        f"ratio={rate / base_rate:.2f} peak_rss_mb={run.rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
