"""Runs recorded in a small SQL database through SQLAlchemy Core.

SQLite under the state directory by default; `VAULTLINE_CATALOG_URL=postgresql+psycopg://...` for a
shared catalog. Reports are stored as JSON text: they are value-free by construction. The table is
created and evolved by the catalog's alembic migrations (`schema.open_catalog`), not here.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from vaultline.catalog.dataset_records import versions
from vaultline.catalog.run_leftovers import EndedRun
from vaultline.catalog.schema import CatalogHandle, reading, safe_url
from vaultline.errors import CatalogError
from vaultline.processes import is_running, process_start

metadata = sa.MetaData()
runs = sa.Table(
    "vaultline_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("pipeline", sa.String(128), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("spec_sha256", sa.String(64), nullable=False),
    sa.Column("rows_in", sa.BigInteger),
    sa.Column("rows_out", sa.BigInteger),
    sa.Column("rows_quarantined", sa.BigInteger),
    sa.Column("error", sa.Text),
    sa.Column("report", sa.Text),
)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    pipeline: str
    status: str
    started_at: str
    finished_at: str | None
    rows_in: int | None
    rows_out: int | None
    rows_quarantined: int | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


ABANDONED = "its process ended without finishing the run (killed, or the machine stopped)"


def _committed_unfinished(committed: dict[str, int]) -> str:
    listed = ", ".join(f"{name}@{version}" for name, version in sorted(committed.items()))
    return f"its process ended after committing {listed}: those versions are whole, this report is not"


def _alive(process: dict[str, Any]) -> bool:
    """Whether the recorded process still runs: the same id, started at the same time (ids are reused)."""
    try:
        pid = int(process["pid"])
    except (KeyError, ValueError, TypeError):
        return True  # a record this cannot judge: not known to be dead
    try:
        return is_running(pid, started=process.get("started"))
    except (ValueError, OverflowError):
        return True


def _versions_of(conn: sa.Connection, run_id: str) -> dict[str, int]:
    """The dataset versions a run committed, by dataset."""
    query = sa.select(versions.c.dataset, versions.c.version).where(versions.c.run_id == run_id)
    return {row.dataset: row.version for row in conn.execute(query)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RunCatalog(CatalogHandle):
    """Runs, their status and reports in the catalog at `url`."""

    def _safe_url(self) -> str:
        return safe_url(self.url)

    def start(
        self,
        run_id: str,
        pipeline: str,
        spec_sha256: str,
        *,
        output_roots: Sequence[str] = (),
        landing_roots: Sequence[str] = (),
        quarantine_root: str | None = None,
    ) -> None:
        """Record a running run, with the process running it (so that a killed run can be told apart)
        and the directories it writes to (so that `gc` finds what a killed run left there): its outputs',
        its sources' landing directories and its quarantine directory (normalised by the caller)."""
        process = {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid())}
        report = {
            "run_id": run_id,
            "status": "running",
            "process": process,
            "output_roots": list(output_roots),
            "landing_roots": list(landing_roots),
            "quarantine_root": quarantine_root,
        }
        with self.engine.begin() as conn:
            conn.execute(
                runs.insert().values(
                    run_id=run_id,
                    pipeline=pipeline,
                    status="running",
                    started_at=_now(),
                    spec_sha256=spec_sha256,
                    report=json.dumps(report),
                )
            )

    def abandon_dead(self) -> list[str]:
        """Mark `abandoned` the runs still `running` whose process, on this host, no longer exists (a
        SIGKILL, a crash of the machine): otherwise they would show as running for ever. A run that
        died after its commit is `committed`: its dataset versions are whole, only its report is not.
        Runs of other hosts are left alone. Returns their ids."""
        dead = self._dead()
        with self.engine.begin() as conn:
            for run_id, pipeline, report in dead:
                committed = _versions_of(conn, run_id)
                status, error = (
                    ("committed", _committed_unfinished(committed)) if committed else ("abandoned", ABANDONED)
                )
                report |= {"pipeline": pipeline, "status": status, "error": error}
                if committed:
                    report["datasets"] = committed
                changes = {"status": status, "finished_at": _now(), "error": error}
                conn.execute(
                    runs.update()
                    .where(runs.c.run_id == run_id, runs.c.status == "running")
                    .values(**changes, report=json.dumps(report))
                )
        return [run_id for run_id, _, _ in dead]

    def _dead(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(run id, pipeline, start report) of the runs still `running` whose process, on this host, no
        longer exists."""
        host = socket.gethostname()
        query = sa.select(runs.c.run_id, runs.c.pipeline, runs.c.report).where(runs.c.status == "running")
        with reading(self.engine, self.url, "listing running runs") as conn:
            running = [
                (row.run_id, row.pipeline, json.loads(row.report or "{}")) for row in conn.execute(query)
            ]
        return [
            (run_id, pipeline, report)
            for run_id, pipeline, report in running
            if (report.get("process") or {}).get("host") == host and not _alive(report["process"])
        ]

    def ended_without_commit(self, *, with_dead: bool = False) -> list[EndedRun]:
        """Runs that ended without committing: `failed` or `abandoned`, and named by no dataset version
        (a run whose commit landed before it failed keeps its files: they belong to versions). Never a
        `succeeded`, `committed` or `running` one; with `with_dead`, also the running runs
        `abandon_dead` would mark abandoned now (what a dry run of gc counts), as ended just now."""
        named = sa.exists().where(versions.c.run_id == runs.c.run_id)
        query = sa.select(runs.c.run_id, runs.c.finished_at, runs.c.report).where(
            runs.c.status.in_(("failed", "abandoned")), sa.not_(named)
        )
        dead = self._dead() if with_dead else []
        with reading(self.engine, self.url, "listing runs that ended without committing") as conn:
            ended = [
                EndedRun.from_report(row.run_id, row.finished_at, json.loads(row.report or "{}"))
                for row in conn.execute(query)
            ]
            ended += [
                EndedRun.from_report(run_id, None, report)
                for run_id, _, report in dead
                if not _versions_of(conn, run_id)
            ]
        return ended

    def output_roots(self) -> set[str]:
        """Every directory a run wrote (or was about to write) outputs to, committed or not."""
        # Reports are JSON: only those naming output roots are parsed.
        query = sa.select(runs.c.report).where(runs.c.report.like('%"output_roots": [%'))
        with reading(self.engine, self.url, "listing output directories") as conn:
            return {root for text in conn.scalars(query) for root in json.loads(text).get("output_roots", [])}

    def live(self) -> set[str]:
        """Runs still running whose process, on this host, is alive (other hosts' are not known here)."""
        host = socket.gethostname()
        query = sa.select(runs.c.run_id, runs.c.report).where(runs.c.status == "running")
        with reading(self.engine, self.url, "listing running runs") as conn:
            running = [
                (row.run_id, json.loads(row.report or "{}").get("process") or {})
                for row in conn.execute(query)
            ]
        return {run_id for run_id, process in running if process.get("host") == host and _alive(process)}

    def finish(self, run_id: str, report: dict[str, Any]) -> None:
        rows = report.get("rows", {})
        with self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(
                    status=report["status"],
                    finished_at=_now(),
                    rows_in=rows.get("input"),
                    rows_out=rows.get("output"),
                    rows_quarantined=rows.get("quarantined"),
                    error=report.get("error"),
                    report=json.dumps(report, sort_keys=True),
                )
            )

    def list(self, limit: int = 50, pipeline: str | None = None) -> list[RunRecord]:
        query = sa.select(*[c for c in runs.c if c.name not in ("report", "spec_sha256")]).order_by(
            runs.c.started_at.desc()
        )
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self.engine.connect() as conn:
            return [RunRecord(**row._mapping) for row in conn.execute(query.limit(limit))]

    def latest_succeeded(self, pipeline: str) -> str | None:
        """The id of the pipeline's newest succeeded run that read rows (a run that found nothing new
        to read is no baseline for drift or trends), or None."""
        query = (
            sa.select(runs.c.run_id)
            .where(runs.c.pipeline == pipeline, runs.c.status == "succeeded", runs.c.rows_in > 0)
            .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
            .limit(1)
        )
        with reading(self.engine, self.url, "finding the latest succeeded run") as conn:
            run_id: str | None = conn.execute(query).scalar()
        return run_id

    def latest_succeeded_report(self, pipeline: str) -> dict[str, Any] | None:
        """The report of `latest_succeeded(pipeline)`, or None before the pipeline's first such run."""
        run_id = self.latest_succeeded(pipeline)
        return None if run_id is None else self.report(run_id)

    def report(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs.c.report, runs.c.status).where(runs.c.run_id == run_id)).first()
        if row is None:
            raise CatalogError(f"no run with id {run_id}", hint="list runs with: vaultline runs list")
        if row.report is None:
            return {"run_id": run_id, "status": row.status}
        loaded: dict[str, Any] = json.loads(row.report)
        return loaded
