"""mask: hide part of a value for display.

Styles: `keep_last` (`************1234`), `keep_first`, `email` (`j***@example.com`: first letter of
the local part and the domain kept), `custom` (a regular expression whose matches are replaced).

Example::

    - mask: {columns: [card_number], style: keep_last, keep: 4}
    - mask: {columns: [email], style: email}
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from vaultline.transforms.base import Protection, ProtectParams, TransformSpec
from vaultline.transforms.patterns import RegularExpression


class Params(ProtectParams):
    protection: ClassVar[Protection] = Protection.MASK
    style: Literal["keep_last", "keep_first", "email", "custom"] = "keep_last"
    keep: int = Field(default=4, ge=0, le=8)
    """Characters left visible for keep_last/keep_first."""
    char: str = Field(default="*", min_length=1, max_length=1)
    pattern: RegularExpression | None = None
    """With style custom: regular expression whose matches are replaced by `char`s."""

    @model_validator(mode="after")
    def _custom_has_a_pattern(self) -> Params:
        if self.style == "custom" and self.pattern is None:
            raise ValueError("style custom needs a `pattern`: a regular expression whose matches are masked")
        return self


SPEC = TransformSpec("mask", Params, "partial masking for display")
