"""`vaultline runs`: past runs and their reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from vaultline.catalog.runs import RunCatalog

from vaultline.cli.common import JsonOption, StateOption, audited, emit_json, handles_errors

app = typer.Typer(help="Past runs and their reports.", no_args_is_help=True)


def _catalog(state: Path | None) -> RunCatalog:
    from vaultline.catalog.runs import RunCatalog
    from vaultline.state import State

    return RunCatalog(State.existing(state).catalog_url)


@app.command("list")
@handles_errors
def list_runs(
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 20,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Most recent runs first."""
    with _catalog(state) as catalog:
        records = catalog.list(limit=limit, pipeline=pipeline)
    if json_out:
        emit_json([r.as_dict() for r in records])
        return
    if not records:
        typer.echo(
            f"no runs{f' of pipeline {pipeline}' if pipeline else ''} yet: `vaultline run SPEC` starts one"
        )
        return
    from vaultline.cli.render import runs_table

    runs_table(records)


@app.command("show")
@handles_errors
def show(
    run_id: Annotated[str, typer.Argument(help="Run id from `vaultline runs list`.")],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """The report of one run."""
    with _catalog(state) as catalog:
        report = catalog.report(run_id)
    if json_out:
        emit_json(report)
        return
    from vaultline.cli.render import summary

    summary(report)


ARTIFACT_KEY = "vaultline-artifacts"


@app.command("export")
@handles_errors
def export(
    run_id: Annotated[str, typer.Argument(help="Run id from `vaultline runs list`.")],
    # text, not a Path: click's Path would turn s3://b/k into the local path s3:/b/k
    out: Annotated[str, typer.Option("--out", help="Encrypted report file (local or s3://).")],
    key: Annotated[
        str, typer.Option("--key", help="Keyring key NAME\\[@VERSION], or kms:ARN|alias for AWS KMS.")
    ] = ARTIFACT_KEY,
    state: StateOption = None,
) -> None:
    """Export a run's report encrypted (AWS Encryption SDK format, 64 KiB frames) for an auditor."""
    import json
    import tempfile

    from vaultline.keys.providers import open_provider
    from vaultline.run.runner import ensure_key
    from vaultline.state import State
    from vaultline.storage.artifacts import encrypt_file, parse_keyring

    resolved = State.existing(state)
    provider = open_provider(resolved.root)
    with _catalog(state) as catalog:
        report = catalog.report(run_id)
    with (
        audited(state, "run.export", resource=run_id, identifiers={"path": out, "key": key}),
        tempfile.NamedTemporaryFile("w", suffix=".json", dir=resolved.root, delete=True) as plain,
    ):
        if key == ARTIFACT_KEY:
            ensure_key(provider, ARTIFACT_KEY, purpose="exported artifacts")
        plain.write(json.dumps(report, indent=2, sort_keys=True, default=str))
        plain.flush()
        info = encrypt_file(plain.name, out, parse_keyring(key, provider), context=_context(run_id))
    typer.echo(
        f"exported run {run_id} to {info.location} "
        f"(a report of {info.plaintext_bytes:,} bytes, encrypted under key {info.key})"
    )


@app.command("decrypt-export")
@handles_errors
def decrypt_export(
    run_id: Annotated[str, typer.Argument(help="The run the export claims to be (checked).")],
    src: Annotated[
        str, typer.Argument(help="An encrypted export from `vaultline runs export` (local or s3://).")
    ],
    out: Annotated[str, typer.Option("--out", help="Where to write the decrypted report (local or s3://).")],
    key: Annotated[str, typer.Option("--key", help="The key it was exported with.")] = ARTIFACT_KEY,
    state: StateOption = None,
) -> None:
    """Decrypt an exported report; refused when it was altered or is another run's."""
    from vaultline.keys.providers import open_provider
    from vaultline.state import State
    from vaultline.storage.artifacts import decrypt_file, parse_keyring

    provider = open_provider(State.existing(state).root)
    with audited(state, "run.decrypt_export", resource=run_id, identifiers={"path": src, "key": key}):
        decrypt_file(src, out, parse_keyring(key, provider), context=_context(run_id))
    typer.echo(f"decrypted the report of run {run_id} to {out}")


def _context(run_id: str) -> dict[str, str]:
    """Authenticated with the file: an export of one run cannot pass for another's."""
    return {"vaultline:artifact": "run-report", "vaultline:run_id": run_id}
