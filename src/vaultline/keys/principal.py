"""Who is using a key, with which roles, and the one check every provider applies before a key use.

The principal is `VAULTLINE_PRINCIPAL` (else the OS user name) and the roles are `VAULTLINE_ROLES`, a
comma list. Both are read on every call rather than cached, so a long-lived process picks up changes.

Roles mark who may *read* through a key (an entry `principal:NAME` admits one principal by name):
`derive` and `unwrap_data_key` of a key that lists roles are refused unless the caller holds one of
them, and so is changing those roles. Writing (`wrap_key`,
`generate_data_key`) stays open, so a pipeline can protect data it will never be allowed to read
back. A key without roles, including every key written before roles existed, is unrestricted.

These roles are Vaultline's own policy, enforced in-process; they complement, not replace, what the
backing store enforces (file permissions and the passphrase, IAM and key policies for KMS).
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from vaultline.errors import KeyringError
from vaultline.keys import hooks
from vaultline.keys.hooks import Action, KeyUse
from vaultline.keys.provider import KeyAccessDenied

ROLES_ENV = "VAULTLINE_ROLES"
PRINCIPAL_ENV = "VAULTLINE_PRINCIPAL"
# Letters, digits and `_ . -`: safe in a KMS tag value and in a comma list, and never a value. An
# entry `principal:NAME` grants one principal (`@` allowed for user@domain names) rather than a role.
_ROLE = re.compile(r"^(principal:[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")
PRINCIPAL_PREFIX = "principal:"
# Reading through a key (and changing who may) needs a role; writing under it does not.
GUARDED_ACTIONS: frozenset[Action] = frozenset({"derive", "unwrap_data_key", "set_roles"})


@dataclass(frozen=True)
class Caller:
    """The principal on whose behalf key operations run and the roles it holds."""

    principal: str
    roles: frozenset[str]


def normalize_roles(roles: Iterable[str], *, where: str = "roles") -> tuple[str, ...]:
    """Validated, de-duplicated, sorted role names (a stable order for storage and display)."""
    cleaned = {role.strip() for role in roles if role.strip()}
    bad = sorted(role for role in cleaned if not _ROLE.match(role))
    if bad:
        raise KeyringError(
            f"{len(bad)} role name(s) are not valid: {', '.join(repr(b[:64]) for b in bad)}",
            hint="use letters, digits, '_', '.' and '-' (up to 64 characters), e.g. 'analyst'",
            where=where,
        )
    return tuple(sorted(cleaned))


def parse_roles(text: str, *, where: str = "roles") -> tuple[str, ...]:
    """Roles from a comma list such as 'analyst,auditor' (an empty text means no roles)."""
    return normalize_roles(text.split(","), where=where)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers often run a uid without a passwd entry
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def current_caller() -> Caller:
    principal = os.environ.get(PRINCIPAL_ENV, "").strip() or _os_user()
    roles = parse_roles(os.environ.get(ROLES_ENV, ""), where=f"${ROLES_ENV}")
    grants = [role for role in roles if role.startswith(PRINCIPAL_PREFIX)]
    if grants:
        raise KeyringError(
            f"{len(grants)} entry(ies) are principal grants, not roles: a key's `principal:NAME` entry "
            "admits the principal of that name, never a caller who lists it among its roles",
            hint=f"list role names only in ${ROLES_ENV} (e.g. analyst,auditor)",
            where=f"${ROLES_ENV}",
        )
    return Caller(principal=principal, roles=frozenset(roles))


def refusal(
    caller: Caller, *, key: str, key_roles: tuple[str, ...], action: Action
) -> KeyAccessDenied | None:
    """The error to raise if `caller` may not perform `action` on a key restricted to `key_roles`."""
    roles = [role for role in key_roles if not role.startswith(PRINCIPAL_PREFIX)]
    if action not in GUARDED_ACTIONS or not key_roles or caller.roles.intersection(roles):
        return None
    if f"{PRINCIPAL_PREFIX}{caller.principal}" in key_roles:
        return None
    held = ", ".join(sorted(caller.roles)) or "none"
    named = len(key_roles) - len(roles)
    admits = f"{named} principal(s) by name" if named else ""
    return KeyAccessDenied(
        f"principal '{caller.principal}' may not {action} with key '{key}': the key is restricted to "
        + " and ".join(part for part in (f"role(s) {', '.join(roles)}" if roles else "", admits) if part)
        + f", and the caller holds {held}",
        hint=(f"run with {ROLES_ENV} including one of: {', '.join(roles)}; or " if roles else "")
        + f"have a principal the key admits change its roles: vaultline keys roles {key} --set ROLE,...",
    )


def admit(
    *,
    provider: str,
    action: Action,
    key: str,
    version: int | None,
    key_roles: tuple[str, ...] = (),
    context: str | None = None,
) -> Caller:
    """Check the caller's roles, record the use with the hooks, then refuse if it was denied.

    Called before the operation takes effect. A denied attempt is recorded too (an audit log wants to
    see refusals); a failing hook refuses the operation either way.
    """
    caller = current_caller()
    denied = refusal(caller, key=key, key_roles=key_roles, action=action)
    hooks.notify(
        KeyUse(
            action=action,
            key=key,
            version=version,
            principal=caller.principal,
            context=context,
            provider=provider,
            outcome="denied" if denied else "allowed",
        )
    )
    if denied is not None:
        raise denied
    return caller
