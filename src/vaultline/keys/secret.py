"""Secret material that never prints itself (dlt-style): repr, str and format show only a label."""

from __future__ import annotations

import hmac
from typing import Any


class SecretBytes:
    """Key bytes wrapped so that logs, reprs, reports and tracebacks show `SecretBytes(<label>)`."""

    __slots__ = ("_label", "_value")

    def __init__(self, value: bytes, label: str = "secret") -> None:
        self._value = bytes(value)
        self._label = label

    def reveal(self) -> bytes:
        """The raw bytes; call only where they are handed straight to a cryptographic primitive."""
        return self._value

    @property
    def label(self) -> str:
        return self._label

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"SecretBytes({self._label}, {len(self._value)} bytes)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretBytes) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash((type(self), self._label))

    def __reduce__(self) -> Any:
        raise TypeError("SecretBytes cannot be pickled: key material must not leave the process")
