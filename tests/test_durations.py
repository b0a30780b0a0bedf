"""The one duration parser every spec field and option uses."""

from __future__ import annotations

import pytest

from vaultline.durations import duration_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("90m", 5400), ("36h", 129600), ("7d", 604800), ("2w", 1209600), (" 24H ", 86400),
     ("0h", 0)],
)  # fmt: skip
def test_a_number_and_a_unit(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "24", "1.5h", "-1d", "3 days", "10y"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    assert duration_seconds(text) is None
