"""Patterns in a spec: refused at validation when the engines' regex syntax (Rust `regex`) lacks
what they use, without taking an escaped or bracketed character for the construct."""

from __future__ import annotations

import pytest

from vaultline.transforms.patterns import check_pattern


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        r"[0-9]+$",
        r"\(?=x",
        r"[(?=]",
        r"[]>(?]",
        r"a+b*c?",
        r"\d{3}-\d{2}",
        r"\\",
    ],
)
def test_patterns_both_syntaxes_accept(pattern: str) -> None:
    assert check_pattern(pattern) == pattern


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        (r"(?=a)a+", "look-around"),
        (r"(?<!a)b", "look-around"),
        (r"\\(?=x)", "look-around"),  # an escaped backslash, then look-around
        (r"(a)\1", "a backreference"),
        (r"(?P<n>a)(?P=n)", "a backreference"),
        (r"(?>a)", "an atomic group"),
        (r"a++", "a possessive repeat"),
        (r"([a-", "invalid regular expression: unterminated character set"),
    ],
)
def test_patterns_the_engines_cannot_run_are_refused_by_name(pattern: str, construct: str) -> None:
    with pytest.raises(ValueError, match=r"^(uses |invalid)") as caught:
        check_pattern(pattern)
    assert construct in str(caught.value)
