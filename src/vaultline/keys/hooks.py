"""Key-use hooks: every provider reports each key operation here before it happens.

The audit log comes later and will be one callback registered here; until then tests and operators can
register their own. A `KeyUse` is value-free by construction (names, versions, the derivation context
such as 'tokenize/customer', never material), so a hook can write it anywhere.

A hook runs *before* the operation takes effect and a hook that raises stops it (fail closed): an
unwrap that could not be recorded must not happen. A hook that raises a `VaultlineError` refuses with
that error (a policy hook may deny on purpose); any other exception becomes `KeyUnavailableError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from vaultline.errors import KeyUnavailableError, VaultlineError

Action = Literal[
    "create", "rotate", "set_roles", "derive", "generate_data_key", "wrap_key", "unwrap_data_key"
]
Outcome = Literal["allowed", "denied"]


@dataclass(frozen=True, slots=True)
class KeyUse:
    """One key operation: who did what with which key version. Never carries key material."""

    action: Action
    key: str
    version: int | None
    principal: str
    context: str | None = None
    """The derivation context ('tokenize/customer') for `derive`; None otherwise."""
    provider: str = "local"
    outcome: Outcome = "allowed"
    """'denied' when the caller's roles refused the operation (it is recorded, then refused)."""


Hook = Callable[[KeyUse], None]

_lock = threading.Lock()
_hooks: list[Hook] = []


def register(callback: Hook) -> Hook:
    """Call `callback` on every key use from now on; returns it, so it works as a decorator."""
    with _lock:
        if callback not in _hooks:
            _hooks.append(callback)
    return callback


def unregister(callback: Hook) -> None:
    """Stop calling `callback`; unregistering one that is not registered is a no-op."""
    with _lock:
        if callback in _hooks:
            _hooks.remove(callback)


def registered() -> tuple[Hook, ...]:
    with _lock:
        return tuple(_hooks)


def notify(use: KeyUse) -> None:
    """Hand `use` to every hook in registration order; the first failure refuses the operation."""
    for hook in registered():  # a snapshot: a hook may unregister itself while we iterate
        try:
            hook(use)
        except VaultlineError:
            raise
        except Exception as exc:
            name = getattr(hook, "__qualname__", type(hook).__name__)
            raise KeyUnavailableError(
                f"the key-use hook '{name}' failed ({type(exc).__name__}) while recording "
                f"{use.action} of key '{use.key}'; the operation was refused (fail closed)",
                hint="fix the hook or unregister it (vaultline.keys.hooks.unregister); key operations "
                "resume as soon as it records successfully",
                where=f"{use.provider} key provider",
            ) from exc
