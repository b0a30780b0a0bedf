"""Terminal rendering with rich: progress while a run executes, and the run summary.

Markup and emoji codes are off: column names, paths and reasons such as `pattern:email` are
printed as they are, never interpreted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

_INGEST_REASONS = ("csv:", "json:", "type:")


def _console(stderr: bool = False) -> Console:
    width = None if Console(stderr=stderr).is_terminal else 160
    return Console(stderr=stderr, emoji=False, highlight=False, markup=False, width=width)


console = _console()


@contextmanager
def progress(*, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner with the current phase and elapsed time; phases are reported by the runner."""
    if not enabled:
        yield lambda _phase: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda phase: bar.update(task, description=phase)


def summary(report: dict[str, Any]) -> None:
    rows = report.get("rows", {})
    status = report.get("status", "?")
    console.print(
        f"{report.get('pipeline')} run {report.get('run_id')}: {status} in {report.get('seconds', 0):.2f}s",
        style="bold green" if status == "succeeded" else "bold red",
    )
    if status != "succeeded":
        console.print(f"  {report.get('error', '')}")
        return
    console.print(
        f"  rows: {rows.get('input', 0):,} in, {rows.get('output', 0):,} out, "
        f"{rows.get('quarantined', 0):,} quarantined"
    )
    marks = report.get("incremental") or {}
    committed_nothing = not any(mark["new_input"] for mark in marks.values())
    for source, mark in marks.items():
        nothing_new = " — nothing new" + (", no version committed" if committed_nothing else "")
        console.print(
            f"  incremental {source}: "
            + (f"{mark['new_files']} new file(s)" if mark["by"] == "files" else "rows above the watermark")
            + ("" if mark["new_input"] else nothing_new)
        )
    console.print(_steps_table(report))
    reasons = _reasons_table(report)
    if reasons.row_count:
        console.print(reasons)
    protections = report.get("protections", {})
    if protections:
        listed = ", ".join(f"{c} ({'+'.join(p)})" for c, p in sorted(protections.items()))
        console.print(f"  protected: {listed}")
    anomaly = report.get("anomaly") or {}
    if anomaly:
        rate = anomaly.get("flagged_rate")
        shown = f"{rate:.2%}" if isinstance(rate, float) else "?"
        console.print(f"  anomalies flagged: {anomaly.get('flagged', '?')} ({shown})")
    risk = report.get("reidentification") or {}
    if risk:
        suppressed = f", {risk['rows_suppressed']:,} rows suppressed" if risk.get("rows_suppressed") else ""
        diversity = f", l={risk['l']}" if risk.get("l") is not None else ""
        console.print(
            f"  re-identification on {', '.join(risk['quasi_identifiers'])}: k={risk['k']}{diversity}"
            f" (before suppression k={risk['k_before']}){suppressed}"
        )
    guardrail = report.get("guardrail") or {}
    if guardrail:
        detected = guardrail.get("detected", {})
        problems = guardrail.get("violations", [])
        console.print(
            f"  guardrail: {len(detected)} sensitive column(s) detected in the sources, "
            + (
                f"{len(problems)} written in the clear (policy warn)"
                if problems
                else "none written in the clear"
            )
        )
    quality = report.get("quality") or {}
    if quality.get("expectations"):  # a run without an expect step has nothing to say here
        failed = [r["name"] for r in quality.get("results", []) if not r.get("passed")]
        console.print(
            f"  data quality: {quality.get('passed', 0)}/{quality.get('expectations', 0)} expectations passed"
            + (f"; not passed: {', '.join(failed)}" if failed else "")
        )
    for source, drift in (report.get("schema_drift") or {}).items():
        if drift.get("action") == "evolved":
            console.print(f"  schema of source {source} evolved: table {drift['table']} v{drift['version']}")
    versions = report.get("datasets") or {}
    for output in report.get("outputs", []):
        name = output["name"]
        version = f" → dataset {name}@{versions[name]}" if name in versions else ""
        encrypted = "encrypted" if output.get("encryption") else "NOT encrypted"
        console.print(
            f"  output {output['name']}{version}: {output['location']} "
            f"({output['rows']:,} rows, {encrypted}, sha256 {output['sha256'][:16]}…)"
        )
    if report.get("quarantine"):
        console.print(f"  quarantine: {report['quarantine']} (values encrypted)")
    for alarm in report.get("alarms") or []:
        console.print(
            f"  alarm ({alarm['severity']}) {alarm['rule']}: {alarm['message']}", style="bold yellow"
        )
    timings = report.get("timings", {})
    console.print("  timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))


def _steps_table(report: dict[str, Any]) -> Table:
    table = Table(
        "#", "step", "rows in", "rows out", "quarantined", "plan+fit s", title="steps", title_justify="left"
    )
    for step in report.get("steps", []):
        table.add_row(
            str(step["index"]), step["name"], f"{step['rows_in']:,}", f"{step['rows_out']:,}",
            f"{sum(step['quarantined'].values()):,}", f"{step['plan_seconds']:.2f}",
        )  # fmt: skip
    return table


def _reasons_table(report: dict[str, Any]) -> Table:
    table = Table("where", "reason", "rows", title="quarantined rows by reason", title_justify="left")
    by_reason = report.get("rows", {}).get("quarantine_by_reason", {})
    for reason, count in sorted(by_reason.items()):
        if reason.startswith(_INGEST_REASONS):
            table.add_row("source", reason, f"{count:,}")
    for step in report.get("steps", []):
        for reason, count in sorted(step["quarantined"].items()):
            table.add_row(f"step {step['index']} {step['name']}", reason, f"{count:,}")
    return table


def runs_table(records: list[Any]) -> None:
    table = Table("run id", "pipeline", "status", "started", "rows in", "rows out", "quarantined")
    for r in records:
        table.add_row(
            r.run_id, r.pipeline, r.status, r.started_at,
            *(f"{v:,}" if v is not None else "-" for v in (r.rows_in, r.rows_out, r.rows_quarantined)),
        )  # fmt: skip
    console.print(table)


def findings_table(source: str, columns: list[dict[str, Any]]) -> None:
    table = Table(
        "column", "entity", "sensitivity", "confidence", "matched", "evidence", "null %", "distinct %",
        title=f"classification of {source}",
    )  # fmt: skip
    for c in columns:
        evidence = c["evidence"]
        if evidence.get("free_text"):
            why = "in text: " + ", ".join(evidence["entities_in_text"])
        elif c["entity"]:
            keyword = evidence.get("name_keyword")
            why = evidence["validator"] + (f"; name: {keyword}" if keyword else "")
        else:
            why = "-"
        table.add_row(
            c["name"], c["entity"] or "-", c["sensitivity"], f"{c['confidence']:.2f}",
            f"{c['match_fraction']:.0%}", why, f"{c['profile']['null_pct']:.1f}",
            f"{c['profile']['distinct_pct']:.1f}",
        )  # fmt: skip
    console.print(table)


def explanation(spec: str, result: dict[str, Any]) -> None:
    console.print(f"{spec} under profile {result['profile']}")
    if result["note"]:
        console.print(f"note: {result['note']}")
    table = Table("step", "column", "entity", "transform: what it does", "risk addressed", "profile proposes")
    for s in result["steps"]:
        proposes = s.get("profile_proposes", "-")
        mark = "" if proposes in ("-", s["transform"]) else " (differs)"
        table.add_row(
            str(s["step"]), s["column"], s["entity"] or "-", f"{s['transform']}: {s['does']}",
            s.get("risk", "-"), proposes + mark,
        )  # fmt: skip
    console.print(table)
    if not result["findings"]:
        console.print("no findings")
    for f in result["findings"]:
        console.print(f"{f['kind']} {f['column']}: {f['message']}\n    fix: {f['fix']}")
