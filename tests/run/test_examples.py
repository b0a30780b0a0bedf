"""End to end: both examples on generated data, the report's accounting, and no sensitive value anywhere.

The leak scan reads every file a demo run writes (outputs, quarantine, reports, logs, catalog,
keyring) and looks for every raw value of every sensitive input column; Parquet files are read cell
by cell (their pages are compressed, so a byte search would prove nothing).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parquet_files import is_encrypted, read_parquet
from vaultline.demo.fraud import generate_fraud
from vaultline.demo.healthplus import generate_healthplus
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.runner import run
from vaultline.spec.loader import load
from vaultline.state import State

EXAMPLES = Path(__file__).parents[2] / "examples"
ROWS = 3000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.setenv(PASSPHRASE_ENV, "e2e-test-passphrase")
    state = State(out / ".vaultline").ensure()
    datasets = {"healthplus": generate_healthplus(ROWS, out), "fraud": generate_fraud(ROWS, out)}
    keyring = LocalKeyring(state.root, warn=False)
    reports = {}
    for name in ("healthplus", "fraud"):
        overrides = {"source_bucket": str(out / "raw"), "target_bucket": str(out / "output")}
        if name == "healthplus":
            overrides["reference_dir"] = str(EXAMPLES / "healthplus")
        loaded = load(EXAMPLES / name / "pipeline.yaml", overrides)
        for ref in loaded.pipeline.keys.values():
            keyring.ensure(ref)
        reports[name] = run(loaded, state)
    yield {"out": out, "state": state, "datasets": datasets, "reports": reports}
    mp.undo()


@pytest.mark.parametrize("name", ["healthplus", "fraud"])
def test_run_succeeds_and_accounts_for_every_row(demo: dict[str, Any], name: str) -> None:
    report = demo["reports"][name]
    dataset = demo["datasets"][name]
    assert report["status"] == "succeeded"
    rows = report["rows"]
    assert rows["input"] == dataset.rows
    assert rows["input"] == rows["output"] + rows["quarantined"]
    assert sum(rows["quarantine_by_reason"].values()) == rows["quarantined"]
    assert (
        rows["quarantined"] >= sum(dataset.dirty_rows.values()) - dataset.dirty_rows.get("duplicate", 0) * 0
    )
    reasons = set(rows["quarantine_by_reason"])
    assert any(r.startswith("duplicate:") for r in reasons)
    assert any(r.startswith("csv:") for r in reasons)
    assert any(r.startswith(("parse:", "range:", "pattern:", "cast:")) for r in reasons)
    steps = report["steps"]
    assert steps[0]["rows_in"] + sum(steps[0]["quarantined"].values()) >= steps[0]["rows_out"]
    assert steps[-1]["rows_out"] == rows["output"]


@pytest.mark.parametrize("name", ["healthplus", "fraud"])
def test_outputs_match_their_recorded_sha256(demo: dict[str, Any], name: str) -> None:
    for output in demo["reports"][name]["outputs"]:
        data = Path(output["location"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == output["sha256"]
        assert read_parquet(output["location"], demo["state"].root).num_rows == output["rows"]


def test_input_fingerprints(demo: dict[str, Any]) -> None:
    for name, dataset in demo["datasets"].items():
        fingerprint = demo["reports"][name]["inputs"][0]
        assert fingerprint["sha256"] == hashlib.sha256(Path(dataset.data_path).read_bytes()).hexdigest()


def test_fraud_report_records_fitted_statistics(demo: dict[str, Any]) -> None:
    report = demo["reports"]["fraud"]
    bin_step = next(s for s in report["steps"] if s["name"] == "bin")
    assert len(bin_step["facts"]["edges"]) == 9
    # Drift edges lie between amounts, never on one (linear quantiles landed on 5 of 9).
    expect_step = next(s for s in report["steps"] if s["name"] == "expect")
    drift_edges = expect_step["facts"]["baselines"]["amount_stable"]["edges"]
    raw = pl.read_csv(demo["datasets"]["fraud"].data_path, infer_schema=False, truncate_ragged_lines=True)
    amounts = set(raw["amount"].cast(pl.Float64, strict=False).drop_nulls().to_list())
    assert len(drift_edges) == 9 and not amounts & set(drift_edges)
    assert report["anomaly"]["model_fingerprint"]
    assert 0 < report["anomaly"]["flagged_rate"] < 0.05
    encode_step = next(s for s in report["steps"] if s["name"] == "encode")
    assert encode_step["metrics"]
    for column in ("customer_id", "account_number", "email", "card_number", "device_id"):
        assert column in report["protections"]


def test_healthplus_output_is_safe_harbor_shaped(demo: dict[str, Any]) -> None:
    report = demo["reports"]["healthplus"]
    table = read_parquet(report["outputs"][0]["location"], demo["state"].root)
    assert is_encrypted(report["outputs"][0]["location"])
    columns = set(table.column_names)
    assert not columns & {"first_name", "last_name", "street_address", "city", "date_of_birth"}
    assert "age" in columns
    ages = {a for a in table.column("age").to_pylist() if a is not None}
    assert all(a == "90+" or int(a) <= 89 for a in ages)
    zips = {z for z in table.column("zip").to_pylist() if z is not None}
    assert all(len(z) == 3 for z in zips)
    assert table.column("admission_date").type.bit_width <= 32  # a year, not a date
    # the report (and the dataset version) records the protection under the column it wrote
    assert report["protections"]["age"] == ["generalize"] and "date_of_birth" not in report["protections"]


def _sensitive_values(dataset: Any) -> set[str]:
    values: set[str] = set()
    with open(dataset.data_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            for column in dataset.sensitive_columns:
                value = (row.get(column) or "").strip()
                if len(value) >= 4:
                    values.add(value)
    return values


def _parquet_cells(path: Path, state_root: Path) -> set[str]:
    """Every cell, decrypted: a value protected by a transform must not be there even with the keys."""
    cells: set[str] = set()
    for column in read_parquet(path, state_root).columns:
        cells.update(str(v) for v in column.to_pylist() if v is not None)
    return cells


def _whole_values_in(text: str, values: set[str]) -> set[str]:
    """Values that occur in `text` not glued to letters or digits: a surname 'Fields' inside the
    OpenLineage key 'inputFields' is not a leak, 'Fields' between quotes or spaces is."""
    found = {v for v in values if v in text}
    return {v for v in found if re.search(rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])", text)}


def test_no_sensitive_value_in_anything_vaultline_wrote(demo: dict[str, Any]) -> None:
    out: Path = demo["out"]
    sensitive = set().union(*(_sensitive_values(d) for d in demo["datasets"].values()))
    assert len(sensitive) > 1000
    written = [
        p for p in out.rglob("*")
        if p.is_file() and p.relative_to(out).parts[0] not in ("raw", "labels")
    ]  # fmt: skip
    assert any(p.suffix == ".parquet" for p in written) and any(p.name == "report.json" for p in written)
    leaks: list[str] = []
    for path in written:
        if path.suffix == ".parquet":
            found = sensitive & _parquet_cells(path, demo["state"].root)
        else:
            found = _whole_values_in(path.read_bytes().decode("latin-1"), sensitive)
        if found:
            # report where and how many, never the values themselves
            leaks.append(f"{path.relative_to(out)}: {len(found)} value(s)")
    assert not leaks, leaks


def test_runs_are_in_the_catalog(demo: dict[str, Any]) -> None:
    from vaultline.catalog.runs import RunCatalog

    with RunCatalog(demo["state"].catalog_url) as catalog:
        listed = {r.pipeline: r for r in catalog.list()}
        assert set(listed) == {"healthplus", "fraud"}
        report = catalog.report(listed["fraud"].run_id)
        assert report["rows"] == demo["reports"]["fraud"]["rows"]
        assert json.loads(json.dumps(report))  # plain JSON
