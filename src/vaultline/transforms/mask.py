"""mask: hide part of a value for display.

Styles: `keep_last` (`************1234`), `keep_first`, `email` (`j***@example.com`: first letter of
the local part and the domain kept), `custom` (a regular expression whose matches are replaced).

Example::

    - mask: {columns: [card_number], style: keep_last, keep: 4}
    - mask: {columns: [email], style: email}
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from vaultline.transforms.base import Protection, ProtectParams, TransformSpec


class Params(ProtectParams):
    protection: ClassVar[Protection] = Protection.MASK
    style: Literal["keep_last", "keep_first", "email", "custom"] = "keep_last"
    keep: int = Field(default=4, ge=0, le=8)
    """Characters left visible for keep_last/keep_first."""
    char: str = Field(default="*", min_length=1, max_length=1)
    pattern: str | None = None
    """With style custom: regular expression whose matches are replaced by `char`s."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value


SPEC = TransformSpec("mask", Params, "partial masking for display")
