"""Dataset commits, versions, history, references and their errors, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from dataset_helpers import DOCS, commit, fake_entry

from vaultline.catalog.datasets import (
    DatasetCatalog,
    DatasetError,
    DatasetNotFound,
    FileEntry,
    VersionConflict,
    VersionNotFound,
    VersionVacuumed,
    split_ref,
)
from vaultline.errors import CatalogError, RetryableError, VaultlineError

SECRET = "alice.secret@example.com"  # stands for a data value: must never appear in an error


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[DatasetCatalog]:
    opened = DatasetCatalog(catalog_url)
    yield opened
    opened.close()


def test_commits_number_versions_and_record_everything(catalog: DatasetCatalog) -> None:
    first = [fake_entry("/data/sales/a.parquet", rows=3), fake_entry("/data/sales/b.parquet", rows=4)]
    assert commit(catalog, "sales", first, run_id="r1", watermark={"updated_at": SECRET}) == 1
    assert commit(catalog, "sales", [fake_entry("/data/sales/c.parquet", rows=5)], run_id="r2") == 2
    assert commit(catalog, "other", [fake_entry("/data/other/a.parquet")]) == 1

    latest = catalog.latest("sales")
    assert (latest.version, latest.run_id, latest.row_count, latest.status) == (2, "r2", 5, "committed")
    v1 = catalog.version("sales", 1)
    assert v1.row_count == 7 and v1.watermark == {"updated_at": SECRET}
    for key in ("schema", "classifications", "protections", "encryption"):
        assert getattr(v1, key) == DOCS[key]
    assert catalog.files("sales", 1) == sorted(first, key=lambda f: f.location)
    assert [v.version for v in catalog.history("sales")] == [2, 1]
    assert [(s.name, s.latest_version, s.versions, s.retained, s.row_count) for s in catalog.list()] == [
        ("other", 1, 1, 1, 1),
        ("sales", 2, 2, 2, 5),
    ]
    assert catalog.referenced_locations("other") == {"/data/other/a.parquet"}
    assert len(catalog.referenced_locations()) == 4
    assert catalog.roots() == ["/data/other", "/data/sales"]


def test_the_watermark_value_never_shows_in_repr_or_as_dict(catalog: DatasetCatalog) -> None:
    commit(catalog, "sales", [fake_entry("/d/a.parquet")], watermark={"updated_at": SECRET})
    record = catalog.latest("sales")
    assert SECRET not in repr(record)
    assert SECRET not in json.dumps(record.as_dict())
    assert record.as_dict()["has_watermark"] is True


def test_relative_local_locations_are_stored_absolute(
    catalog: DatasetCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    commit(catalog, "sales", [fake_entry("out/sales/../sales/a.parquet")])
    (entry,) = catalog.files("sales", 1)
    assert entry.location == str(tmp_path / "out" / "sales" / "a.parquet")


def test_references(catalog: DatasetCatalog) -> None:
    commit(catalog, "sales", [fake_entry("/d/a.parquet")])
    commit(catalog, "sales", [fake_entry("/d/b.parquet")])
    assert catalog.parse_ref("sales") == ("sales", 2)
    assert catalog.parse_ref("sales@1") == ("sales", 1)
    assert split_ref("sales.v2-x") == ("sales.v2-x", None)
    for bad in ("", "@1", "sales@", "sales@0", "sales@-1", "sales@x", "sa les", "sales@1@2", "sales@²",
                "sales@99999999999999999999"):  # fmt: skip
        with pytest.raises(DatasetError, match="is not a dataset reference"):
            catalog.parse_ref(bad)

    with pytest.raises(VersionNotFound):
        catalog.parse_ref(f"sales@{2**31 - 1}")
    with pytest.raises(VersionNotFound) as missing_version:
        catalog.parse_ref("sales@7")
    assert "no version 7" in str(missing_version.value) and "versions: 1-2" in str(missing_version.value)

    with pytest.raises(DatasetNotFound) as missing_dataset:
        catalog.parse_ref("salez@1")
    assert "no dataset named salez" in str(missing_dataset.value)
    assert "known datasets: sales" in str(missing_dataset.value)


def test_unknown_names_in_an_empty_catalog(catalog: DatasetCatalog) -> None:
    assert catalog.list() == []
    for call in (lambda: catalog.latest("x"), lambda: catalog.history("x"), lambda: catalog.files("x", 1)):
        with pytest.raises(DatasetNotFound, match="no datasets yet"):
            call()


def test_expected_version_is_checked(catalog: DatasetCatalog) -> None:
    assert commit(catalog, "sales", [fake_entry("/d/a.parquet")], expected_version=0) == 1
    with pytest.raises(VersionConflict) as caught:
        commit(catalog, "sales", [fake_entry("/d/b.parquet")], expected_version=0)
    assert isinstance(caught.value, RetryableError)
    assert "at version 1, not the expected 0" in str(caught.value)
    assert commit(catalog, "sales", [fake_entry("/d/b.parquet")], expected_version=1) == 2
    # the conflicting commit wrote nothing
    assert [v.version for v in catalog.history("sales")] == [2, 1]
    assert catalog.referenced_locations() == {"/d/a.parquet", "/d/b.parquet"}


def test_a_concurrent_writer_that_took_the_version_is_a_conflict(
    catalog: DatasetCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the locking, the (dataset, version) key is the backstop: simulate a writer that read
    the latest version before another one committed."""
    commit(catalog, "sales", [fake_entry("/d/a.parquet")])
    monkeypatch.setattr(DatasetCatalog, "_latest_number", lambda self, conn, dataset: 0)
    with pytest.raises(VersionConflict, match="another writer committed version 1"):
        commit(catalog, "sales", [fake_entry("/d/b.parquet")], schema={"x": SECRET})
    monkeypatch.undo()
    assert [v.version for v in catalog.history("sales")] == [1]
    assert catalog.referenced_locations() == {"/d/a.parquet"}


def test_commit_with_retry_retries_only_when_allowed(
    catalog: DatasetCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit(catalog, "sales", [fake_entry("/d/a.parquet")])
    real = DatasetCatalog._latest_number
    stale = {"reads": 2}  # this many attempts read a stale latest version, as if another writer won

    def racing(self: DatasetCatalog, conn: sa.Connection, dataset: str) -> int | None:
        if stale["reads"] > 0:
            stale["reads"] -= 1
            return 0
        return real(self, conn, dataset)

    monkeypatch.setattr(DatasetCatalog, "_latest_number", racing)
    assert catalog.commit_with_retry("sales", files=[fake_entry("/d/b.parquet")], run_id="r", **DOCS) == 2

    stale["reads"] = 10
    with pytest.raises(VersionConflict):
        catalog.commit_with_retry("sales", files=[fake_entry("/d/c.parquet")], run_id="r", attempts=3, **DOCS)
    assert stale["reads"] == 7  # three attempts, then the conflict is raised

    monkeypatch.undo()
    with pytest.raises(VersionConflict):  # the caller built on version 1: no retry can fix that
        catalog.commit_with_retry(
            "sales", files=[fake_entry("/d/c.parquet")], run_id="r", expected_version=1, **DOCS
        )
    assert [v.version for v in catalog.history("sales")] == [2, 1]


@pytest.mark.parametrize(
    ("dataset", "files", "message"),
    [
        ("bad name", [], "not a valid dataset name"),
        ("x" * 129, [], "not a valid dataset name"),
        ("sales", [FileEntry("/d/a", "nothex", 1, 1)], "invalid sha256, rows or bytes"),
        ("sales", [FileEntry("/d/a", "0" * 64, -1, 1)], "invalid sha256, rows or bytes"),
        ("sales", [fake_entry("/d/a"), fake_entry("/d/./a")], "more than once"),
    ],
)
def test_invalid_commits_are_refused(
    catalog: DatasetCatalog, dataset: str, files: list[FileEntry], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        commit(catalog, dataset, files)
    assert catalog.list() == []


def test_errors_carry_no_values(catalog: DatasetCatalog, catalog_url: str) -> None:
    # A document that is not JSON: only the exception's type is reported, never the value.
    with pytest.raises(DatasetError) as not_json:
        commit(catalog, "sales", [fake_entry("/d/a")], watermark={"v": SECRET, "bad": {SECRET}})
    assert "watermark" in str(not_json.value) and "TypeError" in str(not_json.value)

    # A database failure: the driver's message (which quotes the statement's parameters) is dropped.
    commit(catalog, "sales", [fake_entry("/d/a")])
    engine = sa.create_engine(catalog_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE vaultline_dataset_files"))
    engine.dispose()
    with pytest.raises(CatalogError) as broken:
        commit(catalog, "sales", [fake_entry("/d/b")], schema={"customer": SECRET})
    with pytest.raises(CatalogError) as broken_read:
        catalog.files("sales", 1)

    for caught in (not_json, broken, broken_read):
        error: VaultlineError = caught.value
        assert SECRET not in str(error) and SECRET not in repr(error)
        assert error.__cause__ is None and error.__suppress_context__
    assert "ProgrammingError" in str(broken.value) or "OperationalError" in str(broken.value)


def test_a_vacuumed_version_reads_as_a_clear_error_but_stays_in_history(catalog: DatasetCatalog) -> None:
    for name in ("a", "b", "c"):
        commit(catalog, "sales", [fake_entry(f"/nonexistent/sales/{name}.parquet")])
    result = catalog.vacuum("sales", keep=2)
    assert (result.vacuumed, result.retained, result.files_missing) == ([1], [2, 3], 1)

    for call in (
        lambda: catalog.version("sales", 1),
        lambda: catalog.files("sales", 1),
        lambda: catalog.parse_ref("sales@1"),
    ):
        with pytest.raises(VersionVacuumed) as caught:
            call()
        assert "version 1 of dataset sales was vacuumed" in str(caught.value)
        assert "retained version (2-3)" in str(caught.value)
    assert catalog.version("sales", 1, include_vacuumed=True).status == "vacuumed"
    assert [(v.version, v.status) for v in catalog.history("sales")] == [
        (3, "committed"),
        (2, "committed"),
        (1, "vacuumed"),
    ]
    assert catalog.list()[0].retained == 2


def test_a_file_only_vacuumed_versions_held_cannot_be_committed_again(catalog: DatasetCatalog) -> None:
    commit(catalog, "sales", [fake_entry("/nonexistent/a.parquet")])
    commit(catalog, "sales", [fake_entry("/nonexistent/b.parquet")])
    catalog.vacuum("sales", keep=1)
    with pytest.raises(DatasetError, match="only vacuumed versions held"):
        commit(catalog, "sales", [fake_entry("/nonexistent/a.parquet")])
    # a file a retained version holds may be carried into the next version
    assert commit(catalog, "sales", [fake_entry("/nonexistent/b.parquet")]) == 3
