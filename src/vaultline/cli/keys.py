"""`vaultline keys`: manage keys in the chosen key provider. Material is never printed.

The provider comes from `--provider`, else `VAULTLINE_KEY_PROVIDER`, else the local keyring; providers
are imported only inside commands so `vaultline --help` never loads boto3.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vaultline.cli.common import JsonOption, StateOption, audited, emit_json, handles_errors
from vaultline.keys.provider import KeyRef

if TYPE_CHECKING:
    from vaultline.keys.provider import KeyInfo, KeyProvider

app = typer.Typer(
    help="Manage keys (local keyring, AWS KMS or a plug-in provider; material is never shown).",
    no_args_is_help=True,
)

ProviderOption = Annotated[
    str | None,
    typer.Option(
        "--provider",
        help="Key provider: local, aws-kms or an installed plug-in (default $VAULTLINE_KEY_PROVIDER, "
        "else local).",
        show_default=False,
    ),
]


def _provider(state: Path | None, name: str | None, *, creating: bool = False) -> KeyProvider:
    """The provider over the state directory; only `keys create` makes a missing one (every other
    command works on keys that exist: on a new directory it would create a dev keyring instead)."""
    from vaultline.keys.providers import open_provider
    from vaultline.state import State

    chosen = State.resolve(state).ensure() if creating else State.existing(state)
    return open_provider(chosen.root, name)


def _roles(info: KeyInfo) -> str:
    return ",".join(info.roles) or "any role"


@app.command("create")
@handles_errors
def create(  # noqa: PLR0917 - typer maps each parameter to an option
    name: Annotated[str, typer.Argument(help="Key name, referenced from specs under `keys:`.")],
    purpose: Annotated[str, typer.Option(help="Free-text purpose, e.g. tokenize.")] = "general",
    roles: Annotated[
        str,
        typer.Option(help="Comma list of roles allowed to derive/unwrap with the key (default: any)."),
    ] = "",
    provider: ProviderOption = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create a new 256-bit key."""
    from vaultline.keys.principal import parse_roles

    with audited(state, "keys.create", identifiers={"key": name}, details={"purpose": purpose}):
        info = _provider(state, provider, creating=True).create(
            name, purpose=purpose, roles=parse_roles(roles, where="--roles")
        )
    emit_json(asdict(info)) if json_out else typer.echo(
        f"created key {info.name} (version {info.current_version}, roles: {_roles(info)})"
    )


@app.command("list")
@handles_errors
def list_keys(
    provider: ProviderOption = None, state: StateOption = None, json_out: JsonOption = False
) -> None:
    """List keys with their versions."""
    infos = _provider(state, provider).list()
    if json_out:
        emit_json([asdict(i) for i in infos])
        return
    if not infos:
        typer.echo("no keys yet: vaultline keys create NAME")
    for info in infos:
        versions = ",".join(str(v) for v in info.versions)
        typer.echo(
            f"{info.name:32s} current v{info.current_version}  versions {versions}  "
            f"{info.purpose}  roles {_roles(info)}  {info.created}"
        )


@app.command("info")
@handles_errors
def info(
    name: Annotated[str, typer.Argument(help="Key to describe.")],
    provider: ProviderOption = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show a key's versions, purpose and roles."""
    key = _provider(state, provider).info(KeyRef.plain_name(name))
    if json_out:
        emit_json(asdict(key))
        return
    typer.echo(
        f"{key.name}: current version {key.current_version}, versions "
        f"{','.join(str(v) for v in key.versions)}, purpose {key.purpose}, roles {_roles(key)}, "
        f"created {key.created}"
    )


@app.command("rotate")
@handles_errors
def rotate(
    name: Annotated[str, typer.Argument(help="Key to rotate.")],
    provider: ProviderOption = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a new version; new work uses it, old versions stay for existing data (pin with NAME@VERSION)."""
    key_name, chosen = KeyRef.plain_name(name), _provider(state, provider)
    with audited(state, "keys.rotate", identifiers={"key": name}) as operation:
        info = chosen.rotate(key_name)
        operation.details["version"] = info.current_version
    if json_out:
        emit_json(asdict(info))
        return
    typer.echo(f"rotated {info.name}: current version {info.current_version}")
    if info.name.startswith("vaultline-"):  # Vaultline's own keys wrap data keys: rotation is free for them
        return
    # stderr: a note, not the result; it matters only where the key backs a token domain
    typer.echo(
        f"note: if {info.name} backs a token domain (tokenize, encrypt_deterministic, format_preserving), "
        f"values made with version {info.current_version} differ from older versions' for the same input: "
        "a run appending to a dataset written with an older version is refused; pin "
        f"`{info.name}@{info.current_version - 1}` under `keys:` to keep appending, or rewrite the dataset.",
        err=True,
    )


@app.command("rewrap")
@handles_errors
def rewrap(
    name: Annotated[str, typer.Argument(help="Key whose stored material moves onto its current version.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be re-wrapped.")] = False,
    provider: ProviderOption = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Re-wrap the key material of every dataset file encrypted with NAME, without rewriting data.

    Files with external key material are re-wrapped in place; files keeping it in their footer are
    listed (they stay readable with the old key version; rewriting them is the only way to move them)."""
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.state import State
    from vaultline.storage.rewrap import rewrap_key

    chosen = _provider(state, provider)
    with (
        audited(state, "keys.rewrap", identifiers={"key": name}, details={"dry_run": dry_run}) as operation,
        DatasetCatalog(State.existing(state).catalog_url) as catalog,
    ):
        result = rewrap_key(catalog, chosen, name, dry_run=dry_run)
        operation.details["files"] = len(result.rewrapped)
    if json_out:
        emit_json({"rewrapped": result.rewrapped, "internal_key_material": result.internal})
        return
    verb = "would re-wrap" if dry_run else "re-wrapped"
    typer.echo(f"{verb} {len(result.rewrapped)} file(s) encrypted with {name}")
    if result.internal:
        typer.echo(
            f"{len(result.internal)} file(s) keep their key material in the footer: still readable with the "
            "old key version; set `encryption.key_material: external` for outputs to re-wrap later"
        )


@app.command("roles")
@handles_errors
def roles(
    name: Annotated[str, typer.Argument(help="Key whose roles to show or change.")],
    set_: Annotated[
        str | None,
        typer.Option(
            "--set",
            help="Replace the roles with this comma list ('' makes the key unrestricted). Changing the "
            "roles of a restricted key needs one of them in $VAULTLINE_ROLES.",
            show_default=False,
        ),
    ] = None,
    provider: ProviderOption = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show or set which roles may derive from and unwrap with a key (writing is never restricted)."""
    from vaultline.keys.principal import parse_roles

    key_name, chosen = KeyRef.plain_name(name), _provider(state, provider)
    if set_ is None:
        key = chosen.info(key_name)
    else:
        with audited(state, "keys.set_roles", identifiers={"key": name}) as operation:
            key = chosen.set_roles(key_name, parse_roles(set_, where="--set"))
            operation.details["roles"] = len(key.roles)
    if json_out:
        emit_json({"name": key.name, "roles": list(key.roles)})
        return
    verb = "roles of" if set_ is None else "set roles of"
    typer.echo(f"{verb} {key.name}: {_roles(key)}")
