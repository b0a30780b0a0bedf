"""Catalog migrations: fresh catalogs, catalogs created before migrations, idempotent upgrades,
concurrent first opens. Every test runs on SQLite and PostgreSQL (`catalog_url`)."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from dataset_helpers import open_entry

from vaultline.catalog import schema
from vaultline.catalog.runs import RunCatalog
from vaultline.catalog.schema import HEAD_REVISION, VERSION_TABLE, open_catalog, target_metadata
from vaultline.errors import CatalogError

# The runs table exactly as catalog/runs.py created it before migrations existed (frozen here on
# purpose: this is what catalog.db files in the field look like).
OLD = sa.MetaData()
OLD_RUNS = sa.Table(
    "vaultline_runs",
    OLD,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("pipeline", sa.String(128), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("spec_sha256", sa.String(64), nullable=False),
    sa.Column("rows_in", sa.BigInteger),
    sa.Column("rows_out", sa.BigInteger),
    sa.Column("rows_quarantined", sa.BigInteger),
    sa.Column("error", sa.Text),
    sa.Column("report", sa.Text),
)


def _revisions(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")))


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return list(compare_metadata(context, target_metadata()))


def test_fresh_catalog_is_migrated_to_head_and_matches_the_table_definitions(catalog_url: str) -> None:
    engine = open_catalog(catalog_url)
    try:
        assert _revisions(engine) == [HEAD_REVISION] == ["0004"]
        # The migrations create exactly what runs.py and datasets.py define (columns, types, indexes, keys).
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_head_revision_is_the_newest_migration() -> None:
    assert schema._script().get_heads() == [HEAD_REVISION]


def test_opening_a_catalog_at_head_does_not_import_alembic(catalog_url: str) -> None:
    open_catalog(catalog_url).dispose()
    opened = subprocess.run(
        [sys.executable, "-c",
         "import sys\n"
         "from vaultline.catalog.runs import RunCatalog\n"
         f"RunCatalog({catalog_url!r}).list()\n"
         "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert opened.stdout.strip() == "[]"


def test_an_old_runs_only_catalog_is_stamped_not_recreated(catalog_url: str) -> None:
    old = sa.create_engine(catalog_url)
    OLD.create_all(old)
    with old.begin() as conn:
        conn.execute(
            OLD_RUNS.insert().values(
                run_id="r-old", pipeline="p", status="succeeded", started_at="2024-01-01T00:00:00+00:00",
                spec_sha256="0" * 64, rows_in=5, report='{"status": "succeeded"}',
            )
        )  # fmt: skip
    old.dispose()

    catalog = RunCatalog(catalog_url)
    try:
        (record,) = catalog.list()
        assert (record.run_id, record.rows_in) == ("r-old", 5)
        assert catalog.report("r-old") == {"status": "succeeded"}
        assert _revisions(catalog.engine) == [HEAD_REVISION]
        assert _differences(catalog.engine) == []
    finally:
        catalog.close()


def test_upgrade_is_idempotent_and_an_up_to_date_catalog_is_not_upgraded_again(
    catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_catalog(catalog_url).dispose()

    def no_upgrade(*_args: object) -> None:
        raise AssertionError("an up-to-date catalog must not be upgraded")

    monkeypatch.setattr(schema, "_upgrade", no_upgrade)
    engine = open_catalog(catalog_url)
    monkeypatch.undo()
    # An explicit second upgrade under the lock finds nothing to do and changes nothing.
    schema._upgrade(engine, catalog_url)
    assert _revisions(engine) == [HEAD_REVISION]
    assert _differences(engine) == []
    engine.dispose()


def test_downgrade_then_reopen_upgrades_again(catalog_url: str) -> None:
    engine = open_catalog(catalog_url)
    with engine.begin() as conn:
        config = schema._alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert not sa.inspect(engine).has_table("vaultline_datasets")
    assert sa.inspect(engine).has_table("vaultline_runs")
    engine.dispose()
    engine = open_catalog(catalog_url)
    assert _revisions(engine) == [HEAD_REVISION]
    engine.dispose()


def test_concurrent_first_opens_of_a_fresh_catalog(catalog_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(3)
    workers = [spawn.Process(target=open_entry, args=(catalog_url, barrier)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    engine = open_catalog(catalog_url)
    assert _revisions(engine) == [HEAD_REVISION]
    assert _differences(engine) == []
    engine.dispose()


def test_a_catalog_from_a_newer_vaultline_is_refused(catalog_url: str) -> None:
    engine = open_catalog(catalog_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(CatalogError, match="schema revision 9999, unknown to this Vaultline") as caught:
        open_catalog(catalog_url)
    assert "upgrade Vaultline" in str(caught.value)


def test_a_foreign_runs_table_is_not_stamped(catalog_url: str) -> None:
    engine = sa.create_engine(catalog_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE vaultline_runs (id INTEGER PRIMARY KEY, what TEXT)"))
    engine.dispose()
    with pytest.raises(CatalogError, match="did not create") as caught:
        open_catalog(catalog_url)
    assert "missing columns: error, finished_at" in str(caught.value) and "unexpected: id, what" in str(
        caught.value
    )


def test_sqlite_uses_wal_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = open_catalog(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == schema.BUSY_TIMEOUT_SECONDS * 1000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_an_unopenable_catalog_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot be opened") as caught:
        open_catalog(f"sqlite:///{tmp_path / 'missing-dir' / 'c.db'}")
    assert "VAULTLINE_CATALOG_URL" in str(caught.value)
