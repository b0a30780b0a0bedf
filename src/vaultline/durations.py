"""Durations as people write them in specs and options: a whole number and a unit (`90m`, `36h`, `7d`,
`2w`). One parser for every field that takes one (derive windows, freshness, alarm windows, `gc --grace`)."""

from __future__ import annotations

import re

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhdw])\s*$")


def duration_seconds(text: str) -> int | None:
    """'36h' → 129600; None when `text` is not a number followed by one of s, m, h, d, w."""
    match = _DURATION.match(text.lower())
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)] if match else None
