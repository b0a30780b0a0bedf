"""`vaultline audit`: verify, show, export and search the tamper-evident audit log.

`verify` and `show` need no key (an auditor can run them with read access only); `export` and `search`
open the log, so they need the key provider, and are themselves recorded. Nothing printed holds a value:
entries carry keyed hashes, and the subject of a search is never echoed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vaultline.cli.common import JsonOption, StateOption, emit_json, handles_errors

if TYPE_CHECKING:
    from vaultline.audit.entries import AuditEntry
    from vaultline.audit.verify import VerifyReport

app = typer.Typer(help="The tamper-evident audit log: verify, show, export, search.", no_args_is_help=True)

CopyOption = Annotated[
    str | None,
    typer.Option(
        "--copy",
        help="Copy location holding the checkpoint copies and the trusted public keys (directory or "
        "s3://bucket/prefix; default $VAULTLINE_AUDIT_COPY, else <state>/audit-copy).",
        show_default=False,
    ),
]


@app.command("verify")
@handles_errors
def verify(
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key", help="Trust this Ed25519 public key (PEM); repeatable.", show_default=False
        ),
    ] = None,
    copy: CopyOption = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Verify an export directory or an s3:// archive instead of the state's log, up to its last "
            "closed segment (the copy location is then used only when --copy is given).",
            show_default=False,
        ),
    ] = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Check the hash chain, the signed checkpoints and their copies; exit code 1 on any finding."""
    import tempfile

    from vaultline.audit.folders import download, open_folder
    from vaultline.audit.settings import AuditPaths, AuditSettings
    from vaultline.audit.verify import load_public_keys, verify_log
    from vaultline.state import State
    from vaultline.storage.locations import is_remote

    resolved = State.resolve(state)
    if copy is None and source is None:
        copy = AuditSettings.from_env(resolved.root).copy_location
    folder = open_folder(copy) if copy else None
    keys = load_public_keys(path.read_bytes() for path in public_key) if public_key else None
    if source is None:
        report = verify_log(AuditPaths.of_state(resolved.root).root, copy=folder, public_keys=keys)
    elif is_remote(source):
        with tempfile.TemporaryDirectory() as fetched:
            download(open_folder(source), Path(fetched))
            report = verify_log(Path(fetched), copy=folder, public_keys=keys, closed_only=True)
    else:
        report = verify_log(Path(source), copy=folder, public_keys=keys, closed_only=True)
    if json_out:
        emit_json(report.as_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: VerifyReport) -> None:
    for finding in report.findings:
        typer.echo(f"{finding.severity}: {finding.code}: {finding.message}")
    verdict = "verified" if report.ok else f"{len(report.findings)} finding(s)"
    pruned = (
        f", segments up to {report.pruned_through_segment} pruned" if report.pruned_through_segment else ""
    )
    if report.checkpointed_seq > report.last_seq:  # truncated: the checkpoints promise entries now gone
        coverage = (
            f"a signed checkpoint covers entries up to {report.checkpointed_seq}, "
            f"but the log ends at entry {report.last_seq}"
        )
    else:
        coverage = (
            f"entries up to {report.checkpointed_seq} of {report.last_seq} are covered by a signed checkpoint"
        )
    typer.echo(
        f"audit log {verdict}: {report.entries} entries in {report.segments} segment(s){pruned}, "
        f"{report.checkpoints} checkpoint(s); {coverage}"
    )


@app.command("show")
@handles_errors
def show(
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show the last N matching entries.")] = 20,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only this action, or a dotted prefix ('key').", show_default=False),
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Only entries of this run.", show_default=False)
    ] = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """The latest entries (identifiers are keyed hashes; nothing is verified: use `verify`)."""
    from collections import deque

    from vaultline.audit.reading import iter_entries
    from vaultline.audit.settings import AuditPaths
    from vaultline.state import State

    segments = AuditPaths.of_state(State.existing(state).root).segments
    entries = deque(iter_entries(segments, action=action, run_id=run), maxlen=limit)
    _print_entries(list(entries), json_out=json_out, empty="no audit entries match")


def _print_entries(entries: list[AuditEntry], *, json_out: bool, empty: str) -> None:
    if json_out:
        emit_json([entry.as_dict() for entry in entries])
        return
    if not entries:
        typer.echo(empty)
    for entry in entries:
        details = " ".join(f"{k}={v}" for k, v in sorted(entry.details.items()) if v is not None)
        typer.echo(
            f"{entry.seq:>8} {entry.time} {entry.action:<24} {entry.outcome:<9} "
            f"{entry.resource or '-':<20} run={entry.run_id or '-'} by={entry.principal[12:24]} {details}"
        )


@app.command("export")
@handles_errors
def export(
    out: Annotated[str, typer.Option("--out", help="Directory or s3://bucket/prefix to export to.")],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Close the open segment and copy segments, checkpoints and public keys to OUT (recorded)."""
    from vaultline.audit.log import AuditLog
    from vaultline.state import State

    with AuditLog.open(State.existing(state)) as log:
        result = log.export(out)
    if json_out:
        emit_json(result.as_dict())
        return
    typer.echo(
        f"exported {result.segments} segment(s) and {result.checkpoints} checkpoint(s) through checkpoint "
        f"{result.through_checkpoint} (entry {result.through_seq}); {result.written} file(s) written"
    )


@app.command("search")
@handles_errors
def search(
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            help="The value to look for, or - to read it from stdin (only its keyed hash is used).",
            show_default=False,
        ),
    ] = None,
    me: Annotated[
        bool,
        typer.Option("--me", help="Look for your own principal ($VAULTLINE_PRINCIPAL, else the OS user)."),
    ] = False,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="principal, path, key or subject (default: any).", show_default=False),
    ] = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Entries naming SUBJECT, matched by its keyed hash under every audit-key version (recorded)."""
    from vaultline.audit.log import AuditLog
    from vaultline.keys.principal import current_caller
    from vaultline.state import State

    if subject is None:
        if not me:
            raise typer.BadParameter("give --subject VALUE (or - for stdin), or --me", param_hint="--subject")
        subject, kind = current_caller().principal, kind or "principal"
    elif me:
        raise typer.BadParameter("give --subject or --me, not both", param_hint="--me")
    elif subject == "-":  # from stdin: a value on the command line shows in the process list
        subject = sys.stdin.readline().rstrip("\n")
    with AuditLog.open(State.existing(state)) as log:
        found = log.search(subject, kind=kind)
    _print_entries(found, json_out=json_out, empty="no audit entry names this subject")
