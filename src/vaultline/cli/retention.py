"""`vaultline retention apply`: remove run logs, reports, quarantine files and audit segments past
their age bound (`<state>/retention.yaml`, overridden per kind on the command line)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from vaultline.cli.common import JsonOption, StateOption, emit_json, handles_errors
from vaultline.errors import EX_TEMPFAIL, S3_UNREACHABLE_HINT

if TYPE_CHECKING:
    from vaultline.run.retention import RetentionResult

app = typer.Typer(help="Retention of run logs, reports, quarantine and audit segments.", no_args_is_help=True)


def _days(flag: str, what: str) -> object:
    return typer.Option(
        flag, min=1, metavar="DAYS", help=f"Keep {what} this many days (default: retention.yaml)."
    )


@app.command("apply")
@handles_errors
def apply(  # noqa: PLR0917 - typer maps each parameter to an option
    run_logs: Annotated[int | None, _days("--run-logs", "run logs")] = None,
    reports: Annotated[int | None, _days("--reports", "run reports")] = None,
    quarantine: Annotated[int | None, _days("--quarantine", "quarantine files")] = None,
    audit_segments: Annotated[int | None, _days("--audit-segments", "exported audit segments")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Remove what is older than its bound, and print what was removed and what was kept, and why.

    Nothing under S3 Object Lock is removed, and the catalog's run rows stay."""
    from vaultline.run.retention import apply_retention, load_policy
    from vaultline.state import State

    resolved = State.existing(state)
    overrides = {
        "run_logs_days": run_logs,
        "reports_days": reports,
        "quarantine_days": quarantine,
        "audit_segments_days": audit_segments,
    }
    result = apply_retention(resolved, load_policy(resolved, overrides), dry_run=dry_run)
    if json_out:
        emit_json(result.as_dict())
    else:
        _print(result)
    _exit_if_unreadable(result)


def _print(result: RetentionResult) -> None:
    dry_run = result.dry_run
    p = result.policy
    typer.echo(
        f"retention{' (dry run)' if dry_run else ''}: run logs {p.run_logs_days} d, "
        f"reports {p.reports_days} d, quarantine {p.quarantine_days} d, "
        f"audit segments {p.audit_segments_days} d"
    )
    verb = "would remove" if dry_run else "removed"
    for item in result.removed:
        typer.echo(f"  {verb} {item.kind} {item.location} ({item.age_days:g} days old: {item.reason})")
    for item in result.kept:
        typer.echo(f"  kept {item.kind} {item.location} ({item.age_days:g} days old): {item.reason}")
    younger = ", ".join(f"{count} {kind}" for kind, count in result.younger.items())
    typer.echo(f"  kept within their bound: {younger}")
    audit = result.audit
    segments = ", ".join(map(str, audit["segments"])) or "none"
    stop = (
        f"; kept from segment {audit['stopped_at']} on ({audit['stop_reason']})"
        if audit["stop_reason"]
        else ""
    )
    typer.echo(f"  audit segments {verb}: {segments} ({audit['entries']} entries){stop}")
    for unread in result.unreadable:
        typer.echo(f"  not checked: {unread.location}: {unread.reason}")


def _exit_if_unreadable(result: RetentionResult) -> None:
    """Everything else was applied, but not everything: a scheduler must see it. 75 (rerun unchanged)
    when every failure was transient, else 1."""
    if not result.unreadable:
        return
    transient = all(unread.retryable for unread in result.unreadable)
    hint = S3_UNREACHABLE_HINT if transient else (
        "check that the bucket exists and that the credentials may list, read and delete in it "
        "(s3:ListBucket, s3:GetObject, s3:DeleteObject, s3:DeleteObjectVersion), then run again"
    )  # fmt: skip
    sys.stderr.write(
        f"error: {len(result.unreadable)} quarantine location(s) could not be listed or read (named "
        f"in the output): nothing there was removed; everything else was applied\nhint: {hint}\n"
    )
    raise typer.Exit(EX_TEMPFAIL if transient else 1)
