"""Isolation Forest scoring speed: the anomaly step's numba kernel against sklearn's score_samples.

Fits one forest (100 trees, max_samples 256, on a 200k-row sample, as the step does), then scores
the same N rows (default 2M x 4 features, 1% far points, 0.1% nulls) with
- the kernel the anomaly step uses (`_isolation_forest.anomaly_scores`, numba, all cores),
- plain `IsolationForest.score_samples` (one core: it ignores n_jobs),
- the whole step: `apply(...)` then `collect()` of the scored frame (streaming engine),
checks the kernel's scores against sklearn's, and prints rows/s of each and the ratio.

    .venv/bin/python bench/bench_anomaly.py [--rows 2000000] [--repeat 3]

The machine may be shared: the best of `--repeat` runs is reported.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from vaultline.engines.polars import _isolation_forest as iforest
from vaultline.engines.polars.anomaly import apply
from vaultline.transforms.anomaly import Params

FEATURES = ["amount", "ratio", "count", "delta"]


class _Context:
    step_index = 0


def _data(rows: int, seed: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, 4))
    matrix[:, 1] = rng.lognormal(size=rows)
    matrix[:, 2] = rng.integers(0, 10, size=rows)
    far = rng.random(rows) < 0.01
    matrix[far] += rng.normal(0, 8, size=(int(far.sum()), 4))
    matrix[rng.random(matrix.shape) < 0.001] = np.nan
    return matrix


def _best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample-rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    matrix = _data(args.rows, args.seed)
    every = -(-args.rows // args.sample_rows)
    sample = iforest.fit_matrix([matrix[::every, i] for i in range(matrix.shape[1])])
    start = time.perf_counter()
    model = iforest.fit_sklearn(sample, n_estimators=100, max_samples=256, random_state=42)
    forest = iforest.pack(model, FEATURES)
    print(f"fit on {sample.shape[0]} rows + pack: {time.perf_counter() - start:.2f}s")

    columns = np.ascontiguousarray(matrix.T)
    start = time.perf_counter()
    iforest.anomaly_scores(forest, columns[:, :1000])
    print(f"kernel compile or cache load: {time.perf_counter() - start:.2f}s")

    kernel_s, ours = _best(lambda: iforest.anomaly_scores(forest, columns), args.repeat)
    as_fitted = iforest.fit_matrix([matrix[:, i] for i in range(matrix.shape[1])])
    sklearn_s, reference = _best(lambda: -model.score_samples(as_fitted), max(1, args.repeat - 1))
    diff = float(np.abs(ours - reference).max())

    frame = pl.DataFrame({name: matrix[:, i] for i, name in enumerate(FEATURES)}).lazy()
    params = Params(features=FEATURES, sample_rows=args.sample_rows)
    step_fit_s, result = _best(lambda: apply(frame, params, _Context()), 1)
    step_s, _ = _best(lambda: result.frame.collect(engine="streaming"), args.repeat)

    rows = args.rows
    print(f"rows: {rows:,} x {len(FEATURES)} features, 100 trees, max_samples 256")
    print(f"numba kernel (chosen):        {kernel_s:7.3f}s  {rows / kernel_s / 1e6:6.2f} M rows/s")
    print(f"sklearn score_samples:        {sklearn_s:7.3f}s  {rows / sklearn_s / 1e6:6.2f} M rows/s")
    print(f"speed-up: {sklearn_s / kernel_s:.1f}x   max |score - sklearn| = {diff:.1e}")
    print(f"anomaly step: fit {step_fit_s:.2f}s (count + sample + fit), streaming collect {step_s:.3f}s")
    print(f"  = {rows / step_s / 1e6:.2f} M rows/s end to end")


if __name__ == "__main__":
    main()
