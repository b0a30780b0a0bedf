"""Input files: missing files and globs, files changed after their fingerprint, S3 through a moto server."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from reading import collect, source, write

from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources import read_source
from vaultline.errors import SourceError


def test_missing_file_and_empty_glob_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source("m", source(format="csv", path=str(tmp_path / "nope.csv")))
    with pytest.raises(SourceError, match="no file matches") as error:
        read_source("m", source(format="csv", path=str(tmp_path / "*.csv")))
    assert error.value.hint
    with pytest.raises(SourceError, match="is a directory"):
        read_source("m", source(format="csv", path=str(tmp_path)))


def test_file_changed_after_fingerprint_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    write(path, "id\n1\n")
    ingest = read_source("c", source(format="csv", path=str(path)))
    write(path, "id\n1\n2\n")
    with pytest.raises(SourceError, match="changed after it was fingerprinted"):
        collect(ingest)


def test_parquet_file_replaced_after_its_fingerprint_is_detected_before_its_count_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polars as pl

    from vaultline.engines.polars.sources import parquet_reader

    path = tmp_path / "p.parquet"
    pl.DataFrame({"id": list(range(30))}).write_parquet(path)
    real = parquet_reader.fingerprint_files

    def then_replaced(*args: Any) -> Any:
        fingerprinted = real(*args)
        pl.DataFrame({"id": [1, 2]}).write_parquet(path)  # a writer replaces it before Polars reads it
        return fingerprinted

    monkeypatch.setattr(parquet_reader, "fingerprint_files", then_replaced)
    ingest = read_source("p", source(format="parquet", path=str(path)))
    frame, _ = collect(ingest)
    assert frame.height == 2  # the new file is read, while the fingerprint recorded is the old one's
    with pytest.raises(SourceError, match="changed after it was fingerprinted"):
        ingest.records()  # asked before any commit: the run fails


@pytest.mark.s3
def test_s3_csv_glob_through_moto(s3_bucket: str, s3_client: Any) -> None:
    bodies = {"in/a.csv": b"id,amount\n001,1\n002,x\n", "in/b.csv": b"id,amount\n003,3\n004\n"}
    for key, body in bodies.items():
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    ingest = read_source(
        "s", source(format="csv", path=f"s3://{s3_bucket}/in/*.csv", schema={"amount": "int64"})
    )
    frame, quarantine = collect(ingest)
    assert frame["id"].to_list() == ["001", "003"]
    assert frame[ROW_ID].to_list() == [0, 2]
    assert quarantine[REASON].to_list() == ["type:amount", "csv:expected 2 fields, got 1"]
    assert [f["location"] for f in ingest.fingerprints] == [f"s3://{s3_bucket}/{k}" for k in bodies]
    assert [f["sha256"] for f in ingest.fingerprints] == [
        hashlib.sha256(b).hexdigest() for b in bodies.values()
    ]


@pytest.mark.s3
def test_s3_parquet_through_moto(s3_bucket: str, s3_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pl.DataFrame({"id": ["a", "b"], "v": [1.5, 2.5]}).write_parquet(path)
    s3_client.upload_file(str(path), s3_bucket, "data/p.parquet")
    ingest = read_source("s", source(format="parquet", path=f"s3://{s3_bucket}/data/p.parquet"))
    frame = ingest.frame.collect()
    assert frame["v"].to_list() == [1.5, 2.5]
    assert ingest.fingerprints[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.s3
def test_s3_missing_object_and_bucket(s3_bucket: str) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source("s", source(format="csv", path=f"s3://{s3_bucket}/nope.csv"))
    with pytest.raises(SourceError, match="no file matches"):
        read_source("s", source(format="csv", path=f"s3://{s3_bucket}/nope/*.csv"))
    with pytest.raises(SourceError):
        read_source("s", source(format="csv", path="s3://vl-no-such-bucket-here/x.csv"))


def test_an_s3_endpoint_out_of_reach_is_a_retryable_source_error(unreachable_s3: None) -> None:
    from vaultline.errors import SourceUnavailableError

    with pytest.raises(SourceUnavailableError, match="could not be reached") as caught:
        read_source("s", source(format="csv", path="s3://vl-anywhere/x.csv"))
    assert caught.value.retryable and "run again unchanged" in caught.value.render()


# --------------------------------------------------------------------------------------- Postgres
