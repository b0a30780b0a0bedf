"""Per-run metrics and the alarms they fired.

The migration `0003_governance` creates the tables; the functions below read and write them. Metrics are
numbers under names (`duration_seconds`, `quarantine_rate`...), alarm messages are value-free text, and
an alarm's `subject` is a keyed hash (the principal of an unusual-access alarm), so nothing here can
hold a data value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from vaultline.catalog.schema import catalog_failure, for_writing, reading

metadata = sa.MetaData()
run_metrics = sa.Table(
    "vaultline_run_metrics",
    metadata,
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.PrimaryKeyConstraint("run_id", "name", name="pk_vaultline_run_metrics"),
    sa.Index("ix_vaultline_run_metrics_pipeline", "pipeline", "name"),
)
alarm_events = sa.Table(
    "vaultline_alarm_events",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("pipeline", sa.String(128)),
    sa.Column("subject", sa.String(128)),
    sa.Column("rule", sa.String(128), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("delivered", sa.Text, nullable=False),
    sa.Column("fired_at", sa.String(40), nullable=False),
)

# Written for every observed run (1 or 0), so it marks which runs have metrics at all.
ANCHOR_METRIC = "succeeded"


@dataclass(frozen=True)
class RunMetrics:
    """The metrics stored for one run."""

    run_id: str
    pipeline: str
    recorded_at: str
    values: dict[str, float]


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one alarm to one target. `error` is an exception type or an HTTP status."""

    target: str
    outcome: Literal["delivered", "failed"]
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class AlarmEvent:
    """One fired alarm, as stored in `vaultline_alarm_events`."""

    id: str
    rule: str
    kind: str
    severity: str
    message: str
    fired_at: str
    pipeline: str | None = None
    run_id: str | None = None
    subject: str | None = None
    """A keyed hash (the principal of an unusual-access alarm), never a clear identifier."""
    deliveries: tuple[Delivery, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "rule": self.rule, "kind": self.kind, "severity": self.severity,
            "message": self.message, "fired_at": self.fired_at, "pipeline": self.pipeline,
            "run_id": self.run_id, "subject": self.subject,
            "deliveries": [delivery.__dict__ for delivery in self.deliveries],
        }  # fmt: skip


def store_run_metrics(
    engine: sa.Engine, url: str, *, run_id: str, pipeline: str, values: Mapping[str, float], recorded_at: str
) -> None:
    """Store a run's metrics, replacing any stored before for the same run (observing twice is harmless)."""
    rows = [
        {
            "run_id": run_id,
            "pipeline": pipeline,
            "name": name,
            "value": float(value),
            "recorded_at": recorded_at,
        }
        for name, value in values.items()
    ]
    try:
        with for_writing(engine).begin() as conn:
            conn.execute(run_metrics.delete().where(run_metrics.c.run_id == run_id))
            if rows:
                conn.execute(run_metrics.insert(), rows)
    except sa.exc.SQLAlchemyError as exc:
        raise catalog_failure(url, exc, f"storing the metrics of run {run_id}") from None


def recent_run_metrics(
    engine: sa.Engine, url: str, *, pipeline: str | None = None, last: int = 1
) -> list[RunMetrics]:
    """The metrics of each pipeline's `last` newest observed runs: pipelines by name, newest run first."""
    position = sa.func.row_number().over(
        partition_by=run_metrics.c.pipeline,
        order_by=(run_metrics.c.recorded_at.desc(), run_metrics.c.run_id.desc()),
    )
    anchors = sa.select(run_metrics.c.run_id, position.label("position")).where(
        run_metrics.c.name == ANCHOR_METRIC
    )
    if pipeline is not None:
        anchors = anchors.where(run_metrics.c.pipeline == pipeline)
    newest = anchors.subquery()
    query = (
        sa.select(run_metrics)
        .join(newest, newest.c.run_id == run_metrics.c.run_id)
        .where(newest.c.position <= last)
        .order_by(run_metrics.c.pipeline, newest.c.position, run_metrics.c.name)
    )
    found: dict[str, RunMetrics] = {}
    with reading(engine, url, "reading run metrics") as conn:
        for row in conn.execute(query):
            record = found.setdefault(row.run_id, RunMetrics(row.run_id, row.pipeline, row.recorded_at, {}))
            record.values[row.name] = row.value
    return list(found.values())


def trailing_values(
    engine: sa.Engine, url: str, *, pipeline: str, name: str, window: int, excluding_run: str
) -> list[float]:
    """Metric `name` of the pipeline's `window` newest succeeded runs other than `excluding_run`, newest
    first (runs without that metric are skipped)."""
    succeeded = run_metrics.alias("succeeded")
    query = (
        sa.select(run_metrics.c.value)
        .join(
            succeeded,
            sa.and_(
                succeeded.c.run_id == run_metrics.c.run_id,
                succeeded.c.name == ANCHOR_METRIC,
                succeeded.c.value == 1.0,
            ),
        )
        .where(
            run_metrics.c.pipeline == pipeline,
            run_metrics.c.name == name,
            run_metrics.c.run_id != excluding_run,
        )
        .order_by(run_metrics.c.recorded_at.desc(), run_metrics.c.run_id.desc())
        .limit(window)
    )
    with reading(engine, url, f"reading the trailing {name} of pipeline {pipeline}") as conn:
        return [float(value) for value in conn.scalars(query)]


def runs_by_status(engine: sa.Engine, url: str, *, pipeline: str | None = None) -> list[tuple[str, str, int]]:
    """(pipeline, status, number of runs) over every run the catalog recorded, observed or not."""
    from vaultline.catalog.runs import runs

    query = (
        sa.select(runs.c.pipeline, runs.c.status, sa.func.count())
        .group_by(runs.c.pipeline, runs.c.status)
        .order_by(runs.c.pipeline, runs.c.status)
    )
    if pipeline is not None:
        query = query.where(runs.c.pipeline == pipeline)
    with reading(engine, url, "counting runs by status") as conn:
        return [(row[0], row[1], int(row[2])) for row in conn.execute(query)]


def record_alarm(engine: sa.Engine, url: str, event: AlarmEvent) -> None:
    """Store a fired alarm with the outcome of each delivery."""
    delivered = json.dumps([delivery.__dict__ for delivery in event.deliveries], sort_keys=True)
    try:
        with for_writing(engine).begin() as conn:
            conn.execute(
                alarm_events.insert().values(
                    id=event.id,
                    run_id=event.run_id,
                    pipeline=event.pipeline,
                    subject=event.subject,
                    rule=event.rule,
                    kind=event.kind,
                    severity=event.severity,
                    message=event.message,
                    delivered=delivered,
                    fired_at=event.fired_at,
                )
            )
    except sa.exc.SQLAlchemyError as exc:
        raise catalog_failure(url, exc, f"recording alarm {event.rule}") from None


def list_alarms(
    engine: sa.Engine, url: str, *, pipeline: str | None = None, rule: str | None = None, last: int = 20
) -> list[AlarmEvent]:
    """The `last` newest alarms, newest first."""
    query = sa.select(alarm_events).order_by(alarm_events.c.fired_at.desc(), alarm_events.c.id).limit(last)
    if pipeline is not None:
        query = query.where(alarm_events.c.pipeline == pipeline)
    if rule is not None:
        query = query.where(alarm_events.c.rule == rule)
    with reading(engine, url, "listing alarms") as conn:
        return [_event(row._mapping) for row in conn.execute(query)]


def last_fired(engine: sa.Engine, url: str, *, rule: str, pipeline: str, subject: str) -> str | None:
    """When `pipeline`'s `rule` last fired for `subject` (ISO time), or None."""
    query = sa.select(sa.func.max(alarm_events.c.fired_at)).where(
        alarm_events.c.rule == rule, alarm_events.c.pipeline == pipeline, alarm_events.c.subject == subject
    )
    with reading(engine, url, f"reading when alarm {rule} last fired") as conn:
        fired: str | None = conn.scalar(query)
    return fired


def _event(row: sa.RowMapping) -> AlarmEvent:
    deliveries = tuple(Delivery(**item) for item in json.loads(row["delivered"]))
    return AlarmEvent(
        id=row["id"], rule=row["rule"], kind=row["kind"], severity=row["severity"], message=row["message"],
        fired_at=row["fired_at"], pipeline=row["pipeline"], run_id=row["run_id"], subject=row["subject"],
        deliveries=deliveries,
    )  # fmt: skip
