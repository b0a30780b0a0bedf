"""`vaultline keys`: manage the local keyring. Material is never printed."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from vaultline.keys.local import LocalKeyring

from vaultline.cli.common import JsonOption, StateOption, emit_json, handles_errors

app = typer.Typer(
    help="Manage the local keyring (keys are stored encrypted; material is never shown).",
    no_args_is_help=True,
)


def _keyring(state: Path | None) -> LocalKeyring:
    from vaultline.keys.local import LocalKeyring
    from vaultline.state import State

    return LocalKeyring(State.resolve(state).ensure().root)


@app.command("create")
@handles_errors
def create(
    name: Annotated[str, typer.Argument(help="Key name, referenced from specs under `keys:`.")],
    purpose: Annotated[str, typer.Option(help="Free-text purpose, e.g. tokenize.")] = "general",
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create a new 256-bit key."""
    info = _keyring(state).create(name, purpose=purpose)
    emit_json(asdict(info)) if json_out else typer.echo(
        f"created key {info.name} (version {info.current_version})"
    )


@app.command("list")
@handles_errors
def list_keys(state: StateOption = None, json_out: JsonOption = False) -> None:
    """List keys with their versions."""
    infos = _keyring(state).list()
    if json_out:
        emit_json([asdict(i) for i in infos])
        return
    if not infos:
        typer.echo("no keys yet: vaultline keys create NAME")
    for info in infos:
        versions = ",".join(str(v) for v in info.versions)
        typer.echo(
            f"{info.name:32s} current v{info.current_version}  versions {versions}  "
            f"{info.purpose}  {info.created}"
        )


@app.command("rotate")
@handles_errors
def rotate(
    name: Annotated[str, typer.Argument(help="Key to rotate.")],
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a new version; new work uses it, old versions stay for existing data (pin with NAME@VERSION)."""
    info = _keyring(state).rotate(name)
    emit_json(asdict(info)) if json_out else typer.echo(
        f"rotated {info.name}: current version {info.current_version}"
    )
