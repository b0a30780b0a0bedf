"""Each rule kind fires, and does not fire, on the runs (and reads) it is meant for."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from vaultline.monitor.access import unusual_access
from vaultline.monitor.evaluate import RunObservation, evaluate_run_rule
from vaultline.monitor.rules import AlarmRule, UnusualAccessRule

RULE: TypeAdapter[Any] = TypeAdapter(AlarmRule)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _seen(
    metrics: dict[str, float], *, report: dict[str, Any] | None = None, history: list[float] | None = None
) -> RunObservation:
    asked: list[tuple[str, int]] = []

    def trailing(name: str, window: int) -> list[float]:
        asked.append((name, window))
        return (history or [])[:window]

    return RunObservation("fraud", "run-7", report or {"status": "succeeded"}, metrics, trailing)


def test_job_failure() -> None:
    rule = RULE.validate_python({"kind": "job_failure", "name": "failed"})
    assert evaluate_run_rule(rule, _seen({"succeeded": 1.0})) is None
    message = evaluate_run_rule(rule, _seen({"succeeded": 0.0}, report={"status": "failed"}))
    assert message == "run run-7 of pipeline fraud ended with status failed"


def _quality(*results: tuple[str, str, bool]) -> dict[str, Any]:
    passed = sum(1 for *_, ok in results if ok)
    return {
        "quality": {
            "expectations": len(results), "passed": passed, "failed": len(results) - passed,
            "results": [{"name": n, "severity": s, "passed": ok} for n, s, ok in results],
        }
    }  # fmt: skip


def test_dq_breach_fires_on_failed_expectations_of_the_chosen_severities() -> None:
    default = RULE.validate_python({"kind": "dq_breach", "name": "dq"})
    only_fail = RULE.validate_python({"kind": "dq_breach", "name": "dq", "severities": ["fail"]})
    warned = _quality(("amount_range", "warn", False), ("id_unique", "fail", True))
    metrics = {"succeeded": 1.0, "dq_pass_rate": 0.5}
    message = evaluate_run_rule(default, _seen(metrics, report=warned))
    assert message == (
        "run run-7 of pipeline fraud: 1 data-quality expectation(s) of severity fail/warn failed "
        "(amount_range); dq_pass_rate=0.5000"
    )
    assert evaluate_run_rule(only_fail, _seen(metrics, report=warned)) is None
    clean = _quality(("amount_range", "warn", True), ("id_unique", "fail", True))
    assert evaluate_run_rule(default, _seen({"succeeded": 1.0}, report=clean)) is None
    assert evaluate_run_rule(default, _seen({"succeeded": 1.0}, report={})) is None  # no checks ran
    # A summary without per-expectation results still cannot hide a failure.
    summary = {"quality": {"expectations": 4, "passed": 3, "failed": 1}}
    assert "1 data-quality expectation(s) failed" in str(
        evaluate_run_rule(only_fail, _seen({}, report=summary))
    )


def test_anomaly_spike_against_the_trailing_mean() -> None:
    rule = RULE.validate_python(
        {"kind": "anomaly_spike", "name": "spike", "factor": 3, "window": 4, "min_runs": 3, "min_rate": 0.001}
    )
    history = [0.010, 0.012, 0.008, 0.010, 0.5]  # the 5th is outside the window of 4
    message = evaluate_run_rule(rule, _seen({"anomaly_rate": 0.05}, history=history))
    assert message == (
        "run run-7 of pipeline fraud: anomaly_rate=0.0500 is above 3 x the trailing mean 0.0100 of 4 "
        "succeeded run(s)"
    )
    assert evaluate_run_rule(rule, _seen({"anomaly_rate": 0.029}, history=history)) is None
    assert evaluate_run_rule(rule, _seen({"anomaly_rate": 0.05}, history=history[:2])) is None  # too few
    assert evaluate_run_rule(rule, _seen({}, history=history)) is None  # no anomaly step
    # Below the floor nothing fires, even against a trailing mean of 0.
    assert evaluate_run_rule(rule, _seen({"anomaly_rate": 0.0005}, history=[0.0] * 4)) is None
    assert evaluate_run_rule(rule, _seen({"anomaly_rate": 0.002}, history=[0.0] * 4)) is not None


def test_latency_bound_on_latency_or_duration() -> None:
    stale = RULE.validate_python({"kind": "latency", "name": "stale", "max_seconds": 3600})
    slow = RULE.validate_python(
        {"kind": "latency", "name": "slow", "metric": "duration_seconds", "max_seconds": 60}
    )
    metrics = {"latency_seconds": 7200.0, "duration_seconds": 12.5}
    assert evaluate_run_rule(stale, _seen(metrics)) == (
        "run run-7 of pipeline fraud: latency_seconds=7200.0 is above the bound of 3600s"
    )
    assert evaluate_run_rule(slow, _seen(metrics)) is None
    assert evaluate_run_rule(stale, _seen({"duration_seconds": 12.5})) is None  # latency unknown


def test_unusual_access_is_not_a_run_rule() -> None:
    rule = RULE.validate_python({"kind": "unusual_access", "name": "reads"})
    assert evaluate_run_rule(rule, _seen({"succeeded": 0.0})) is None


def _reads(principal: str, count: int, start: datetime, end: datetime, rng: random.Random) -> list[Any]:
    span = (end - start).total_seconds()
    return [(principal, start + timedelta(seconds=rng.uniform(1, span - 1))) for _ in range(count)]


def test_unusual_access_flags_a_principal_far_above_its_own_norm() -> None:
    rng = random.Random(5)
    rule = UnusualAccessRule.model_validate(
        {
            "kind": "unusual_access",
            "name": "reads",
            "window": "1d",
            "baseline": "14d",
            "factor": 3,
            "min_reads": 10,
        }
    )
    window_start, baseline_start = NOW - timedelta(days=1), NOW - timedelta(days=15)
    reads = (
        # analyst: 20 reads a day for two weeks, then 100 today: 5x the norm
        _reads("h-analyst", 280, baseline_start, window_start, rng)
        + _reads("h-analyst", 100, window_start, NOW, rng)
        # batch job: 50 a day, 55 today: normal
        + _reads("h-batch", 700, baseline_start, window_start, rng)
        + _reads("h-batch", 55, window_start, NOW, rng)
        # new principal with no history: 12 today, over the minimum count
        + _reads("h-new", 12, window_start, NOW, rng)
        # occasional reader: 9 today, under the minimum count
        + _reads("h-rare", 9, window_start, NOW, rng)
        # reads older than the baseline or in the future do not count
        + _reads("h-old", 500, NOW - timedelta(days=40), baseline_start, rng)
        + _reads("h-future", 50, NOW + timedelta(seconds=1), NOW + timedelta(hours=1), rng)
    )  # fmt: skip
    rng.shuffle(reads)
    findings = {f.principal: f for f in unusual_access(reads, now=NOW, rule=rule)}
    assert set(findings) == {"h-analyst", "h-new"}
    assert findings["h-analyst"].reads == 100 and findings["h-analyst"].norm == pytest.approx(20.0)
    assert findings["h-analyst"].threshold == pytest.approx(60.0)
    assert findings["h-new"].norm == 0.0 and findings["h-new"].threshold == 9


def test_unusual_access_scales_the_daily_norm_to_a_short_window() -> None:
    rng = random.Random(9)
    rule = UnusualAccessRule.model_validate(
        {
            "kind": "unusual_access",
            "name": "reads",
            "window": "1h",
            "baseline": "7d",
            "factor": 4,
            "min_reads": 5,
        }
    )
    window_start = NOW - timedelta(hours=1)
    # 48 reads a day = 2 an hour: 9 in the last hour is above 4 x 2, 7 is not
    history = _reads("h-a", 336, window_start - timedelta(days=7), window_start, rng)
    busy = history + _reads("h-a", 9, window_start, NOW, rng)
    calm = history + _reads("h-a", 7, window_start, NOW, rng)
    (finding,) = unusual_access(busy, now=NOW, rule=rule)
    assert finding.norm == pytest.approx(2.0) and finding.reads == 9
    assert unusual_access(calm, now=NOW, rule=rule) == []
