"""Regular expressions in a spec: they must compile in the engines' regex syntax (Rust `regex`).

Python's `re` checks the syntax; the constructs Rust's engine lacks (it guarantees linear time) are
refused by name, so `validate` rejects what a run would: look-around, backreferences, atomic groups
and possessive repeats.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_UNSUPPORTED = (
    (re.compile(r"\(\?<?[=!]"), "look-around (`(?=`, `(?!`, `(?<=`, `(?<!`)"),
    (re.compile(r"\\[1-9]|\(\?P=|\\g<"), "a backreference"),
    (re.compile(r"\(\?>"), "an atomic group (`(?>`)"),
    (re.compile(r"[*+?}]\+"), "a possessive repeat (`++`, `*+`, `?+`)"),
)
_ESCAPE_OR_CLASS = re.compile(r"\\.|\[\^?\]?(?:\\.|[^\]\\])*\]", re.S)


def _outside_classes(pattern: str) -> str:
    """The pattern with escapes (other than backreferences) and character classes blanked out, so a
    literal `\\(?=` or `[(?=]` is not taken for look-around."""

    def blank(match: re.Match[str]) -> str:
        text = match.group()
        return text if re.fullmatch(r"\\[1-9g]", text) else "_" * len(text)

    return _ESCAPE_OR_CLASS.sub(blank, pattern)


def check_pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc.msg}") from None
    visible = _outside_classes(value)
    for construct, name in _UNSUPPORTED:
        if construct.search(visible):
            raise ValueError(f"uses {name}, which the engines' regular expressions (Rust `regex`) lack")
    return value


RegularExpression = Annotated[str, AfterValidator(check_pattern)]
"""A pattern every engine compiles (Rust `regex` syntax)."""
