"""Decide which run rules fire for a finished run. Pure: the catalog is reached only through `trailing`.

Each evaluator returns the alarm's message, or None when its rule does not fire. Messages name the
pipeline, the run, the rule's metric values and bounds: never a data value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vaultline.monitor.rules import AnomalySpikeRule, DqBreachRule, JobFailureRule, LatencyRule


@dataclass(frozen=True)
class RunObservation:
    """What the run rules look at: the run's report, its computed metrics and the pipeline's history."""

    pipeline: str
    run_id: str
    report: dict[str, Any]
    metrics: dict[str, float]
    trailing: Callable[[str, int], list[float]]
    """(metric name, n) -> that metric of the pipeline's n newest succeeded runs before this one."""

    def where(self) -> str:
        return f"run {self.run_id} of pipeline {self.pipeline}"


def job_failure(rule: JobFailureRule, seen: RunObservation) -> str | None:
    if seen.metrics.get("succeeded") == 1.0:
        return None
    # The status is one of the runner's own words (failed, ...), never text from the data.
    return f"{seen.where()} ended with status {seen.report.get('status', 'unknown')}"


def dq_breach(rule: DqBreachRule, seen: RunObservation) -> str | None:
    """Failed expectations are read from `report["quality"]["results"]` (`name`, `severity`, `passed`,
    as the `expect` step writes them); a quality summary without results counts its `failed`
    expectations as breaches of unknown severity, so a breach is never missed."""
    quality = seen.report.get("quality") or {}
    results = quality.get("results")
    if results is None:
        failed = int(quality.get("failed") or 0)
        if not failed:
            return None
        return f"{seen.where()}: {failed} data-quality expectation(s) failed{_pass_rate(seen)}"
    breached = [r for r in results if not r.get("passed") and r.get("severity") in rule.severities]
    if not breached:
        return None
    names = ", ".join(sorted(str(r.get("name")) for r in breached))
    return (
        f"{seen.where()}: {len(breached)} data-quality expectation(s) of severity "
        f"{'/'.join(rule.severities)} failed ({names}){_pass_rate(seen)}"
    )


def _pass_rate(seen: RunObservation) -> str:
    rate = seen.metrics.get("dq_pass_rate")
    return "" if rate is None else f"; dq_pass_rate={rate:.4f}"


def anomaly_spike(rule: AnomalySpikeRule, seen: RunObservation) -> str | None:
    rate = seen.metrics.get("anomaly_rate")
    if rate is None or rate <= rule.min_rate:
        return None
    history = seen.trailing("anomaly_rate", rule.window)
    if len(history) < rule.min_runs:
        return None
    mean = sum(history) / len(history)
    if rate <= rule.factor * mean:
        return None
    return (
        f"{seen.where()}: anomaly_rate={rate:.4f} is above {rule.factor:g} x the trailing mean "
        f"{mean:.4f} of {len(history)} succeeded run(s)"
    )


def latency(rule: LatencyRule, seen: RunObservation) -> str | None:
    value = seen.metrics.get(rule.metric)
    if value is None or value <= rule.max_seconds:
        return None
    return f"{seen.where()}: {rule.metric}={value:.1f} is above the bound of {rule.max_seconds:g}s"


RUN_EVALUATORS: tuple[tuple[str, Callable[[Any, RunObservation], str | None]], ...] = (
    ("job_failure", job_failure),
    ("dq_breach", dq_breach),
    ("anomaly_spike", anomaly_spike),
    ("latency", latency),
)
_BY_KIND = dict(RUN_EVALUATORS)


def evaluate_run_rule(rule: Any, seen: RunObservation) -> str | None:
    """The message of `rule` for this run, or None when it does not fire (or is not a run rule)."""
    evaluator = _BY_KIND.get(rule.kind)
    return None if evaluator is None else evaluator(rule, seen)
