"""Whether the process that started a run (or owns a spill) still runs: its id alone does not say.

Linux reuses process ids: a killed run's id may belong to an unrelated process minutes later. A
process is the one recorded only if it also started when recorded (`/proc/<pid>/stat`'s start time);
a zombie (ended, not yet reaped) runs no more. Elsewhere, without /proc, the id is all there is.
"""

from __future__ import annotations

import os
from pathlib import Path

_SLACK_SECONDS = 1.0
"""Start times are whole clock ticks since boot, and boot time whole seconds: they round."""


def process_start(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), from Linux's /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def is_running(pid: int, *, started: float | None = None) -> bool:
    """Whether `pid` runs, and (when `started` is known) is the process that started then."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    try:
        if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    now_started = process_start(pid)
    if started is None or now_started is None:
        return True
    return abs(now_started - started) <= _SLACK_SECONDS
