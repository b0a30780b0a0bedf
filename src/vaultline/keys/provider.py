"""The interface every key provider implements: the local keyring, AWS KMS and entry-point plug-ins.

`keys/providers.py` chooses one by name; docs/keys.md explains how to write a plug-in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vaultline.errors import KeyringError
from vaultline.keys.secret import SecretBytes

_REF = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_.-]{0,63})(?:@(?P<version>[1-9][0-9]*))?$")


@dataclass(frozen=True)
class KeyRef:
    """A reference to a key by name, optionally pinned to a version: `customer_salt` or `customer_salt@2`."""

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> KeyRef:
        match = _REF.match(text)
        if not match:
            raise KeyringError(
                f"'{text[:64]}' is not a key reference",
                hint="use a key name such as 'customer_salt', optionally pinned as 'customer_salt@2'",
            )
        version = match.group("version")
        return cls(match.group("name"), int(version) if version else None)

    @classmethod
    def plain_name(cls, text: str) -> str:
        """A key's own name, which has no version: `name@2` refers to version 2 of `name`."""
        ref = cls.parse(text)
        if ref.version is not None:
            raise KeyringError(
                f"'{text}' is a reference to version {ref.version} of key '{ref.name}', not a key name",
                hint=f"name the key itself: '{ref.name}'",
            )
        return ref.name

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


@dataclass(frozen=True)
class KeyInfo:
    """Metadata about a key: never its material."""

    name: str
    current_version: int
    versions: tuple[int, ...]
    created: str
    purpose: str
    roles: tuple[str, ...] = ()
    """Roles allowed to derive from / unwrap with this key; empty means unrestricted."""


class KeyAccessDenied(KeyringError):
    """The caller holds none of the roles a key is restricted to. Names key and principal, never material."""


class KeyProvider(Protocol):
    """Generate, wrap and unwrap data keys and derive per-domain keys. Raises KeyringError when refused."""

    def create(self, name: str, *, purpose: str = "general", roles: Sequence[str] = ()) -> KeyInfo: ...

    def set_roles(self, name: str, roles: Sequence[str]) -> KeyInfo:
        """Restrict reading through `name` to `roles` (empty: unrestricted); needs one of the old roles."""
        ...

    def rotate(self, name: str) -> KeyInfo: ...

    def list(self) -> list[KeyInfo]: ...

    def info(self, name: str) -> KeyInfo: ...

    def derive(self, ref: KeyRef, *, context: str) -> tuple[SecretBytes, int]:
        """A 32-byte key for `context` (e.g. 'tokenize/customer') and the master key version it came from."""
        ...

    def generate_data_key(self, ref: KeyRef) -> tuple[SecretBytes, bytes]:
        """A fresh 32-byte data key and its wrapped form (safe to store beside the data)."""
        ...

    def wrap_key(self, ref: KeyRef, key: bytes) -> bytes:
        """`key` wrapped by master key `ref` (current version unless pinned); the master never leaves."""
        ...

    def unwrap_data_key(self, name: str, wrapped: bytes) -> SecretBytes:
        """The data key inside `wrapped`, whichever version of `name` wrapped it. Raises KeyringError
        when the blob was wrapped by another key or altered, KeyAccessDenied when the caller's roles
        do not allow it."""
        ...
