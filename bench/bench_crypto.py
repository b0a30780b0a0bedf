"""Throughput of the vectorized crypto kernels against their per-value counterparts.

    .venv/bin/python bench/bench_crypto.py [--values 200000]

Prints values/s for FF1 (batch radix-10 kernel vs the scalar reference), AES-SIV (batch kernel vs
`cryptography`'s AESSIV called once per value) and the two Polars steps end to end, plus the
speed-up ratios. Timings only; nothing here asserts on them.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from vaultline.crypto import ff1, siv
from vaultline.engines.polars import encrypt_deterministic, format_preserving
from vaultline.keys.secret import SecretBytes
from vaultline.transforms.encrypt_deterministic import Params as SivParams
from vaultline.transforms.format_preserving import Params as FpeParams


class BenchContext:
    step_index = 0

    def __init__(self) -> None:
        self._key = os.urandom(32)
        self.key_versions: dict[str, int] = {}

    def domain_key(self, domain: str, purpose: str) -> SecretBytes:
        return SecretBytes(self._key, "bench")

    def read_bytes(self, location: str) -> bytes:
        raise NotImplementedError

    def previous_facts(self, run_id: str, step_index: int) -> dict[str, Any]:
        raise NotImplementedError


def rate(count: int, action: Callable[[], object], repeats: int = 1) -> float:
    """Values per second of the best of `repeats` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return count / best


def line(name: str, per_second: float) -> None:
    print(f"  {name:<44} {per_second:>14,.0f} values/s")


def bench_ff1(n: int, rng: np.random.Generator) -> None:
    key, tweak = os.urandom(32), b"account"
    matrix = rng.integers(0, 10, size=(n, 16), dtype=np.uint8)
    strings = (matrix + np.uint8(48)).view("S16").ravel().astype(np.str_)
    as_list = strings.tolist()
    print(f"FF1-AES256, radix 10, {n:,} values of 16 digits")
    batch_matrix = rate(n, lambda: ff1.encrypt_digits_batch(key, tweak, matrix), repeats=3)
    batch_strings = rate(n, lambda: ff1.encrypt_digits_batch(key, tweak, strings), repeats=3)
    scalar = rate(n, lambda: [ff1.encrypt(key, tweak, v) for v in as_list])
    line("batch kernel, digit matrix", batch_matrix)
    line("batch kernel, string array", batch_strings)
    line("scalar reference, one value per call", scalar)
    print(
        f"  ratio batch/scalar: {batch_matrix / scalar:,.0f}x matrix, {batch_strings / scalar:,.0f}x strings"
    )


def bench_siv(n: int, rng: np.random.Generator) -> None:
    key = os.urandom(64)
    lengths = rng.integers(5, 41, size=n)
    blob = rng.integers(0, 256, size=int(lengths.sum()), dtype=np.uint8).tobytes()
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    values = [blob[a:b] for a, b in pairwise(bounds)]
    ragged = siv.to_ragged(values)
    reference = AESSIV(key)
    print(f"AES-SIV-512, {n:,} values of 5..40 bytes")
    batch_ragged = rate(n, lambda: siv.encrypt_ragged(key, ragged), repeats=3)
    batch_list = rate(n, lambda: siv.encrypt_batch(key, values), repeats=3)
    per_value = rate(n, lambda: [reference.encrypt(v, None) for v in values], repeats=3)
    line("batch kernel, ragged buffer (Arrow layout)", batch_ragged)
    line("batch kernel, list of bytes in and out", batch_list)
    line("cryptography AESSIV, one value per call", per_value)
    print(
        f"  ratio batch/per-value: {batch_ragged / per_value:.1f}x ragged, {batch_list / per_value:.1f}x list"
    )


def bench_steps(n: int, rng: np.random.Generator) -> None:
    ctx = BenchContext()
    digits = rng.integers(0, 10, size=(n, 16), dtype=np.uint8) + np.uint8(48)
    cards = [
        f"{s[:4]}-{s[4:8]}-{s[8:12]}-{s[12:]}" for s in digits.view("S16").ravel().astype(np.str_).tolist()
    ]
    frame = pl.DataFrame({"card": cards})
    fpe = FpeParams(columns=["card"], domain="account", preserve_prefix=6, preserve_suffix=4)
    enc = SivParams(columns=["card"], domain="account")
    print(f"Polars steps end to end, {n:,} card numbers dddd-dddd-dddd-dddd")
    for engine in ("in-memory", "streaming"):
        line(
            f"format_preserving (6 digits clear), {engine}",
            rate(n, lambda e=engine: format_preserving.apply(frame.lazy(), fpe, ctx).frame.collect(engine=e)),
        )
        line(
            f"encrypt_deterministic, {engine}",
            rate(
                n,
                lambda e=engine: encrypt_deterministic.apply(frame.lazy(), enc, ctx).frame.collect(engine=e),
            ),
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--values", type=int, default=200_000, help="values per measurement")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    bench_ff1(args.values, rng)
    bench_siv(args.values, rng)
    bench_steps(args.values, rng)


if __name__ == "__main__":
    main()
