"""Stored run metrics in the Prometheus text exposition format, written by `prometheus_client`.

A custom collector over what the catalog holds: one gauge per metric (`vaultline_run_<name>`) labelled
`pipeline`, holding the value of that pipeline's newest observed run (an exposition is a snapshot: one
sample per series), `vaultline_run_last_recorded_timestamp_seconds` so a stale pipeline can be alerted
on, and the counter `vaultline_runs_total{pipeline,status}` over every run the catalog recorded.
Escaping of label values and help text is the client library's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from vaultline.catalog.metrics import RunMetrics
from vaultline.monitor.metrics import METRICS

PREFIX = "vaultline_run_"


class StoredMetricsCollector:
    """Yields the metric families of a fixed snapshot of stored metrics and run counts."""

    def __init__(self, newest: Sequence[RunMetrics], run_counts: Sequence[tuple[str, str, int]]) -> None:
        self.newest = newest
        self.run_counts = run_counts

    def collect(self) -> Iterable[Metric]:
        for spec in METRICS:
            gauge = GaugeMetricFamily(PREFIX + spec.name, spec.help, labels=["pipeline"])
            for record in self.newest:
                if spec.name in record.values:
                    gauge.add_metric([record.pipeline], record.values[spec.name])
            yield gauge
        recorded = GaugeMetricFamily(
            PREFIX + "last_recorded_timestamp_seconds",
            "When the newest observed run's metrics were recorded (Unix time).",
            labels=["pipeline"],
        )
        for record in self.newest:
            recorded.add_metric([record.pipeline], datetime.fromisoformat(record.recorded_at).timestamp())
        yield recorded
        runs = CounterMetricFamily(
            "vaultline_runs_total", "Runs recorded in the catalog, by status.", labels=["pipeline", "status"]
        )
        for pipeline, status, count in self.run_counts:
            runs.add_metric([pipeline, status], count)
        yield runs


def render_prometheus(records: Sequence[RunMetrics], run_counts: Sequence[tuple[str, str, int]]) -> str:
    """The exposition text for the newest record of each pipeline in `records` (newest first per pipeline)."""
    newest: dict[str, RunMetrics] = {}
    for record in records:
        newest.setdefault(record.pipeline, record)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoredMetricsCollector(list(newest.values()), run_counts))
    return generate_latest(registry).decode("utf-8")
