"""Unusual data access: a principal reading datasets far above its own norm.

`unusual_access` is a pure function over (principal hash, time) pairs; `dataset_reads` adapts the audit
log's `dataset.read` entries to it. Principals are the audit log's keyed hashes throughout: no clear
identity is ever read, compared or reported here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from vaultline.monitor.rules import UnusualAccessRule
from vaultline.state import State


@dataclass(frozen=True)
class AccessFinding:
    """A principal whose reads in the window exceed the rule's threshold."""

    principal: str
    reads: int
    """Reads in the window."""
    norm: float
    """The principal's mean reads per day over the baseline, scaled to the window's length."""
    threshold: float
    """The count the reads exceeded: max(factor x norm, min_reads - 1)."""


def unusual_access(
    reads: Iterable[tuple[str, datetime]], *, now: datetime, rule: UnusualAccessRule
) -> list[AccessFinding]:
    """Principals with at least `min_reads` reads in `(now - window, now]`, more than `factor` x their
    norm: their reads in `[now - window - baseline, now - window)` per day, scaled to the window."""
    window_start = now - rule.window
    baseline_start = window_start - rule.baseline
    recent: Counter[str] = Counter()
    before: Counter[str] = Counter()
    for principal, time in reads:
        if window_start < time <= now:
            recent[principal] += 1
        elif baseline_start <= time <= window_start:
            before[principal] += 1
    scale = rule.window / rule.baseline
    findings = []
    for principal, count in sorted(recent.items()):
        norm = before[principal] * scale
        threshold = max(rule.factor * norm, rule.min_reads - 1)
        if count > threshold:
            findings.append(AccessFinding(principal, count, norm, threshold))
    return findings


def dataset_reads(state: State, since: datetime) -> Iterator[tuple[str, datetime]]:
    """(principal hash, time) of every dataset read in the audit log since `since`. A read logged as an
    intent and then an outcome shares one `operation` id and is counted once."""
    from vaultline.audit import AuditLog

    operations: set[str] = set()
    with AuditLog.open(state) as log:
        for entry in log.entries(action="dataset.read", since=since):
            if entry.operation is not None:
                if entry.operation in operations:
                    continue
                operations.add(entry.operation)
            yield entry.principal, _utc(datetime.fromisoformat(entry.time))


def _utc(time: datetime) -> datetime:
    return time if time.tzinfo else time.replace(tzinfo=UTC)
