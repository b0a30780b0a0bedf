"""Optimistic concurrency: writers racing on one dataset, as threads and as processes, on SQLite and
PostgreSQL. Every commit must land exactly once and versions must run 1..N without gaps."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from dataset_helpers import commit, fake_entry, process_entry, race_worker

from vaultline.catalog.datasets import DatasetCatalog, VersionConflict

WRITERS = 3
COMMITS = 6


def _check_every_commit_landed_once(url: str, dataset: str) -> None:
    catalog = DatasetCatalog(url)
    try:
        history = catalog.history(dataset)
        expected_runs = {f"w{w}-{n}" for w in range(WRITERS) for n in range(COMMITS)}
        assert sorted(v.version for v in history) == list(range(1, WRITERS * COMMITS + 1))
        assert sorted(v.run_id or "" for v in history) == sorted(expected_runs)
        for record in history:
            # each version holds exactly the file its own run wrote
            (entry,) = catalog.files(dataset, record.version)
            assert entry.location == f"/data/{dataset}/{record.run_id}.parquet"
            assert record.row_count == int((record.run_id or "").rsplit("-", 1)[1]) + 1
        assert len(catalog.referenced_locations(dataset)) == WRITERS * COMMITS
    finally:
        catalog.close()


@pytest.mark.parametrize("mode", ["retry", "optimistic"])
def test_threads_racing(catalog_url: str, mode: str) -> None:
    DatasetCatalog(catalog_url).close()  # the threads race on commits, not on creating the schema
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            race_worker(catalog_url, "sales", f"w{writer}", COMMITS, mode, barrier)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    _check_every_commit_landed_once(catalog_url, "sales")


@pytest.mark.parametrize("mode", ["retry", "optimistic"])
def test_processes_racing_on_a_fresh_catalog(catalog_url: str, mode: str) -> None:
    # Spawned, not forked: a forked child would inherit the parent's pooled connections and threads.
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(WRITERS)
    workers = [
        spawn.Process(target=process_entry, args=(catalog_url, "sales", f"w{w}", COMMITS, mode, barrier))
        for w in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    assert [w.exitcode for w in workers] == [0] * WRITERS
    _check_every_commit_landed_once(catalog_url, "sales")


def test_writers_that_read_the_same_version_conflict_exactly_once_per_round(catalog_url: str) -> None:
    """Both writers read the latest version, wait for each other, then commit on top of it: in each
    round exactly one wins and the other gets VersionConflict (the race, made deterministic)."""
    DatasetCatalog(catalog_url).close()
    rounds = 5
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        catalog = DatasetCatalog(catalog_url)
        try:
            for n in range(rounds):
                barrier.wait()
                latest = n  # every previous round landed exactly one version
                assert (catalog.latest("hot").version if n else 0) == latest
                barrier.wait()
                try:
                    commit(
                        catalog, "hot", [fake_entry(f"/data/hot/{name}-{n}.parquet")], expected_version=latest
                    )
                    outcomes.append("won")
                except VersionConflict:
                    outcomes.append("conflict")
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            catalog.close()

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(outcomes) == ["conflict"] * rounds + ["won"] * rounds
    catalog = DatasetCatalog(catalog_url)
    assert sorted(v.version for v in catalog.history("hot")) == list(range(1, rounds + 1))
    catalog.close()
