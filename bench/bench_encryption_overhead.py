"""Encryption at rest, end to end: the fraud example writing encrypted Parquet vs plain Parquet.

    .venv/bin/python bench/bench_encryption_overhead.py [--rows 1000000] [--repeat 3]

Both variants run as whole `vaultline run` processes on the same generated input, alternating, and
the best of `--repeat` runs of each counts (this 2-core machine is noisy). The plain variant is the
example with `encryption: {enabled: false}` on its output. The last line is

    encryption_overhead rows=N plain_s=X encrypted_s=Y overhead=Z%

(the issue's budget: at most 10%).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline import ROOT, SPEC, VAULTLINE, dataset, measure

PLAIN_OUTPUT = "    path: ${params.target_bucket}/fraud_features\n"


def plain_spec(out: Path) -> Path:
    text = SPEC.read_text()
    assert PLAIN_OUTPUT in text, "the fraud example's output block changed: update this bench"
    spec = out / "fraud-plain.yaml"
    spec.write_text(text.replace(PLAIN_OUTPUT, PLAIN_OUTPUT + "    encryption: {enabled: false}\n"))
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "VAULTLINE_PASSPHRASE": "bench-only-passphrase"}
    os.environ.update(env)

    from vaultline.keys.local import LocalKeyring
    from vaultline.spec.loader import load

    state = (args.out / "state-encryption").resolve()
    keyring = LocalKeyring(state, warn=False)
    for ref in load(SPEC).pipeline.keys.values():
        keyring.ensure(ref)
    folder = dataset(args.rows, args.out)
    variants = {"encrypted": SPEC, "plain": plain_spec(args.out)}
    best = dict.fromkeys(variants, float("inf"))
    for attempt in range(args.repeat + 1):
        for name, spec in variants.items():
            command = [
                str(VAULTLINE), "run", str(spec), "--state", str(state),
                "--param", f"source_bucket={folder / 'raw'}", "--param", f"target_bucket={args.out / name}",
            ]  # fmt: skip
            seconds = measure(command, env).seconds
            if attempt:  # the first round warms caches (numba, classification, page cache)
                best[name] = min(best[name], seconds)
                print(f"{name}: {seconds:.2f}s", flush=True)
    overhead = 100 * (best["encrypted"] / best["plain"] - 1)
    print(
        f"encryption_overhead rows={args.rows} plain_s={best['plain']:.2f} "
        f"encrypted_s={best['encrypted']:.2f} overhead={overhead:.1f}%"
    )


if __name__ == "__main__":
    main()
