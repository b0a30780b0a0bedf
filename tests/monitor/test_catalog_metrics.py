"""Stored metrics and alarm events, on SQLite and PostgreSQL: newest runs per pipeline, trailing values
of succeeded runs, run counts by status, alarm records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from vaultline.catalog.metrics import (
    AlarmEvent,
    Delivery,
    last_fired,
    list_alarms,
    recent_run_metrics,
    record_alarm,
    runs_by_status,
    store_run_metrics,
    trailing_values,
)
from vaultline.catalog.runs import RunCatalog
from vaultline.catalog.schema import open_catalog


@pytest.fixture
def engine(catalog_url: str) -> Iterator[sa.Engine]:
    engine = open_catalog(catalog_url)
    yield engine
    engine.dispose()


def _store(engine: sa.Engine, url: str, pipeline: str, index: int, **values: float) -> None:
    store_run_metrics(
        engine, url, run_id=f"{pipeline}-{index:02d}", pipeline=pipeline, values={"succeeded": 1.0, **values},
        recorded_at=f"2026-01-01T00:{index:02d}:00.000+00:00",
    )  # fmt: skip


def test_newest_runs_per_pipeline(engine: sa.Engine, catalog_url: str) -> None:
    for index in range(5):
        _store(engine, catalog_url, "fraud", index, anomaly_rate=index / 100)
    for index in range(2):
        _store(engine, catalog_url, "health", index, duration_seconds=10.0 + index)
    newest = recent_run_metrics(engine, catalog_url, last=2)
    assert [(r.pipeline, r.run_id) for r in newest] == [
        ("fraud", "fraud-04"), ("fraud", "fraud-03"), ("health", "health-01"), ("health", "health-00"),
    ]  # fmt: skip
    assert newest[0].values == {"succeeded": 1.0, "anomaly_rate": 0.04}
    (only,) = recent_run_metrics(engine, catalog_url, pipeline="health")
    assert only.run_id == "health-01" and only.values["duration_seconds"] == 11.0
    assert recent_run_metrics(engine, catalog_url, pipeline="nothing") == []


def test_storing_a_run_again_replaces_its_metrics(engine: sa.Engine, catalog_url: str) -> None:
    _store(engine, catalog_url, "fraud", 1, anomaly_rate=0.5, latency_seconds=3.0)
    _store(engine, catalog_url, "fraud", 1, anomaly_rate=0.25)
    (record,) = recent_run_metrics(engine, catalog_url)
    assert record.values == {"succeeded": 1.0, "anomaly_rate": 0.25}


def test_trailing_values_skip_failed_runs_and_the_current_one(engine: sa.Engine, catalog_url: str) -> None:
    for index in range(6):
        _store(engine, catalog_url, "fraud", index, anomaly_rate=index / 100)
    store_run_metrics(
        engine, catalog_url, run_id="fraud-06", pipeline="fraud",
        values={"succeeded": 0.0, "anomaly_rate": 0.9}, recorded_at="2026-01-01T00:06:00.000+00:00",
    )  # fmt: skip
    _store(engine, catalog_url, "other", 9, anomaly_rate=0.7)
    _store(engine, catalog_url, "fraud", 7)  # succeeded, no anomaly step: skipped
    trailing = trailing_values(
        engine, catalog_url, pipeline="fraud", name="anomaly_rate", window=3, excluding_run="fraud-05"
    )
    assert trailing == [0.04, 0.03, 0.02]


def test_runs_are_counted_by_status(engine: sa.Engine, catalog_url: str) -> None:
    with RunCatalog(catalog_url) as runs:
        for index, status in enumerate(["succeeded", "succeeded", "failed"]):
            runs.start(f"r{index}", "fraud", "0" * 64)
            runs.finish(f"r{index}", {"status": status})
        runs.start("r9", "health", "0" * 64)
    assert runs_by_status(engine, catalog_url) == [
        ("fraud", "failed", 1), ("fraud", "succeeded", 2), ("health", "running", 1)
    ]  # fmt: skip
    assert runs_by_status(engine, catalog_url, pipeline="health") == [("health", "running", 1)]


def test_alarms_are_recorded_with_their_deliveries(engine: sa.Engine, catalog_url: str) -> None:
    first = AlarmEvent(
        id="1" * 32, rule="failed", kind="job_failure", severity="critical", message="run r1 failed",
        fired_at="2026-01-01T00:00:00.000+00:00", pipeline="fraud", run_id="r1",
        deliveries=(
            Delivery("terminal", "delivered", 1), Delivery("webhook:127.0.0.1:9", "failed", 4, "HTTP 500")
        ),
    )  # fmt: skip
    second = AlarmEvent(
        id="2" * 32, rule="reads", kind="unusual_access", severity="warning", message="principal h1 read...",
        fired_at="2026-01-02T00:00:00.000+00:00", pipeline="claims", subject="h1",
    )  # fmt: skip
    record_alarm(engine, catalog_url, first)
    record_alarm(engine, catalog_url, second)
    assert list_alarms(engine, catalog_url) == [second, first]
    assert list_alarms(engine, catalog_url, pipeline="fraud") == [first]
    assert list_alarms(engine, catalog_url, rule="reads", last=1) == [second]
    assert last_fired(engine, catalog_url, rule="reads", pipeline="claims", subject="h1") == second.fired_at
    assert last_fired(engine, catalog_url, rule="reads", pipeline="claims", subject="h2") is None
    assert last_fired(engine, catalog_url, rule="reads", pipeline="fraud", subject="h1") is None
