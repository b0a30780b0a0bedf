"""The terminal summary of a run: lines that only appear when they have something to say."""

from __future__ import annotations

from typing import Any

import pytest

from vaultline.cli import render


def _summary(capsys: pytest.CaptureFixture[str], **extra: Any) -> str:
    report = {"pipeline": "p", "run_id": "r1", "status": "succeeded", "seconds": 1.0, "rows": {}, **extra}
    render.summary(report)
    return capsys.readouterr().out


def test_a_run_without_expectations_prints_no_quality_line(capsys: pytest.CaptureFixture[str]) -> None:
    out = _summary(capsys, quality={"expectations": 0, "passed": 0, "results": []})
    assert "data quality" not in out and "0/0" not in out


def test_the_quality_line_names_the_expectations_not_passed(capsys: pytest.CaptureFixture[str]) -> None:
    results = [{"name": "keys_present", "passed": True}, {"name": "amount_stable", "passed": False}]
    out = _summary(capsys, quality={"expectations": 2, "passed": 1, "results": results})
    assert "data quality: 1/2 expectations passed; not passed: amount_stable" in out


def test_one_source_with_nothing_new_does_not_say_no_version_was_committed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    marks = {"s1": {"by": "files", "new_files": 1, "new_input": True}}
    marks["s2"] = {"by": "files", "new_files": 0, "new_input": False}
    out = _summary(capsys, incremental=marks)
    assert "incremental s2: 0 new file(s) — nothing new\n" in out and "no version committed" not in out
    marks["s1"] = {"by": "files", "new_files": 0, "new_input": False}
    assert _summary(capsys, incremental=marks).count("nothing new, no version committed") == 2
