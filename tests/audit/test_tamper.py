"""The tamper test, measured: 100 seeded mutations of each kind, each on a fresh copy of a real log.

bench/audit_tamper.py holds the harness (and prints the table); this runs it on a log of ~2,000 entries
over several segments and asserts the detection rates docs/audit.md reports.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from bench.audit_tamper import KINDS, bench_environment, build_log, tamper_trials


def test_every_kind_of_tampering_is_detected_except_cutting_the_unprotected_tail(tmp_path: Path) -> None:
    with bench_environment(segment_entries=300):
        built = build_log(tmp_path / "state", runs=36, seed=11)
    assert built.entries >= 1_900 and built.segments >= 6 and built.checkpoints >= 40
    outcome = tamper_trials(built, tmp_path / "trials", trials=100, seed=11)
    print(f"\nlog: {built.entries} entries, {built.segments} segments, {built.checkpoints} checkpoints")
    print(outcome.table())
    for kind in KINDS:
        tally = outcome.tallies[kind]
        assert tally.detected == tally.trials, f"{kind}: {tally.detected}/{tally.trials} detected"
    assert sum(t.trials for t in outcome.tallies.values()) + outcome.unprotected_tail.trials == 600
    tail = outcome.unprotected_tail
    # The documented limit: a cut after the last checkpoint copied to the second location is invisible.
    assert tail.trials > 20 and tail.detected == 0
