"""Cost of Parquet Modular Encryption: the same table written and read back plain vs encrypted.

    .venv/bin/python bench/bench_encryption.py [--rows 2000000] [--repeats 5]

Six columns (int, float and string), three of them encrypted (two pii string columns under one key,
one phi float column under another; encrypted footer, AES-GCM, double wrapping, snappy), local
keyring in a temp directory. Plain and encrypted runs alternate in one process; each side keeps its
best write and best read. The last line is machine-readable:
`parquet_encryption rows=N plain_s=X encrypted_s=Y overhead=Z%` (X, Y = best write + best read).
Target: overhead <= 10%. Timings only; nothing here asserts on them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.storage.encrypted_parquet import EncryptionPlan, read_table, write_table

PLAN = EncryptionPlan(
    footer_key="footer_key", column_keys={"pii_key": ["name", "email"], "phi_key": ["score"]}
)


def make_table(rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = pa.array(rng.integers(0, 10**9, rows))
    text_ids = pc.cast(ids, pa.string())
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "amount": pa.array(rng.gamma(2.0, 50.0, rows)),
            "region": pa.array(rng.choice(["north", "south", "east", "west", "centre"], rows)),
            "name": pc.binary_join_element_wise("customer-", text_ids, ""),
            "email": pc.binary_join_element_wise("user", text_ids, "@example.org", ""),
            "score": pa.array(rng.random(rows)),
        }
    )


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    os.environ.setdefault(PASSPHRASE_ENV, "bench-passphrase-not-secret")
    table = make_table(args.rows)
    with tempfile.TemporaryDirectory(prefix="vl-bench-enc-") as tmp:
        root = Path(tmp)
        ring = LocalKeyring(root / "state", warn=False)
        for name in ("pii_key", "phi_key", "footer_key"):
            ring.create(name)
        plain_path, encrypted_path = root / "plain.parquet", root / "encrypted.parquet"

        times: dict[str, float] = {}
        for _ in range(args.repeats):  # alternate so drift (cache, turbo) hits both sides alike
            for label, action in (
                ("plain_write", lambda: pq.write_table(table, plain_path, compression="snappy")),
                ("encrypted_write", lambda: write_table(table, encrypted_path, PLAN, ring)),
                ("plain_read", lambda: pq.read_table(plain_path)),
                ("encrypted_read", lambda: read_table(encrypted_path, ring)),
            ):
                times[label] = min(times.get(label, float("inf")), seconds(action))

        assert read_table(encrypted_path, ring).equals(pq.read_table(plain_path))
        plain_mb = plain_path.stat().st_size / 1e6
        encrypted_mb = encrypted_path.stat().st_size / 1e6

    plain_s = times["plain_write"] + times["plain_read"]
    encrypted_s = times["encrypted_write"] + times["encrypted_read"]
    print(f"rows={args.rows:,} columns={table.num_columns} (3 encrypted) best of {args.repeats}")
    for side in ("write", "read"):
        plain, encrypted = times[f"plain_{side}"], times[f"encrypted_{side}"]
        print(
            f"  {side:<6} plain {plain:7.3f} s   encrypted {encrypted:7.3f} s   "
            f"ratio {encrypted / plain:5.2f}"
        )
    print(f"  size   plain {plain_mb:7.1f} MB  encrypted {encrypted_mb:7.1f} MB")
    overhead = (encrypted_s / plain_s - 1) * 100
    print(
        f"parquet_encryption rows={args.rows} plain_s={plain_s:.3f} encrypted_s={encrypted_s:.3f} "
        f"overhead={overhead:.1f}%"
    )


if __name__ == "__main__":
    main()
