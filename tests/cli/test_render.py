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
