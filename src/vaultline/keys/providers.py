"""Choose a key provider by name: the built-ins below, or plug-ins from the `vaultline.key_providers`
entry-point group.

The name comes from the argument, else `VAULTLINE_KEY_PROVIDER`, else `local`. A plug-in's entry point
names a factory `callable(state_root: Path) -> KeyProvider` (docs/keys.md shows one). Built-in names
win over a plug-in registering the same name, so installing a package can never silently swap the
provider a deployment relies on.

Built-ins are imported only when chosen: `aws-kms` pulls in boto3, the local keyring does not.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from vaultline.errors import KeyringError
from vaultline.keys.provider import KeyProvider

PROVIDER_ENV = "VAULTLINE_KEY_PROVIDER"
ENTRY_POINT_GROUP = "vaultline.key_providers"
DEFAULT_PROVIDER = "local"

ProviderFactory = Callable[[Path], KeyProvider]

# Methods a plug-in's provider must have; checked when it is opened so a broken plug-in fails at
# selection, naming itself, rather than halfway through a run.
_REQUIRED = (
    "create",
    "set_roles",
    "rotate",
    "list",
    "info",
    "derive",
    "generate_data_key",
    "wrap_key",
    "unwrap_data_key",
)


def _local(state_root: Path) -> KeyProvider:
    from vaultline.keys.local import LocalKeyring

    return LocalKeyring(state_root)


def _aws_kms(state_root: Path) -> KeyProvider:
    # KMS holds all its state; the endpoint and region come from the environment.
    from vaultline.keys.aws_kms import AwsKmsProvider

    return AwsKmsProvider()


BUILTIN_PROVIDERS: tuple[tuple[str, ProviderFactory], ...] = (
    ("local", _local),
    ("aws-kms", _aws_kms),
)


def _plugins() -> dict[str, EntryPoint]:
    """Entry points in the plug-in group by name (not loaded yet: loading imports the plug-in)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_providers() -> tuple[str, ...]:
    """Built-in names first, in their fixed order, then plug-in names sorted."""
    builtins = tuple(name for name, _ in BUILTIN_PROVIDERS)
    return builtins + tuple(sorted(name for name in _plugins() if name not in builtins))


def selected_name(name: str | None = None) -> str:
    return (name or os.environ.get(PROVIDER_ENV) or DEFAULT_PROVIDER).strip().lower()


def open_provider(state_root: Path, name: str | None = None) -> KeyProvider:
    """The key provider called `name` (else $VAULTLINE_KEY_PROVIDER, else `local`) over `state_root`."""
    chosen = selected_name(name)
    for builtin, factory in BUILTIN_PROVIDERS:
        if chosen == builtin:
            return factory(state_root)
    entry = _plugins().get(chosen)
    if entry is None:
        raise KeyringError(
            f"no key provider named '{chosen}' (available: {', '.join(available_providers())})",
            hint=f"pass --provider with one of those, or set {PROVIDER_ENV}; a plug-in provider is found "
            f"once its package is installed and declares an entry point in the group '{ENTRY_POINT_GROUP}'",
        )
    return _open_plugin(chosen, entry, state_root)


def _open_plugin(name: str, entry: EntryPoint, state_root: Path) -> KeyProvider:
    target = entry.value
    try:
        factory = entry.load()
        provider = factory(state_root)
    except Exception as exc:
        raise KeyringError(
            # The type only: a plug-in's message might quote its own configuration (a token, a URL).
            f"the key provider plug-in '{name}' ({target}) failed to load ({type(exc).__name__})",
            hint="reinstall or fix the package providing it, or choose another provider",
            where=f"entry point group {ENTRY_POINT_GROUP}",
        ) from exc
    missing = [method for method in _REQUIRED if not callable(getattr(provider, method, None))]
    if missing:
        raise KeyringError(
            f"the key provider plug-in '{name}' ({target}) lacks {', '.join(missing)}",
            hint="a provider implements every method of vaultline.keys.provider.KeyProvider",
            where=f"entry point group {ENTRY_POINT_GROUP}",
        )
    provider_typed: KeyProvider = provider
    return provider_typed
