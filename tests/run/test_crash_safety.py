"""Crash safety, small: SIGKILL `vaultline run` during its write phase; nothing partial ever shows.

Three kills: two while the encrypted output streams to its temporary file, one between its rename
and the process's end.

bench/crash_safety.py holds the harness (and runs it large); this runs it on a small input in CI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2]))

from bench.crash_safety import trials


def test_killed_runs_leave_no_partial_version_and_reruns_complete(tmp_path: Path) -> None:
    outcome = trials(tmp_path / "work", rows=60_000, kills=3, seed=7)
    assert outcome.killed_streaming >= 1, "no kill landed while the output streamed: the window is off"
    assert outcome.partial_versions_visible == 0
    assert outcome.catalog_consistent
    assert outcome.reruns_completed == 3


def test_sigterm_ends_a_run_as_failed_and_retryable_with_its_files_removed(tmp_path: Path) -> None:
    import signal

    from bench.crash_safety import _environment, _start_writing, _writing, prepare

    from vaultline.catalog.runs import RunCatalog
    from vaultline.state import State

    work = tmp_path / "work"
    prepare(work, 60_000)
    process, began = _start_writing(work)  # what systemd, Kubernetes and Airflow send to stop a job
    assert began is not None, "the run ended before its output streamed"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    with _environment(work), RunCatalog(State.resolve().catalog_url) as runs:
        (record,) = runs.list()
        report = runs.report(record.run_id)
    assert (record.status, report["error"], report["retryable"]) == ("failed", "stopped by SIGTERM", True)
    assert not _writing(work) and not list((work / ".vaultline" / "spill").glob("*"))


def test_an_interrupt_after_the_commit_leaves_the_run_committed_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.crash_safety import _environment, prepare

    from vaultline.audit.reading import iter_entries
    from vaultline.audit.settings import AuditPaths
    from vaultline.catalog.runs import RunCatalog
    from vaultline.run import runner
    from vaultline.spec.loader import load
    from vaultline.state import State

    work = tmp_path / "work"
    prepare(work, 2_000)
    commit = runner._commit_audited

    def committed_then_interrupted(*args: Any, **kwargs: Any) -> dict[str, int]:
        commit(*args, **kwargs)
        raise KeyboardInterrupt  # Ctrl-C right after the catalog commit

    monkeypatch.setattr(runner, "_commit_audited", committed_then_interrupted)
    spec = Path(__file__).parents[2] / "examples" / "fraud" / "pipeline.yaml"
    with _environment(work):
        loaded = load(spec, {"source_bucket": str(work / "raw"), "target_bucket": str(work / "output")})
        with pytest.raises(KeyboardInterrupt):
            runner.run(loaded, State.resolve())
        with RunCatalog(State.resolve().catalog_url) as runs:
            (record,) = runs.list()
            report = runs.report(record.run_id)
        ends = [
            e
            for e in iter_entries(AuditPaths.of_state(State.resolve().root).segments)
            if e.action == "run.end"
        ]
    assert (
        record.status == "committed" and "interrupted (SIGINT) after committing features@1" in report["error"]
    )
    assert [e.run_id for e in ends] == [record.run_id]
