"""Helpers shared by the dataset catalog tests, and the worker functions the race tests run in
spawned processes (they must live in an importable module, not in a test function)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from vaultline.catalog.datasets import DatasetCatalog, DatasetNotFound, FileEntry, VersionConflict

DOCS: dict[str, Any] = {
    "schema": {"customer_id": "String", "amount": "Float64"},
    "classifications": {"customer_id": "CUSTOMER_ID"},
    "protections": {"customer_id": "tokenize"},
    "encryption": {"customer_id": {"key": "customer_key", "mode": "AES-SIV"}},
    "watermark": None,
}


def write_file(path: Path, content: bytes, *, rows: int = 1) -> FileEntry:
    """A real file on disk and its catalog entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return FileEntry(str(path), hashlib.sha256(content).hexdigest(), rows, len(content))


def fake_entry(location: str, rows: int = 1) -> FileEntry:
    """A catalog entry for a file that need not exist (catalog-only tests)."""
    return FileEntry(location, hashlib.sha256(location.encode()).hexdigest(), rows, 10)


def commit(catalog: DatasetCatalog, dataset: str, files: list[FileEntry], **overrides: Any) -> int:
    kwargs: dict[str, Any] = {**DOCS, "run_id": overrides.pop("run_id", None), **overrides}
    return catalog.commit(dataset, files=files, **kwargs)


def age(path: Path, seconds: float) -> None:
    """Backdate a file's modification time."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def race_worker(url: str, dataset: str, writer: str, commits: int, mode: str, barrier: Any) -> int:
    """Commit `commits` versions as `writer`, each with its own file and run id; returns the conflicts seen.

    mode "retry": commit_with_retry (the catalog re-reads the latest version). mode "optimistic": the
    caller reads the latest version, commits with expected_version, and starts over on a conflict."""
    catalog = DatasetCatalog(url)
    barrier.wait()
    conflicts = 0
    for n in range(commits):
        run_id = f"{writer}-{n}"
        files = [fake_entry(f"/data/{dataset}/{run_id}.parquet", rows=n + 1)]
        if mode == "retry":
            catalog.commit_with_retry(dataset, files=files, run_id=run_id, attempts=100, **DOCS)
            continue
        while True:
            try:
                latest = catalog.latest(dataset).version
            except DatasetNotFound:
                latest = 0
            try:
                catalog.commit(dataset, files=files, run_id=run_id, expected_version=latest, **DOCS)
                break
            except VersionConflict:
                conflicts += 1
    catalog.close()
    return conflicts


def process_entry(url: str, dataset: str, writer: str, commits: int, mode: str, barrier: Any) -> None:
    race_worker(url, dataset, writer, commits, mode, barrier)


def open_entry(url: str, barrier: Any) -> None:
    from vaultline.catalog.schema import open_catalog

    barrier.wait()
    open_catalog(url).dispose()
