"""Terminal rendering with rich: progress while a run executes, and the run summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=False)


@contextmanager
def progress(*, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner with the current phase and elapsed time; phases are reported by the runner."""
    if not enabled:
        yield lambda _phase: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda phase: bar.update(task, description=phase)


def summary(report: dict[str, Any]) -> None:
    rows = report.get("rows", {})
    status = report.get("status", "?")
    colour = "green" if status == "succeeded" else "red"
    console.print(
        f"[bold]{report.get('pipeline')}[/bold] run [cyan]{report.get('run_id')}[/cyan]: "
        f"[{colour}]{status}[/{colour}] in {report.get('seconds', 0):.2f}s"
    )
    if status != "succeeded":
        console.print(f"  {report.get('error', '')}")
        return
    console.print(
        f"  rows: {rows.get('input', 0):,} in, {rows.get('output', 0):,} out, "
        f"{rows.get('quarantined', 0):,} quarantined"
    )
    steps = Table(
        "#", "step", "rows in", "rows out", "quarantined", "plan+fit s", title="steps", title_justify="left"
    )
    for step in report.get("steps", []):
        quarantined = ", ".join(f"{reason}: {n}" for reason, n in sorted(step["quarantined"].items())) or "-"
        steps.add_row(
            str(step["index"]), step["name"], f"{step['rows_in']:,}", f"{step['rows_out']:,}", quarantined,
            f"{step['plan_seconds']:.2f}",
        )  # fmt: skip
    console.print(steps)
    protections = report.get("protections", {})
    if protections:
        console.print(
            "  protected: " + ", ".join(f"{c} ({'+'.join(p)})" for c, p in sorted(protections.items()))
        )
    anomaly = report.get("anomaly") or {}
    if anomaly:
        rate = anomaly.get("flagged_rate")
        console.print(
            f"  anomalies flagged: {anomaly.get('flagged', '?')} (rate {rate if rate is not None else '?'})"
        )
    for output in report.get("outputs", []):
        console.print(
            f"  output {output['name']}: {output['location']} "
            f"({output['rows']:,} rows, sha256 {output['sha256'][:16]}…)"
        )
    if report.get("quarantine"):
        console.print(f"  quarantine: {report['quarantine']} (values encrypted)")
    timings = report.get("timings", {})
    console.print("  timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))


def runs_table(records: list[Any]) -> None:
    table = Table("run id", "pipeline", "status", "started", "rows in", "rows out", "quarantined")
    for r in records:
        table.add_row(
            r.run_id, r.pipeline, r.status, r.started_at,
            *(f"{v:,}" if v is not None else "-" for v in (r.rows_in, r.rows_out, r.rows_quarantined)),
        )  # fmt: skip
    console.print(table)
