"""Parquet sources: declared types applied, no quarantine when nothing converts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
from reading import collect, source

from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources import RAW, read_source


def test_parquet_with_declared_types(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    data = {"id": ["01", "02", "03", "04"], "amount": ["1", "x", "3", "4"], "n": [1.0, 2.0, 3.0, 4.5]}
    pl.DataFrame(data).write_parquet(path)
    schema = {"amount": "int64", "n": "int64", "id": "string"}
    ingest = read_source("p", source(format="parquet", path=str(path), schema=schema))
    frame, quarantine = collect(ingest)
    assert frame["amount"].to_list() == [1, 3]
    assert frame["n"].to_list() == [1, 3]
    assert frame[ROW_ID].to_list() == [0, 2]
    assert quarantine[REASON].to_list() == ["type:amount", "type:n"]  # 4.5 is not truncated to 4
    assert quarantine[RAW].to_list() == ["x", "4.5"]
    assert ingest.fingerprints[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_without_conversions_has_no_quarantine(tmp_path: Path) -> None:
    for i in range(2):
        pl.DataFrame({"id": [i * 10, i * 10 + 1]}).write_parquet(tmp_path / f"p{i}.parquet")
    ingest = read_source("p", source(format="parquet", path=str(tmp_path / "*.parquet")))
    assert ingest.quarantine is None
    frame = ingest.frame.collect()
    assert frame["id"].to_list() == [0, 1, 10, 11]
    assert frame[ROW_ID].to_list() == [0, 1, 2, 3]
    assert frame.schema[ROW_ID] == pl.UInt64
