"""Crash safety, small: SIGKILL `vaultline run` during its write phase; nothing partial ever shows.

Three kills: two while the encrypted output streams to its temporary file, one between its rename
and the process's end.

bench/crash_safety.py holds the harness (and runs it large); this runs it on a small input in CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from bench.crash_safety import trials


def test_killed_runs_leave_no_partial_version_and_reruns_complete(tmp_path: Path) -> None:
    outcome = trials(tmp_path / "work", rows=60_000, kills=3, seed=7)
    assert outcome.killed_streaming >= 1, "no kill landed while the output streamed: the window is off"
    assert outcome.partial_versions_visible == 0
    assert outcome.catalog_consistent
    assert outcome.reruns_completed == 3
