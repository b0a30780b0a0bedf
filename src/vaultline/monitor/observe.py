"""The lead's two entry points: observe a finished run, and check dataset reads for unusual access.

Both store what fired in `vaultline_alarm_events` with the outcome of every delivery and return the
events. Delivery never raises; a catalog that cannot be written raises its VaultlineError (the run's own
record lives in the same catalog, so the run has already failed to record itself by then).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa

from vaultline.catalog.metrics import (
    AlarmEvent,
    last_fired,
    record_alarm,
    store_run_metrics,
    trailing_values,
)
from vaultline.keys.secret import SecretBytes
from vaultline.monitor.deliver import KeySource, deliver
from vaultline.monitor.evaluate import RunObservation, evaluate_run_rule
from vaultline.monitor.metrics import compute_metrics
from vaultline.monitor.rules import RUN_RULE_KINDS, UnusualAccessRule
from vaultline.spec.models import Pipeline
from vaultline.state import State


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(time: datetime) -> str:
    return time.isoformat(timespec="milliseconds")


def key_source(state: State) -> KeySource:
    """Derives delivery keys through the state's key provider, opened only if a target needs a key."""
    from vaultline.keys.provider import KeyRef
    from vaultline.keys.providers import open_provider

    provider = cache(lambda: open_provider(state.root))

    def derive(ref: str, context: str) -> SecretBytes:
        key, _version = provider().derive(KeyRef.parse(ref), context=context)
        return key

    return derive


def observe_run(state: State, pipeline: Pipeline, report: dict[str, Any]) -> list[AlarmEvent]:
    """Compute and store the run's metrics, evaluate the pipeline's run rules (job_failure, dq_breach,
    anomaly_spike, latency), deliver and record each alarm that fired, and return them."""
    from vaultline.catalog.schema import open_catalog

    url = state.catalog_url
    engine = open_catalog(url)
    try:
        run_id = str(report["run_id"])
        metrics = compute_metrics(report)
        store_run_metrics(
            engine, url, run_id=run_id, pipeline=pipeline.name, values=metrics, recorded_at=_iso(_now())
        )
        seen = RunObservation(
            pipeline=pipeline.name, run_id=run_id, report=report, metrics=metrics,
            trailing=lambda name, window: trailing_values(
                engine, url, pipeline=pipeline.name, name=name, window=window, excluding_run=run_id
            ),
        )  # fmt: skip
        keys = key_source(state)
        events = []
        for rule in pipeline.alarms:
            message = evaluate_run_rule(rule, seen) if rule.kind in RUN_RULE_KINDS else None
            if message is not None:
                events.append(_fire(engine, url, rule, message, keys, pipeline=pipeline.name, run_id=run_id))
        return events
    finally:
        engine.dispose()


def check_access(state: State, rules: Sequence[Any], *, pipeline: str) -> list[AlarmEvent]:
    """Evaluate `pipeline`'s `unusual_access` rules among `rules` over the audit log's dataset reads. A
    rule fires at most once per principal per window: a principal still over its threshold on the next
    read is not alarmed again until the window after the last alarm has passed. (Rule names are unique
    within a pipeline: another pipeline's rule of the same name is another rule.)"""
    from vaultline.catalog.schema import open_catalog
    from vaultline.monitor.access import dataset_reads, unusual_access

    access_rules = [rule for rule in rules if isinstance(rule, UnusualAccessRule)]
    if not access_rules:
        return []
    now = _now()
    reads = list(dataset_reads(state, now - max(rule.window + rule.baseline for rule in access_rules)))
    url = state.catalog_url
    engine = open_catalog(url)
    try:
        keys = key_source(state)
        events = []
        for rule in access_rules:
            for finding in unusual_access(reads, now=now, rule=rule):
                if _alarmed_within(engine, url, rule, pipeline=pipeline, subject=finding.principal, now=now):
                    continue
                message = (
                    f"principal {finding.principal} read datasets {finding.reads} times in the last "
                    f"{_period(rule.window)}, above {rule.factor:g} x its norm of {finding.norm:.1f} for "
                    f"that period (alarms from {rule.min_reads} reads)"
                )
                events.append(
                    _fire(engine, url, rule, message, keys, pipeline=pipeline, subject=finding.principal)
                )
        return events
    finally:
        engine.dispose()


def _alarmed_within(
    engine: sa.Engine, url: str, rule: UnusualAccessRule, *, pipeline: str, subject: str, now: datetime
) -> bool:
    fired = last_fired(engine, url, rule=rule.name, pipeline=pipeline, subject=subject)
    return fired is not None and datetime.fromisoformat(fired) > now - rule.window


def _period(length: Any) -> str:
    seconds = int(length.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _fire(
    engine: sa.Engine, url: str, rule: Any, message: str, keys: KeySource, *,
    pipeline: str | None = None, run_id: str | None = None, subject: str | None = None,
) -> AlarmEvent:  # fmt: skip
    event = AlarmEvent(
        id=uuid.uuid4().hex, rule=rule.name, kind=rule.kind, severity=rule.severity, message=message,
        fired_at=_iso(_now()), pipeline=pipeline, run_id=run_id, subject=subject,
    )  # fmt: skip
    event = replace(event, deliveries=deliver(event, rule.notify, keys))
    record_alarm(engine, url, event)
    return event
