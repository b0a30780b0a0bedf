"""vacuum (keep the newest N versions' files) and gc (collect uncommitted leftovers), on real files:
local directories on SQLite and PostgreSQL catalogs, and S3 objects on the moto server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataset_helpers import DOCS, age, commit, write_file

from vaultline.catalog import cleanup, maintenance
from vaultline.catalog.datasets import (
    DatasetCatalog,
    DatasetError,
    DatasetNotFound,
    FileEntry,
    VersionVacuumed,
)
from vaultline.storage.locations import filesystem

DAY = 86400


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[DatasetCatalog]:
    opened = DatasetCatalog(catalog_url)
    yield opened
    opened.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_file(n: int, *, temporary: bool = False) -> str:
    """A name as a run's writer gives it (`{pipeline}-{run id}.parquet`, or its temporary)."""
    name = f"sales-20261201T0000{n:02d}Z-00000{n}.parquet"
    return f".{name}.tmp" if temporary else name


def test_vacuum_keeps_the_newest_versions_files_and_deletes_the_rest(
    catalog: DatasetCatalog, tmp_path: Path
) -> None:
    root = tmp_path / "out" / "sales"
    shared = write_file(root / "shared.parquet", b"shared by every version", rows=10)
    entries = [write_file(root / f"v{n}.parquet", f"version {n}".encode(), rows=n) for n in range(1, 6)]
    for entry in entries:
        commit(catalog, "sales", [shared, entry])  # each version: the shared file plus one of its own
    other = write_file(tmp_path / "out" / "other" / "o.parquet", b"another dataset")
    commit(catalog, "other", [other])

    dry = catalog.vacuum("sales", keep=2, dry_run=True)
    assert (dry.vacuumed, dry.files_deleted, dry.dry_run) == ([1, 2, 3], 3, True)
    assert all(Path(e.location).exists() for e in entries)  # a dry run deletes nothing
    assert [v.status for v in catalog.history("sales")] == ["committed"] * 5

    result = catalog.vacuum("sales", keep=2)
    assert (result.retained, result.vacuumed) == ([4, 5], [1, 2, 3])
    assert result.files_deleted == 3 and result.bytes_deleted == sum(e.bytes for e in entries[:3])
    assert [Path(e.location).exists() for e in entries] == [False, False, False, True, True]
    # retained files, the shared one and other datasets' files are intact, byte for byte
    for entry in (shared, entries[3], entries[4], other):
        assert _sha(Path(entry.location)) == entry.sha256
    with pytest.raises(VersionVacuumed):
        catalog.files("sales", 2)
    assert [f.location for f in catalog.files("sales", 4)] == sorted([shared.location, entries[3].location])

    again = catalog.vacuum("sales", keep=2)  # nothing left to do
    assert (again.vacuumed, again.files_deleted) == ([], 0)
    assert catalog.vacuum("sales", keep=1).vacuumed == [4]
    assert Path(shared.location).exists() and not Path(entries[3].location).exists()


def test_vacuum_never_deletes_a_file_another_dataset_references(
    catalog: DatasetCatalog, tmp_path: Path
) -> None:
    common = write_file(tmp_path / "common.parquet", b"referenced twice")
    commit(catalog, "a", [common])
    commit(catalog, "a", [write_file(tmp_path / "a2.parquet", b"a2")])
    commit(catalog, "b", [common])
    assert catalog.vacuum("a", keep=1).files_deleted == 0
    assert _sha(Path(common.location)) == common.sha256


def test_vacuum_arguments(catalog: DatasetCatalog, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match="no dataset named nope"):
        catalog.vacuum("nope", keep=1)
    commit(catalog, "sales", [write_file(tmp_path / "a.parquet", b"a")])
    with pytest.raises(DatasetError, match="keep at least 1 version, not 0"):
        catalog.vacuum("sales", keep=0)


def test_gc_collects_old_unreferenced_files_and_nothing_else(catalog: DatasetCatalog, tmp_path: Path) -> None:
    root = tmp_path / "out" / "sales"
    kept_old = write_file(root / _run_file(1), b"committed long ago")
    age(Path(kept_old.location), 10 * DAY)  # old, but referenced: never touched
    commit(catalog, "sales", [kept_old])
    crashed = root / _run_file(2)  # written by a run that died before committing
    crashed.write_bytes(b"uncommitted output")
    temp = root / _run_file(3, temporary=True)  # a crashed run's temp file
    temp.write_bytes(b"partial")
    fresh = root / _run_file(4)  # a run still in progress: within the grace period
    fresh.write_bytes(b"being written")
    unrelated = root / "notes.txt"  # not a kind of file any dataset holds
    unrelated.write_bytes(b"keep me")
    an_input = root / "transactions-2026-11.parquet"  # a source that shares the output directory
    an_input.write_bytes(b"raw input")
    below = root / "raw" / _run_file(5)  # a subdirectory: inputs, another catalog's outputs
    below.parent.mkdir()
    below.write_bytes(b"not this catalog's")
    hidden = root / ".vaultline" / "quarantine" / "q.parquet"
    hidden.parent.mkdir(parents=True)
    hidden.write_bytes(b"evidence")
    kept_keys = root / f"_KEY_MATERIAL_FOR_{_run_file(1)}.json"  # a committed file's key material
    kept_keys.write_bytes(b"{}")
    crashed_keys = root / f"_KEY_MATERIAL_FOR_{_run_file(2)}.json"  # goes with its data file
    crashed_keys.write_bytes(b"{}")
    for path in (crashed, temp, unrelated, an_input, below, hidden, kept_keys, crashed_keys):
        age(path, 2 * DAY)

    roots = catalog.roots()
    assert roots == [str(root)]
    dry = catalog.gc(roots, grace_seconds=DAY, dry_run=True)
    assert (dry.files_deleted, dry.bytes_deleted, dry.dry_run) == (3, len(b"uncommitted output") + 9, True)
    assert crashed.exists() and temp.exists()

    result = catalog.gc(roots, grace_seconds=DAY)
    assert (result.files_scanned, result.files_referenced, result.files_young) == (6, 2, 1)
    assert (result.files_deleted, result.bytes_deleted, result.files_failed) == (
        3,
        len(b"uncommitted output") + 9,
        0,
    )
    assert not crashed.exists() and not temp.exists() and not crashed_keys.exists()
    assert kept_keys.exists()
    assert _sha(Path(kept_old.location)) == kept_old.sha256
    assert all(path.exists() for path in (fresh, unrelated, an_input, below, hidden))

    # once the grace period has passed the in-progress file is collected too, if it was never committed
    assert catalog.gc(roots, grace_seconds=0).files_deleted == 1
    assert not fresh.exists() and Path(kept_old.location).exists()


def test_gc_skips_a_file_committed_while_it_was_scanning(
    catalog: DatasetCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "out"
    commit(catalog, "sales", [write_file(root / _run_file(1), b"a")])
    late = root / _run_file(2)
    late.write_bytes(b"committed during gc")
    age(late, 2 * DAY)
    real = maintenance._referenced_now

    def commit_first(catalog_: DatasetCatalog, locations: list[str]) -> set[str]:
        commit(catalog, "sales", [FileEntry(str(late), _sha(late), 1, late.stat().st_size)])
        return real(catalog_, locations)

    monkeypatch.setattr(maintenance, "_referenced_now", commit_first)
    result = catalog.gc(catalog.roots(), grace_seconds=DAY)
    assert result.files_deleted == 0 and late.exists()


def test_gc_after_a_vacuum_that_crashed_before_deleting(
    catalog: DatasetCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vacuum marks versions first and deletes after: files a crash left behind are unreferenced, so
    gc collects them (and never a committed version's file)."""
    entries = [write_file(tmp_path / "out" / _run_file(n), f"v{n}".encode()) for n in (1, 2)]
    for entry in entries:
        commit(catalog, "sales", [entry])
    with monkeypatch.context() as crash:
        crash.setattr(cleanup, "delete", lambda targets, *, dry_run: cleanup.Deletion())
        catalog.vacuum("sales", keep=1)
    assert Path(entries[0].location).exists()
    for entry in entries:
        age(Path(entry.location), 2 * DAY)
    assert catalog.gc(catalog.roots(), grace_seconds=DAY).files_deleted == 1
    assert not Path(entries[0].location).exists() and Path(entries[1].location).exists()


def test_gc_keeps_the_files_of_a_live_run_whatever_the_grace(
    catalog: DatasetCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gc --grace 1s` while a long run is writing: its files exist before its commit."""
    from vaultline.catalog.runs import RunCatalog

    root = tmp_path / "out"
    commit(catalog, "sales", [write_file(root / _run_file(1), b"a")])
    writing, crashed = root / _run_file(2), root / _run_file(3, temporary=True)
    for path in (writing, crashed):
        path.write_bytes(b"uncommitted")
        age(path, 2 * DAY)
    live = {"20261201T000002Z-000002"}
    result = catalog.gc(catalog.roots(), grace_seconds=0, live_runs=live)
    assert result.files_deleted == 1 and writing.exists() and not crashed.exists()
    with RunCatalog(catalog.url) as runs:
        runs.start("20261201T000004Z-000004", "sales", "0" * 64)  # this process: alive
        assert runs.live() == {"20261201T000004Z-000004"}
        runs.finish("20261201T000004Z-000004", {"status": "succeeded"})
        assert runs.live() == set()


def test_gc_rejects_a_negative_grace(catalog: DatasetCatalog) -> None:
    with pytest.raises(DatasetError, match="grace period"):
        catalog.gc([], grace_seconds=-1)


@pytest.mark.s3
def test_vacuum_and_gc_on_s3(catalog: DatasetCatalog, s3_bucket: str) -> None:
    fs = filesystem(f"s3://{s3_bucket}")
    root = f"s3://{s3_bucket}/out/sales"

    def put(name: str, content: bytes) -> FileEntry:
        location = f"{root}/{name}"
        fs.pipe(location, content)
        return FileEntry(location, hashlib.sha256(content).hexdigest(), 1, len(content))

    versions = [put(_run_file(n), f"version {n}".encode()) for n in range(1, 4)]
    for entry in versions:
        catalog.commit("sales", files=[entry], run_id=None, **DOCS)
    put(_run_file(4), b"never committed")
    put("input.parquet", b"a source in the output prefix")
    put(f"raw/{_run_file(5)}", b"below the output prefix")
    fs.pipe(f"s3://{s3_bucket}/out/sales_archive/{_run_file(6)}", b"a sibling prefix, not under the root")

    result = catalog.vacuum("sales", keep=1)
    assert (result.vacuumed, result.files_deleted) == ([1, 2], 2)
    assert [fs.exists(e.location) for e in versions] == [False, False, True]

    assert catalog.roots() == [root]
    young = catalog.gc(catalog.roots(), grace_seconds=3600)
    assert (young.files_deleted, young.files_young, young.files_referenced) == (0, 1, 1)
    swept = catalog.gc(catalog.roots(), grace_seconds=0)
    assert (swept.files_deleted, swept.bytes_deleted) == (1, len(b"never committed"))
    assert not fs.exists(f"{root}/{_run_file(4)}")
    assert fs.cat(versions[2].location) == b"version 3"
    assert fs.exists(f"{root}/input.parquet") and fs.exists(f"{root}/raw/{_run_file(5)}")
    assert fs.exists(f"s3://{s3_bucket}/out/sales_archive/{_run_file(6)}")


def test_roots_and_locations_are_normalised_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cleanup.normalize("out/./a.parquet") == str(tmp_path / "out" / "a.parquet")
    assert cleanup.normalize("file:///data/x/../a.parquet") == "/data/a.parquet"
    assert cleanup.normalize("s3://b/a//x/../y.parquet") == "s3://b/a//x/../y.parquet"  # keys are names
    # each directory once, nested ones too (a scan does not descend); the filesystem root never
    assert cleanup.dataset_directories(["/a/b", "/a", "/a/", "/", "s3://b/x/", "s3://b/x", "s3://"]) == [
        "/a",
        "/a/b",
        "s3://b/x",
    ]
    assert cleanup.written_by_a_run(f"s3://b/x/{_run_file(1)}")
    assert cleanup.written_by_a_run(f"/a/{_run_file(1, temporary=True)}")
    assert not cleanup.written_by_a_run("/a/sales-r1.parquet")
    assert not cleanup.written_by_a_run(f"/a/{_run_file(1)}.bak")
    assert cleanup.data_file_of(f"/a/_KEY_MATERIAL_FOR_{_run_file(1)}.json") == f"/a/{_run_file(1)}"
    assert cleanup.data_file_of(f"/a/{_run_file(1)}") == f"/a/{_run_file(1)}"
