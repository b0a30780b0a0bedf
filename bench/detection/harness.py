"""Column-level detection quality of `classify_frame` on the labelled corpus, and classify speed.

    .venv/bin/python bench/detection/harness.py [--rows 5000] [--seeds 0 1 2] [--threshold T]
                                                [--show-errors] [--speed]

Detection (the default): for each seed, builds `corpus.build_corpus(rows, seed)`, classifies the
whole frame and compares each column's predicted entity with its label. For an entity E, a column is
a TP when label == E and predicted == E, an FP when predicted == E and label != E (a None-labelled
control or another entity's column), an FN when label == E and predicted != E. Counts are summed
over seeds; precision, recall, F1 and F2 are computed per entity (0 when their denominator is 0) and
macro-averaged over the entities present in labels or predictions. control_fp_rate = controls
(None-labelled columns) predicted as any entity / controls. Values are never printed: errors show
the column name, its label, the prediction and the match fraction. The last line is:

    detection macro_f1=<f1> macro_f2=<f2> control_fp_rate=<rate> columns=<n>

Speed (`--speed`, instead of detection): writes a 1,000,000-row x 30-column CSV under bench/out/
(20,000 corpus rows tiled) and times the whole `vaultline classify PATH --format json` process,
then `pl.read_csv` of the same file in this process, as a baseline:

    classify_speed rows=1000000 columns=30 seconds=S
    read_csv_seconds=R ratio=S/R
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[2]

try:
    from bench.detection.corpus import build_corpus
except ModuleNotFoundError:  # run as a script: python bench/detection/harness.py
    sys.path.insert(0, str(ROOT))
    from bench.detection.corpus import build_corpus


@dataclass(frozen=True)
class EntityScore:
    entity: str
    tp: int
    fp: int
    fn: int

    @property
    def support(self) -> int:
        """Columns labelled with the entity."""
        return self.tp + self.fn

    @property
    def predicted(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float:
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.support if self.support else 0.0

    def f_beta(self, beta: float) -> float:
        p, r = self.precision, self.recall
        b2 = beta * beta
        return (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0

    @property
    def f1(self) -> float:
        return self.f_beta(1.0)

    @property
    def f2(self) -> float:
        return self.f_beta(2.0)


@dataclass(frozen=True)
class Metrics:
    entities: dict[str, EntityScore]
    controls: int
    control_fps: int
    columns: int

    @property
    def macro_f1(self) -> float:
        return sum(s.f1 for s in self.entities.values()) / len(self.entities) if self.entities else 0.0

    @property
    def macro_f2(self) -> float:
        return sum(s.f2 for s in self.entities.values()) / len(self.entities) if self.entities else 0.0

    @property
    def control_fp_rate(self) -> float:
        return self.control_fps / self.controls if self.controls else 0.0


def evaluate(pairs: Iterable[tuple[str | None, str | None]]) -> Metrics:
    """Column-level metrics from (label, predicted) pairs, one per column (seeds concatenated)."""
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    controls = control_fps = columns = 0
    for label, predicted in pairs:
        columns += 1
        for entity in (label, predicted):
            if entity is not None:
                tp.setdefault(entity, 0)
                fp.setdefault(entity, 0)
                fn.setdefault(entity, 0)
        if label is not None and label == predicted:
            tp[label] += 1
            continue
        if predicted is not None:
            fp[predicted] += 1
        if label is not None:
            fn[label] += 1
        else:
            controls += 1
            control_fps += predicted is not None
    entities = {e: EntityScore(e, tp[e], fp[e], fn[e]) for e in sorted(tp)}
    return Metrics(entities, controls, control_fps, columns)


def format_table(metrics: Metrics) -> str:
    header = f"{'entity':<36} {'support':>7} {'pred':>5} {'tp':>4} {'fp':>4} {'fn':>4} " + " ".join(
        f"{h:>6}" for h in ("P", "R", "F1", "F2")
    )
    lines = [header, "-" * len(header)]
    for s in metrics.entities.values():
        lines.append(
            f"{s.entity:<36} {s.support:>7} {s.predicted:>5} {s.tp:>4} {s.fp:>4} {s.fn:>4} "
            + " ".join(f"{v:>6.3f}" for v in (s.precision, s.recall, s.f1, s.f2))
        )
    lines.append("-" * len(header))
    macro = f"macro ({len(metrics.entities)} entities)"
    lines.append(f"{macro:<36} {'':>37} {metrics.macro_f1:>6.3f} {metrics.macro_f2:>6.3f}")
    lines.append(f"controls: {metrics.control_fps} of {metrics.controls} flagged as an entity")
    return "\n".join(lines)


def summary_line(metrics: Metrics) -> str:
    return (
        f"detection macro_f1={metrics.macro_f1:.3f} macro_f2={metrics.macro_f2:.3f} "
        f"control_fp_rate={metrics.control_fp_rate:.3f} columns={metrics.columns}"
    )


def run_detection(rows: int, seeds: list[int], threshold: float | None, show_errors: bool) -> Metrics:
    from vaultline.classify.classifier import classify_frame

    pairs: list[tuple[str | None, str | None]] = []
    errors: list[str] = []
    for seed in seeds:
        started = time.perf_counter()
        frame, labels = build_corpus(rows=rows, seed=seed)
        built = time.perf_counter()
        findings = classify_frame(frame, threshold=threshold)
        classified = time.perf_counter()
        print(
            f"seed={seed} rows={frame.height} columns={frame.width} "
            f"build_seconds={built - started:.2f} classify_seconds={classified - built:.2f}"
        )
        by_name = {f.name: f for f in findings}
        for name, label in labels.items():
            finding = by_name.get(name)
            predicted = finding.entity if finding is not None else None
            pairs.append((label, predicted))
            if predicted != label:
                fraction = finding.match_fraction if finding is not None else 0.0
                errors.append(f"  seed={seed} {name} {label} -> {predicted} ({fraction:.3f})")
    metrics = evaluate(pairs)
    print()
    print(format_table(metrics))
    if show_errors:
        print()
        print(f"misclassified columns ({len(errors)}): column label -> predicted (match_fraction)")
        print("\n".join(errors) if errors else "  none")
    print()
    return metrics


SPEED_ROWS = 1_000_000
SPEED_COLUMNS = 30
TILE_ROWS = 20_000


def speed_frame() -> pl.DataFrame:
    """30 corpus columns (20 positives, 10 controls) of 20,000 rows, tiled to 1,000,000 rows."""
    frame, labels = build_corpus(rows=TILE_ROWS, seed=0)
    rng = random.Random(0)
    positives = [c for c in frame.columns if labels[c] is not None]
    controls = [c for c in frame.columns if labels[c] is None]
    chosen = set(rng.sample(positives, 20) + rng.sample(controls, SPEED_COLUMNS - 20))
    tile = frame.select([c for c in frame.columns if c in chosen])
    return pl.concat([tile] * (SPEED_ROWS // TILE_ROWS))


def run_speed() -> None:
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "detection_speed_1m.csv"
    started = time.perf_counter()
    big = speed_frame()
    big.write_csv(path)
    print(
        f"wrote {path.relative_to(ROOT)} rows={big.height} columns={big.width} "
        f"bytes={path.stat().st_size} seconds={time.perf_counter() - started:.1f}"
    )
    del big

    started = time.perf_counter()
    result = subprocess.run(
        [".venv/bin/vaultline", "classify", str(path), "--format", "json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=True,
    )
    seconds = time.perf_counter() - started
    try:
        report = json.loads(result.stdout)
        columns = report.get("columns", [])
        flagged = sum(1 for c in columns if c.get("entity"))
        print(f"classify_report columns={len(columns)} flagged={flagged}")
    except (ValueError, AttributeError):
        print("classify_report unparsed")
    print(f"classify_speed rows={SPEED_ROWS} columns={SPEED_COLUMNS} seconds={seconds:.2f}")

    started = time.perf_counter()
    read = pl.read_csv(path, infer_schema_length=TILE_ROWS)
    read_seconds = time.perf_counter() - started
    assert read.height == SPEED_ROWS
    print(f"read_csv_seconds={read_seconds:.2f} ratio={seconds / read_seconds:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--speed", action="store_true", help="time `vaultline classify` on 1M x 30 instead")
    args = parser.parse_args(argv)
    if args.speed:
        run_speed()
        return 0
    metrics = run_detection(args.rows, args.seeds, args.threshold, args.show_errors)
    print(summary_line(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
