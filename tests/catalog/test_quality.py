"""Data-quality results in the catalog, on SQLite and PostgreSQL: a run's results round-trip as the
expect step produced them, history lists one expectation newest first, a re-record replaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
import pytest

from stubs import StubContext
from vaultline.catalog.quality import history, record_results, results_for
from vaultline.catalog.runs import RunCatalog
from vaultline.engines.polars import expect
from vaultline.errors import CatalogError
from vaultline.transforms.expect import Params

EXPECTATIONS: list[dict[str, Any]] = [
    {"name": "ids", "kind": "not_null", "columns": ["id", "account"], "severity": "warn"},
    {"name": "amount_sane", "kind": "range", "column": "amount", "min": 0, "severity": "quarantine"},
    {"name": "volume", "kind": "row_count", "min": 1, "max": 100, "severity": "warn"},
    {"name": "amount_stable", "kind": "distribution_drift", "column": "amount", "severity": "warn"},
]


def _results(amounts: Sequence[float | None]) -> list[dict[str, Any]]:
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(len(amounts))], "account": "a", "amount": amounts})
    facts = expect.apply(frame.lazy(), Params.model_validate(EXPECTATIONS), StubContext()).facts
    results: list[dict[str, Any]] = facts["expectations"]
    return results


def _without_record_fields(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in ("run_id", "recorded_at")} for row in rows]


def test_results_round_trip(catalog_url: str) -> None:
    produced = _results([10.5, -2.25, None, 7.75])
    record_results(catalog_url, "run-1", "fraud", produced)
    stored = results_for(catalog_url, "run-1")
    assert _without_record_fields(stored) == sorted(produced, key=lambda r: r["name"])
    assert {r["run_id"] for r in stored} == {"run-1"}
    by_name = {r["name"]: r for r in stored}
    assert by_name["amount_sane"]["failed_rows"] == 1 and by_name["amount_sane"]["passed"] is False
    assert by_name["volume"]["observed"] == {"rows": 4, "min": 1, "max": 100}
    assert results_for(catalog_url, "no-such-run") == []


def test_history_is_newest_first_and_per_pipeline(catalog_url: str) -> None:
    for run_id, amounts in (("run-a", [1.5, 2.5]), ("run-b", [-1.5, 2.5]), ("run-c", [-1.5, -2.5])):
        record_results(catalog_url, run_id, "fraud", _results(amounts))
    record_results(catalog_url, "other-run", "healthplus", _results([-3.5]))
    past = history(catalog_url, "fraud", "amount_sane", limit=2)
    assert [(r["run_id"], r["failed_rows"]) for r in past] == [("run-c", 2), ("run-b", 1)]
    assert len(history(catalog_url, "fraud", "amount_sane")) == 3
    assert history(catalog_url, "fraud", "unknown") == []


def test_recording_a_run_again_replaces_its_results(catalog_url: str) -> None:
    record_results(catalog_url, "run-1", "fraud", _results([-1.5]))
    record_results(catalog_url, "run-1", "fraud", _results([1.5]))
    assert {r["name"]: r["passed"] for r in results_for(catalog_url, "run-1")}["amount_sane"] is True
    record_results(catalog_url, "run-2", "fraud", [])
    assert results_for(catalog_url, "run-2") == []


def test_latest_succeeded_run_skips_failed_running_and_empty_runs(catalog_url: str) -> None:
    with RunCatalog(catalog_url) as catalog:
        assert catalog.latest_succeeded("fraud") is None and catalog.latest_succeeded_report("fraud") is None
        for run_id, status, rows in (("r1", "succeeded", 5), ("r2", "succeeded", 0), ("r3", "failed", 5),
                                     ("r4", "running", None)):  # fmt: skip
            catalog.start(run_id, "fraud", "sha")
            if rows is not None:
                catalog.finish(run_id, {"run_id": run_id, "status": status, "rows": {"input": rows}})
        catalog.start("h1", "healthplus", "sha")
        catalog.finish("h1", {"run_id": "h1", "status": "succeeded", "rows": {"input": 9}})
        assert catalog.latest_succeeded("fraud") == "r1"
        assert catalog.latest_succeeded_report("fraud") == {
            "run_id": "r1",
            "status": "succeeded",
            "rows": {"input": 5},
        }


def test_an_unreachable_catalog_is_a_value_free_error(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'dir' / 'catalog.db'}"
    with pytest.raises(CatalogError, match="cannot be opened") as caught:
        record_results(url, "run-1", "fraud", _results([1.5]))
    assert "1.5" not in caught.value.render()
