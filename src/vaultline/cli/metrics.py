"""`vaultline metrics` (stored run metrics as Prometheus text, CloudWatch EMF or JSON) and `vaultline
alarms` (list the alarms fired, send a test alarm, write a delivery secret for its receiver).

`metrics` is a plain function: cli/main.py registers it at the top level.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from vaultline.cli.common import JsonOption, StateOption, audited, emit_json, handles_errors
from vaultline.errors import TerminalError

if TYPE_CHECKING:
    from vaultline.catalog.metrics import AlarmEvent

app = typer.Typer(help="Alarm rules and the alarms they fired.", no_args_is_help=True)

PipelineOption = Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")]
ParamOption = Annotated[list[str] | None, typer.Option("--param", help="Override a parameter: KEY=VALUE.")]


@handles_errors
def metrics(
    pipeline: PipelineOption = None,
    output_format: Annotated[
        Literal["prometheus", "emf", "json"],
        typer.Option("--format", help="prometheus: text exposition; emf: CloudWatch EMF lines; json."),
    ] = "prometheus",
    last: Annotated[
        int,
        typer.Option(
            "--limit", "--last", min=1, help="Runs per pipeline (emf, json); prometheus shows the newest."
        ),
    ] = 1,
    state: StateOption = None,
) -> None:
    """Print the stored metrics of each pipeline's newest runs."""
    from vaultline.catalog.metrics import recent_run_metrics, runs_by_status
    from vaultline.catalog.schema import open_catalog
    from vaultline.state import State

    url = State.existing(state).catalog_url
    engine = open_catalog(url)
    try:
        records = recent_run_metrics(engine, url, pipeline=pipeline, last=last)
        if output_format == "prometheus":
            from vaultline.monitor.prometheus import render_prometheus

            sys.stdout.write(render_prometheus(records, runs_by_status(engine, url, pipeline=pipeline)))
        elif output_format == "emf":
            from vaultline.monitor.emf import render_emf

            sys.stdout.write(render_emf(records))
        else:
            emit_json([record.__dict__ for record in records])
    finally:
        engine.dispose()


@app.command("list")
@handles_errors
def list_alarms(
    pipeline: PipelineOption = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule.")] = None,
    last: Annotated[int, typer.Option("--limit", "--last", min=1, help="At most this many alarms.")] = 20,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Alarms fired, newest first, with the outcome of each delivery."""
    from vaultline.catalog.metrics import list_alarms as stored_alarms
    from vaultline.catalog.schema import open_catalog
    from vaultline.state import State

    url = State.existing(state).catalog_url
    engine = open_catalog(url)
    try:
        events = stored_alarms(engine, url, pipeline=pipeline, rule=rule, last=last)
    finally:
        engine.dispose()
    if json_out:
        emit_json([event.as_dict() for event in events])
        return
    if not events:
        typer.echo("no alarms fired yet")
        return
    from rich.table import Table

    from vaultline.cli.render import console

    table = Table("fired", "severity", "rule", "kind", "pipeline", "run", "deliveries", "message")
    for event in events:
        table.add_row(
            event.fired_at, event.severity, event.rule, event.kind, event.pipeline or "-",
            event.run_id or "-", _deliveries(event), event.message,
        )  # fmt: skip
    console.print(table)


def _deliveries(event: AlarmEvent) -> str:
    return ", ".join(
        f"{d.target} {'ok' if d.outcome == 'delivered' else f'failed ({d.error})'}" for d in event.deliveries
    )


def _rule(spec: Path, name: str, param: list[str] | None) -> tuple[str, Any]:
    from vaultline.spec.loader import load, parse_param

    pipeline = load(spec, dict(parse_param(p) for p in param or [])).pipeline
    for rule in pipeline.alarms:
        if rule.name == name:
            return pipeline.name, rule
    known = ", ".join(rule.name for rule in pipeline.alarms) or "none"
    raise TerminalError(
        f"pipeline {pipeline.name} has no alarm rule named {name}",
        where=str(spec),
        hint=f"rules in this spec: {known}",
    )


@app.command("test")
@handles_errors
def test_rule(
    spec: Annotated[Path, typer.Argument(help="Pipeline spec (YAML).")],
    rule: Annotated[str, typer.Option("--rule", help="The alarm rule whose targets to test.")],
    param: ParamOption = None,
    state: StateOption = None,
) -> None:
    """Send a test alarm through every target of a rule (not recorded); exit 1 if any delivery failed."""
    import uuid
    from datetime import UTC, datetime

    from vaultline.catalog.metrics import AlarmEvent
    from vaultline.monitor.deliver import deliver
    from vaultline.monitor.observe import key_source
    from vaultline.state import State

    pipeline, chosen = _rule(spec, rule, param)
    keys = key_source(State.existing(state))
    event = AlarmEvent(
        id=uuid.uuid4().hex, rule=chosen.name, kind=chosen.kind, severity=chosen.severity,
        message=f"test alarm for rule {chosen.name} of pipeline {pipeline}, sent by `vaultline alarms test`",
        fired_at=datetime.now(UTC).isoformat(timespec="milliseconds"), pipeline=pipeline,
    )  # fmt: skip
    with audited(state, "alarms.test", resource=chosen.name):  # a delivery may derive a signing key
        outcomes = deliver(event, chosen.notify, keys)
    for outcome in outcomes:
        shown = f"delivered ({outcome.attempts} attempt(s))" if outcome.outcome == "delivered" else (
            f"FAILED after {outcome.attempts} attempt(s): {outcome.error}"
        )  # fmt: skip
        typer.echo(f"{outcome.target}: {shown}")
    if any(outcome.outcome == "failed" for outcome in outcomes):
        raise typer.Exit(1)


@app.command("secret")
@handles_errors
def write_secret(  # noqa: PLR0917 - typer maps each parameter to an option
    spec: Annotated[Path, typer.Argument(help="Pipeline spec (YAML).")],
    rule: Annotated[str, typer.Option("--rule", help="The alarm rule.")],
    target: Annotated[
        int, typer.Option("--target", min=1, help="The target's position in `notify`, from 1.")
    ],
    out: Annotated[Path, typer.Option("--out", help="New file to write (owner-only); never printed.")],
    param: ParamOption = None,
    state: StateOption = None,
) -> None:
    """Write the secret a receiver needs: a webhook's HMAC key (hex) or an SMTP account's password."""
    from vaultline.monitor.deliver import SMTP_KEY_CONTEXT, WEBHOOK_KEY_CONTEXT, smtp_password
    from vaultline.monitor.observe import key_source
    from vaultline.monitor.rules import EmailTarget, WebhookTarget
    from vaultline.state import State

    _, chosen = _rule(spec, rule, param)
    if target > len(chosen.notify):
        raise TerminalError(f"rule {rule} has {len(chosen.notify)} target(s)", hint="--target counts from 1")
    picked = chosen.notify[target - 1]
    derive = key_source(State.existing(state))
    with audited(state, "alarms.secret", resource=rule, identifiers={"path": str(out)}):
        if isinstance(picked, WebhookTarget) and picked.signing_key is not None:
            key = derive(picked.signing_key, WEBHOOK_KEY_CONTEXT)
            text, what = key.reveal().hex(), "webhook signing key (hex)"
        elif isinstance(picked, EmailTarget) and picked.login_key is not None:
            text, what = smtp_password(derive(picked.login_key, SMTP_KEY_CONTEXT)), "SMTP password"
        else:
            raise TerminalError(
                f"target {target} of rule {rule} has no secret",
                hint="only a webhook with `signing_key:` or an email target with `login_key:` has one",
            )
        try:
            descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise TerminalError(
                f"{out} already exists", hint="choose a new file; secrets are never overwritten"
            ) from None
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(text + "\n")
    typer.echo(f"wrote the {what} of rule {rule}, target {target}, to {out} (owner-only)")
