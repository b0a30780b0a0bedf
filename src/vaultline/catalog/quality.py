"""Data-quality results: one row per expectation per run, value-free (counts and fitted statistics).

The migration `0003_governance` creates the table. `record_results` stores the results of the `expect`
steps of one run (the runner calls it at the end of every run, succeeded or failed); `results_for` and
`history` read them back in the shape the steps produced: `name`, `kind`, `columns`, `severity`,
`passed`, `failed_rows`, `observed` (counts, fractions, PSI, bounds), plus `run_id` and `recorded_at`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from vaultline.catalog.schema import catalog_failure, for_writing, open_catalog, reading

metadata = sa.MetaData()
dq_results = sa.Table(
    "vaultline_dq_results",
    metadata,
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("expectation", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("columns", sa.Text, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("failed_rows", sa.BigInteger, nullable=False),
    sa.Column("observed", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.PrimaryKeyConstraint("run_id", "expectation", name="pk_vaultline_dq_results"),
    sa.Index("ix_vaultline_dq_results_pipeline", "pipeline", "expectation"),
)


def record_results(url: str, run_id: str, pipeline: str, results: list[dict[str, Any]]) -> None:
    """Store one run's expectation results in one transaction (nothing when there are none).

    Recording the same run again replaces its rows, so a retried finish does not fail on the key."""
    if not results:
        return
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    rows = [
        {
            "run_id": run_id,
            "pipeline": pipeline,
            "expectation": r["name"],
            "kind": r["kind"],
            "columns": json.dumps(r["columns"]),
            "severity": r["severity"],
            "passed": bool(r["passed"]),
            "failed_rows": int(r["failed_rows"]),
            "observed": json.dumps(r["observed"], sort_keys=True),
            "recorded_at": stamp,
        }
        for r in results
    ]
    engine = open_catalog(url)
    try:
        with for_writing(engine).begin() as conn:
            conn.execute(dq_results.delete().where(dq_results.c.run_id == run_id))
            conn.execute(dq_results.insert(), rows)
    except sa.exc.SQLAlchemyError as exc:
        raise catalog_failure(url, exc, f"recording the data-quality results of run {run_id}") from None
    finally:
        engine.dispose()


def _as_result(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "name": row.expectation,
        "kind": row.kind,
        "columns": json.loads(row.columns),
        "severity": row.severity,
        "passed": bool(row.passed),
        "failed_rows": int(row.failed_rows),
        "observed": json.loads(row.observed),
        "recorded_at": row.recorded_at,
    }


def _select(url: str, query: sa.Select[Any], doing: str) -> list[dict[str, Any]]:
    engine = open_catalog(url)
    try:
        with reading(engine, url, doing) as conn:
            return [_as_result(row) for row in conn.execute(query)]
    finally:
        engine.dispose()


def results_for(url: str, run_id: str) -> list[dict[str, Any]]:
    """The results recorded for one run, by expectation name."""
    query = sa.select(dq_results).where(dq_results.c.run_id == run_id).order_by(dq_results.c.expectation)
    return _select(url, query, f"reading the data-quality results of run {run_id}")


def history(url: str, pipeline: str, expectation: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest `limit` results of one expectation of a pipeline, newest first."""
    query = (
        sa.select(dq_results)
        .where(dq_results.c.pipeline == pipeline, dq_results.c.expectation == expectation)
        .order_by(dq_results.c.recorded_at.desc(), dq_results.c.run_id.desc())
        .limit(limit)
    )
    return _select(url, query, f"reading the history of expectation {expectation}")


def expectation_names(url: str, pipeline: str) -> list[str]:
    """The names of the expectations of `pipeline` that have results, sorted."""
    engine = open_catalog(url)
    query = (
        sa.select(dq_results.c.expectation)
        .where(dq_results.c.pipeline == pipeline)
        .distinct()
        .order_by(dq_results.c.expectation)
    )
    try:
        with reading(engine, url, f"reading the expectations of pipeline {pipeline}") as conn:
            return [str(name) for name in conn.scalars(query)]
    finally:
        engine.dispose()
