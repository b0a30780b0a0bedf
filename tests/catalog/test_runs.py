"""The run catalog on SQLite and on the PostgreSQL server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from vaultline.catalog.runs import ABANDONED, RunCatalog
from vaultline.errors import CatalogError


def _roundtrip(catalog: RunCatalog) -> None:
    pipeline = f"p-{uuid.uuid4().hex[:8]}"
    run_id = f"r-{uuid.uuid4().hex[:8]}"
    catalog.start(run_id, pipeline, "0" * 64)
    assert catalog.list(pipeline=pipeline)[0].status == "running"
    report = {"status": "succeeded", "rows": {"input": 3, "output": 2, "quarantined": 1}, "steps": []}
    catalog.finish(run_id, report)
    (record,) = catalog.list(pipeline=pipeline)
    assert (record.status, record.rows_in, record.rows_out, record.rows_quarantined) == ("succeeded", 3, 2, 1)
    assert catalog.report(run_id) == report
    with pytest.raises(CatalogError, match="no run with id"):
        catalog.report("missing")


def test_sqlite(tmp_path: Path) -> None:
    with RunCatalog(f"sqlite:///{tmp_path / 'c.db'}") as catalog:
        _roundtrip(catalog)


def _start_as_an_ended_process(catalog: RunCatalog, run_id: str, pipeline: str) -> None:
    """Start `run_id` as the process of a pid that has ended (killed, say) would have."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(os, "getpid", lambda: int(ended.stdout))
        catalog.start(run_id, pipeline, "0" * 64)


def test_runs_whose_process_is_gone_are_marked_abandoned(tmp_path: Path) -> None:
    with RunCatalog(f"sqlite:///{tmp_path / 'c.db'}") as catalog:
        catalog.start("live", "p", "0" * 64)  # this process: alive
        _start_as_an_ended_process(catalog, "killed", "p")
        assert catalog.abandon_dead() == ["killed"]
        statuses = {record.run_id: (record.status, record.error) for record in catalog.list()}
        assert statuses["live"] == ("running", None)
        assert statuses["killed"] == ("abandoned", ABANDONED)
        assert catalog.report("killed")["status"] == "abandoned"
        assert catalog.report("killed")["pipeline"] == "p"  # `runs show` names it
        assert catalog.abandon_dead() == []


def test_a_run_whose_process_id_was_given_to_another_process_is_abandoned(tmp_path: Path) -> None:
    from vaultline.catalog import runs

    with RunCatalog(f"sqlite:///{tmp_path / 'c.db'}") as catalog:
        with pytest.MonkeyPatch.context() as patched:  # recorded with a start long before this process's
            patched.setattr(runs, "process_start", lambda _pid: 1_000_000.0)
            catalog.start("killed", "p", "0" * 64)
        catalog.start("live", "p", "0" * 64)
        assert catalog.live() == {"live"}
        assert catalog.abandon_dead() == ["killed"]


def test_a_run_that_died_after_its_commit_is_committed_not_abandoned(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from vaultline.catalog.dataset_records import datasets, versions

    with RunCatalog(f"sqlite:///{tmp_path / 'c.db'}") as catalog:
        _start_as_an_ended_process(catalog, "killed-late", "fraud")
        with catalog.engine.begin() as conn:  # what its commit wrote before the process died
            conn.execute(sa.insert(datasets).values(name="features", created_at="2026-12-01T00:00:00Z"))
            conn.execute(
                sa.insert(versions).values(
                    dataset="features", version=3, run_id="killed-late", committed_at="2026-12-01T00:00:00Z",
                    row_count=5, schema="{}", classifications="{}", protections="{}", encryption="{}",
                    status="committed",
                )
            )  # fmt: skip
        assert catalog.abandon_dead() == ["killed-late"]
        (record,) = catalog.list()
        assert record.status == "committed" and "after committing features@3" in (record.error or "")
        report = catalog.report("killed-late")
        assert report["pipeline"] == "fraud" and report["datasets"] == {"features": 3}


def test_runs_that_ended_without_committing_are_failed_or_abandoned_and_named_by_no_version(
    catalog_url: str,
) -> None:
    import sqlalchemy as sa

    from vaultline.catalog.dataset_records import datasets, versions

    roots = {"landing_roots": ["/land"], "quarantine_root": "/q/p"}
    with RunCatalog(catalog_url) as catalog:
        for run_id, status in (("failed", "failed"), ("failed-after-commit", "failed"),
                               ("succeeded", "succeeded"), ("abandoned", "abandoned")):  # fmt: skip
            catalog.start(run_id, "p", "0" * 64, **roots)
            catalog.finish(run_id, {"status": status, **roots})
        catalog.start("live", "p", "0" * 64, **roots)  # this process: alive
        _start_as_an_ended_process(catalog, "killed", "p")
        with catalog.engine.begin() as conn:  # a commit that landed although the run then failed
            conn.execute(sa.insert(datasets).values(name="features", created_at="2026-12-01T00:00:00Z"))
            conn.execute(
                sa.insert(versions).values(
                    dataset="features", version=1, run_id="failed-after-commit",
                    committed_at="2026-12-01T00:00:00Z", row_count=5, schema="{}", classifications="{}",
                    protections="{}", encryption="{}", status="committed",
                )
            )  # fmt: skip
        ended = {run.run_id: run for run in catalog.ended_without_commit()}
        assert sorted(ended) == ["abandoned", "failed"]
        assert ended["failed"].landing_roots == ("/land",) and ended["failed"].quarantine_root == "/q/p"
        assert ended["failed"].ended_at is not None
        with_dead = {run.run_id: run for run in catalog.ended_without_commit(with_dead=True)}
        assert sorted(with_dead) == ["abandoned", "failed", "killed"] and with_dead["killed"].ended_at is None
        assert catalog.report("killed")["status"] == "running"  # counted, not marked


@pytest.mark.postgres
def test_postgres(postgres_url: str) -> None:
    with RunCatalog(postgres_url.replace("postgresql://", "postgresql+psycopg://")) as catalog:
        _roundtrip(catalog)


def test_unreachable_catalog_is_a_clear_retryable_error() -> None:
    from vaultline.catalog.schema import CatalogUnavailable

    with pytest.raises(CatalogUnavailable, match="could not be reached") as caught:
        RunCatalog("postgresql+psycopg://nobody:secretpw@127.0.0.1:1/none?connect_timeout=1")
    assert "secretpw" not in str(caught.value) and "***" in str(caught.value)
    assert caught.value.retryable


@pytest.mark.postgres
def test_a_catalog_server_that_refuses_the_role_is_not_retryable(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    server = url.split("@", 1)[1]
    with pytest.raises(CatalogError, match="cannot be opened") as caught:
        RunCatalog(f"postgresql+psycopg://vl_no_such_role@{server}")
    assert not caught.value.retryable
