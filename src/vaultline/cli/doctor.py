"""`vaultline doctor`: check every place a spec reads or writes before any data moves.

Sources, their landing directories, outputs and quarantine become audit targets (an S3 bucket once,
however many locations use it; a local directory), each checked by `storage/bucket_audit` without
reading a value. Exit code 1 when any check fails; warnings keep 0 so a doctor run can gate CI on
failures only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vaultline.cli.common import JsonOption, StateOption, emit_json, handles_errors

if TYPE_CHECKING:
    from vaultline.spec.models import Pipeline
    from vaultline.storage.bucket_audit import Check

_MARK = {"pass": "ok", "warn": "WARN", "fail": "FAIL"}
_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def spec_targets(pipeline: Pipeline, quarantine_dir: Path) -> dict[str, list[str]]:
    """Audit target -> the spec fields that use it, in spec order (postgres sources have none)."""
    from vaultline.storage.bucket_audit import audit_target

    uses: list[tuple[str, str]] = [
        (audit_target(source.path, names_files=True), f"sources.{name}")
        for name, source in pipeline.sources.items()
        if source.path
    ]
    # Landing copies are the raw zone (every input file, encrypted): held to the outputs' standard.
    uses += [
        (audit_target(source.landing, names_files=False), f"sources.{name}.landing")
        for name, source in pipeline.sources.items()
        if source.landing
    ]
    uses += [
        (audit_target(out.path, names_files=False), f"outputs.{name}")
        for name, out in pipeline.outputs.items()
    ]
    # The runner's default quarantine is <state dir>/quarantine/<pipeline name>.
    quarantine = pipeline.quarantine.path or str(quarantine_dir / pipeline.name)
    uses.append((audit_target(quarantine, names_files=False), "quarantine"))
    targets: dict[str, list[str]] = {}
    for target, field in uses:
        targets.setdefault(target, []).append(field)
    return targets


def create_mode(fields: list[str]) -> int:
    """The mode a missing local target would get from the mkdir that creates it: the runner creates
    output and quarantine directories 0700, `storage.artifacts.private_output` landing directories
    too; nothing creates a source's directory, so the umask would decide."""
    from vaultline.storage.bucket_audit import PRIVATE_MODE, UMASK_MODE

    created = any(f.startswith("outputs.") or f == "quarantine" or f.endswith(".landing") for f in fields)
    return PRIVATE_MODE if created else UMASK_MODE


@handles_errors
def doctor(
    spec: Annotated[Path, typer.Argument(help="Pipeline spec (YAML).")],
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Override a parameter: KEY=VALUE.")
    ] = None,
    json_out: JsonOption = False,
    state: StateOption = None,
) -> None:
    """Check the storage a spec uses; exit code 1 when a check fails (warnings keep 0).

    Sources, their landing directories, outputs and quarantine. Buckets: encryption, public access,
    TLS-only policy, versioning; local directories: their modes."""
    from vaultline.audit.placement import placement_checks
    from vaultline.spec.loader import load, parse_param
    from vaultline.state import State
    from vaultline.storage.bucket_audit import audit

    loaded = load(spec, dict(parse_param(p) for p in param or []))
    resolved = State.resolve(state)
    targets = spec_targets(loaded.pipeline, resolved.quarantine_dir)
    checks = [
        check
        for target, fields in targets.items()
        for check in audit(target, create_mode=create_mode(fields))
    ]
    checks += placement_checks(resolved.root)
    counts = {status: sum(c.status == status for c in checks) for status in ("pass", "warn", "fail")}
    if json_out:
        emit_json(
            {
                "spec": str(spec),
                "ok": counts["fail"] == 0,
                "summary": counts,
                "locations": [{"location": t, "used_by": fields} for t, fields in targets.items()],
                "checks": [check.as_dict() for check in checks],
            }
        )
    else:
        _render(checks, targets, counts)
    if counts["fail"]:
        raise typer.Exit(1)


def _render(checks: list[Check], targets: dict[str, list[str]], counts: dict[str, int]) -> None:
    """A table of every check, then the fixes in full (policies and commands must stay copy-pastable)."""
    from rich.table import Table
    from rich.text import Text

    from vaultline.cli.render import console

    table = Table(show_lines=False)
    for column in ("", "location", "used by", "check", "detail", "fix"):
        table.add_column(column, overflow="fold")
    fixes: list[Check] = []
    for check in checks:
        ref = ""
        if check.fix:
            fixes.append(check)
            ref = f"[{len(fixes)}]"
        table.add_row(
            Text(_MARK[check.status], style=_STYLE[check.status]),
            check.location,
            ", ".join(targets.get(check.location, [])),
            check.name,
            check.detail,
            ref,
        )
    console.print(table)
    for number, check in enumerate(fixes, 1):
        console.print(f"[{number}] {check.location} {check.name}:", style=_STYLE[check.status])
        console.print(f"    {check.fix}", soft_wrap=True)
    summary = f"{counts['pass']} passed, {counts['warn']} warning(s), {counts['fail']} failed"
    console.print(summary, style=_STYLE["fail" if counts["fail"] else "warn" if counts["warn"] else "pass"])
