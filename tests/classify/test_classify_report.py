"""`vaultline classify` on the demo datasets: entities per column, stable JSON, sampling, no values."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.classify.report import classify_location
from vaultline.classify.sample import MIN_ROWS, sample_source, source_for
from vaultline.cli.main import app
from vaultline.demo.fraud import generate_fraud
from vaultline.demo.healthplus import SENSITIVE_COLUMNS as HEALTH_SENSITIVE
from vaultline.demo.healthplus import generate_healthplus
from vaultline.state import STATE_ENV

ROWS = 4000
runner = CliRunner()

EXPECTED = {
    "patients": {
        "patient_id": "PERSON_ID", "first_name": "PERSON_NAME", "last_name": "PERSON_NAME",
        "date_of_birth": "DATE_OF_BIRTH", "gender": None, "email": "EMAIL", "phone": "PHONE_NUMBER",
        "street_address": "ADDRESS", "city": "LOCATION", "state": None, "zip": "ZIP_CODE", "country": None,
        "ssn": "USA_SSN", "mrn": "MEDICAL_RECORD_NUMBER", "insurance_member_id": "HEALTH_PLAN_ID",
        "condition_code": "ICD10_CODE", "condition_name": None, "admission_date": "DATE",
        "discharge_date": "DATE", "provider_npi": "USA_NATIONAL_PROVIDER_IDENTIFIER", "billed_amount": None,
    },
    "transactions": {
        "transaction_id": None, "customer_id": "PERSON_ID", "account_number": "BANK_ACCOUNT",
        "card_number": "CREDIT_CARD", "email": "EMAIL", "ip_address": "IP_ADDRESS", "device_id": "DEVICE_ID",
        "amount": None, "currency": None, "mcc": None, "merchant_name": None, "timestamp": None,
        "country": None,
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("classify")
    generate_healthplus(ROWS, out)
    generate_fraud(ROWS, out)
    return out / "raw"


@pytest.mark.parametrize("name", ["patients", "transactions"])
def test_demo_columns_get_their_entities(raw: Path, name: str) -> None:
    report = classify_location(str(raw / f"{name}.csv"))
    assert {c["name"]: c["entity"] for c in report["columns"]} == EXPECTED[name]
    flagged = [c for c in report["columns"] if c["entity"]]
    assert all(c["sensitivity"] in ("pii", "phi", "pci", "credential") for c in flagged)
    assert all(
        c["sensitivity"] == "none" and c["confidence"] == 0 for c in report["columns"] if not c["entity"]
    )


def test_report_is_stable_json_without_any_input_value(raw: Path) -> None:
    path = raw / "patients.csv"
    first = classify_location(str(path))
    assert json.dumps(first, sort_keys=True) == json.dumps(classify_location(str(path)), sort_keys=True)
    assert set(first) == {"source", "sample", "settings", "columns"}
    # 10% of 4,000 is under the floor: the first 1,000 rows are added to the ~400 drawn
    assert MIN_ROWS < first["sample"]["rows"] < MIN_ROWS + 400
    assert first["settings"] == {"threshold": 0.5, "context_threshold": 0.1}
    text = json.dumps(first)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    leaked = {
        column for row in rows for column in HEALTH_SENSITIVE
        if len(row[column]) >= 4 and f'"{row[column]}"' in text
    }  # fmt: skip
    assert leaked == set()


def test_sample_is_a_deterministic_spread_with_a_floor_and_a_ceiling(raw: Path) -> None:
    source = source_for(str(raw / "transactions.csv"))
    half = sample_source("t", source, 0.5)
    assert 1800 <= half.frame.height <= 2200  # half the rows, drawn by a hash of the row position
    assert half.frame.equals(sample_source("t", source, 0.5).frame)
    assert MIN_ROWS <= sample_source("t", source, 0.01).frame.height < MIN_ROWS + 60
    assert half.fingerprints and "sha256" in half.fingerprints[0]


def test_a_spec_source_can_be_classified_by_name(raw: Path) -> None:
    local = raw.parent / "spec.yaml"
    local.write_text(
        "version: 1\nname: t\nsources:\n  tx:\n    format: csv\n    path: " + str(raw / "transactions.csv")
        + "\nsteps: []\noutputs:\n  out:\n    path: " + str(raw.parent / "out") + "\n"
    )  # fmt: skip
    report = classify_location(f"{local}:tx")
    assert report["source"] == f"{local}:tx"
    assert {c["name"]: c["entity"] for c in report["columns"]} == EXPECTED["transactions"]
    # a spec whose paths take parameters: given on the command line, as for `run`
    with_params = raw.parent / "with-params.yaml"
    with_params.write_text(
        "version: 1\nname: t\nparams: {bucket: nowhere}\nsources:\n  tx:\n    format: csv\n"
        '    path: "${params.bucket}/transactions.csv"\nsteps: []\noutputs:\n  out:\n    path: out\n'
    )
    result = cli(f"{with_params}:tx", "--param", f"bucket={raw}", "--json")
    assert result.exit_code == 0, result.output
    assert {c["name"]: c["entity"] for c in json.loads(result.stdout)["columns"]} == EXPECTED["transactions"]


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))  # `classify` audits what it reads


def cli(*args: str) -> Any:
    return runner.invoke(app, ["classify", *args])


def test_cli_prints_json_and_a_table(raw: Path) -> None:
    result = cli(str(raw / "transactions.csv"), "--format", "json")
    assert result.exit_code == 0, result.output
    columns = {c["name"]: c["entity"] for c in json.loads(result.stdout)["columns"]}
    assert columns == EXPECTED["transactions"]
    assert json.loads(cli(str(raw / "transactions.csv"), "--json").stdout) == json.loads(result.stdout)
    table = cli(str(raw / "transactions.csv"))
    assert table.exit_code == 0
    assert "CREDIT_CARD" in table.stdout and "card_number" in table.stdout


def test_cli_errors_say_what_and_how_without_a_traceback(raw: Path, tmp_path: Path) -> None:
    missing = cli(str(tmp_path / "nothing.csv"))
    assert missing.exit_code != 0
    assert "nothing.csv" in missing.output and "Traceback" not in missing.output
    unknown = cli(str(raw / "transactions.data"))
    assert unknown.exit_code != 0 and "--source-format" in unknown.output
    fraction = cli(str(raw / "transactions.csv"), "--sample-fraction", "0")
    assert fraction.exit_code != 0 and "sample fraction" in fraction.output


def test_parquet_and_jsonl_sources_classify_like_the_csv(raw: Path, tmp_path: Path) -> None:
    import polars as pl

    frame = pl.read_csv(raw / "transactions.csv", infer_schema=False, truncate_ragged_lines=True)
    frame.write_parquet(tmp_path / "tx.parquet")
    frame.write_ndjson(tmp_path / "tx.jsonl")
    for name in ("tx.parquet", "tx.jsonl"):
        report = classify_location(str(tmp_path / name))
        assert {c["name"]: c["entity"] for c in report["columns"]} == EXPECTED["transactions"], name
