"""`vaultline quality show|history`: a run's stored results and one expectation over runs, as text and
JSON, from the state's catalog; no value of the checked data is printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from typer.testing import CliRunner

from stubs import StubContext
from vaultline.catalog.quality import record_results
from vaultline.catalog.runs import RunCatalog
from vaultline.cli.main import app
from vaultline.engines.polars import expect
from vaultline.state import State
from vaultline.transforms.expect import Params

runner = CliRunner()
EMAIL = "ann.secret@example.org"
EXPECTATIONS = Params.model_validate(
    [
        {"name": "emails_present", "kind": "not_null", "columns": ["email"], "severity": "warn"},
        {"name": "amount_sane", "kind": "range", "column": "amount", "min": 0, "severity": "warn"},
    ]
)


def _record(state: Path, run_id: str, amounts: list[float]) -> None:
    frame = pl.DataFrame({"email": [EMAIL] * len(amounts), "amount": amounts})
    results = expect.apply(frame.lazy(), EXPECTATIONS, StubContext()).facts["expectations"]
    record_results(State.resolve(state).ensure().catalog_url, run_id, "fraud", results)


def _invoke(*args: str) -> Any:
    result = runner.invoke(app, ["quality", *args])
    assert result.exit_code == 0, result.output
    assert EMAIL not in result.output and "-7.25" not in result.output
    return result


def test_show_lists_each_expectation_of_the_run(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _record(state, "run-1", [12.5, -7.25, 3.0])
    text = _invoke("show", "run-1", "--state", str(state)).output
    assert "run run-1: 1/2 expectation(s) passed" in text
    lines = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert "passed" in lines["emails_present"] and "not_null" in lines["emails_present"]
    assert "FAILED" in lines["amount_sane"] and " 1 row(s)" in lines["amount_sane"]
    stored = json.loads(_invoke("show", "run-1", "--state", str(state), "--json").stdout)
    assert {(r["name"], r["passed"], r["failed_rows"]) for r in stored} == {
        ("emails_present", True, 0),
        ("amount_sane", False, 1),
    }
    with RunCatalog(State.resolve(state).catalog_url) as runs:
        runs.start("run-2", "fraud", "spec-sha")
    without = _invoke("show", "run-2", "--state", str(state)).output
    assert "run run-2 recorded no data-quality results" in without
    unknown = runner.invoke(app, ["quality", "show", "other", "--state", str(state)])
    assert unknown.exit_code == 1 and "no run with id other" in unknown.output


def test_history_is_newest_first_and_limited(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for run_id, amounts in (("run-a", [1.0]), ("run-b", [-7.25, -7.25]), ("run-c", [2.0])):
        _record(state, run_id, amounts)
    text = _invoke("history", "fraud", "amount_sane", "--limit", "2", "--state", str(state)).output
    assert text.splitlines()[0] == "fraud.amount_sane (range), newest first"
    assert [line.split()[0] for line in text.splitlines()[1:]] == ["run-c", "run-b"]
    assert "FAILED" in text.splitlines()[2] and " 2 row(s)" in text.splitlines()[2]
    every = json.loads(_invoke("history", "fraud", "amount_sane", "--state", str(state), "--json").stdout)
    assert [r["run_id"] for r in every] == ["run-c", "run-b", "run-a"]


def test_history_of_an_unknown_expectation_or_pipeline_is_an_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _record(state, "run-a", [1.0])
    missing = runner.invoke(app, ["quality", "history", "fraud", "unknown", "--state", str(state)])
    assert missing.exit_code == 1
    assert "pipeline fraud has no results of an expectation named unknown" in missing.output
    assert "its expectations with results: amount_sane, emails_present" in missing.output
    other = runner.invoke(app, ["quality", "history", "nopipe", "x", "--state", str(state), "--json"])
    assert other.exit_code == 1 and other.stdout == ""
    assert "no run of a pipeline named nopipe recorded data-quality results" in other.output
