"""redact: replace every non-null value with a fixed marker (default `[REDACTED]`).

Example::

    - redact: {columns: [notes]}
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from vaultline.transforms.base import Protection, ProtectParams, TransformSpec


class Params(ProtectParams):
    protection: ClassVar[Protection] = Protection.REDACT
    replacement: str = Field(default="[REDACTED]", max_length=64)


SPEC = TransformSpec("redact", Params, "replace values with a marker")
