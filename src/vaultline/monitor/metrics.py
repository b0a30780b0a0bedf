"""The metrics of one run, computed from its report (and the modification times of its input files).

Every metric is a number derived from counts, timings and fitted rates in the report, never from data.
A metric the report cannot support (no quality checks ran, no anomaly step, a failed run that read
nothing) is absent rather than 0, so means and alarms are not dragged down by runs that could not
measure it.

`latency_seconds` is how stale the data was when it became available: the run's finish time minus the
newest modification time among its input files (local mtime, S3 LastModified). The times are read when
the run is observed, right after it finishes; a file modified after the run started no longer shows
the time the run saw, so the metric is left out for that run, as it is for sources without files
(PostgreSQL).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("vaultline.monitor")


@dataclass(frozen=True)
class MetricSpec:
    """A stored metric: its name, CloudWatch unit and one-line meaning (Prometheus HELP)."""

    name: str
    unit: str
    help: str


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("duration_seconds", "Seconds", "Wall time of the run."),
    MetricSpec("rows_input", "Count", "Rows read from the sources."),
    MetricSpec("rows_output", "Count", "Rows written to the outputs."),
    MetricSpec("rows_quarantined", "Count", "Rows sent to quarantine."),
    MetricSpec("quarantine_rate", "None", "Quarantined rows / input rows."),
    MetricSpec("dq_pass_rate", "None", "Passed data-quality expectations / expectations checked."),
    MetricSpec("anomaly_rate", "None", "Rows flagged by the anomaly step / rows scored."),
    MetricSpec("latency_seconds", "Seconds", "Run finish minus the newest input file's modification time."),
    MetricSpec("succeeded", "Count", "1 when the run succeeded, else 0."),
    MetricSpec("bytes_output", "Bytes", "Bytes written to the outputs."),
)
METRIC_NAMES = tuple(spec.name for spec in METRICS)


def compute_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The run's metrics, by name (see `METRICS`); absent names could not be measured for this run."""
    values: dict[str, float] = {"succeeded": 1.0 if report.get("status") == "succeeded" else 0.0}
    if isinstance(report.get("seconds"), int | float):
        values["duration_seconds"] = float(report["seconds"])
    values.update(_row_metrics(report.get("rows") or {}))
    quality = report.get("quality") or {}
    if quality.get("expectations"):
        values["dq_pass_rate"] = quality.get("passed", 0) / quality["expectations"]
    anomaly = report.get("anomaly") or {}
    if isinstance(anomaly.get("flagged_rate"), int | float):
        values["anomaly_rate"] = float(anomaly["flagged_rate"])
    if report.get("status") != "succeeded":
        # a run that failed (at its commit, say) made no data available, and removed what it wrote
        return values
    outputs = report.get("outputs")
    if outputs:
        values["bytes_output"] = float(sum(output.get("bytes") or 0 for output in outputs))
    latency = input_latency(report)
    if latency is not None:
        values["latency_seconds"] = latency
    return values


def _row_metrics(rows: dict[str, Any]) -> dict[str, float]:
    if "input" not in rows:
        return {}
    values = {
        "rows_input": float(rows["input"]),
        "rows_output": float(rows.get("output", 0)),
        "rows_quarantined": float(rows.get("quarantined", 0)),
    }
    if rows["input"]:
        values["quarantine_rate"] = values["rows_quarantined"] / values["rows_input"]
    return values


def input_latency(report: dict[str, Any]) -> float | None:
    """Seconds from the newest input file's modification to the run's finish, when it can be known."""
    locations = [item["location"] for item in report.get("inputs") or [] if item.get("location")]
    if not locations or "finished_at" not in report or "started_at" not in report:
        return None
    modified = [_modified(location) for location in locations]
    if any(time is None for time in modified):
        return None
    newest = max(time for time in modified if time is not None)
    if newest > datetime.fromisoformat(report["started_at"]):
        log.info("latency not recorded: an input of run %s changed after it started", report.get("run_id"))
        return None
    return (datetime.fromisoformat(report["finished_at"]) - newest).total_seconds()


def _modified(location: str) -> datetime | None:
    """The file's modification time (UTC), or None when it is not a file that has one (or is gone)."""
    from vaultline.storage import locations

    if not (locations.is_remote(location) or os.path.isabs(location)):
        return None  # a database source: its "location" names a table or query, not a file
    try:
        stamp = locations.filesystem(location).modified(location)
    except (OSError, NotImplementedError, ValueError):
        return None
    if not isinstance(stamp, datetime):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
