"""`vaultline runs export`: a run report leaves the machine only encrypted (AWS Encryption SDK format)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kms_faults import fail_kms, loud_sdk_records
from vaultline.cli.main import app
from vaultline.demo.fraud import generate_fraud
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import State

SPEC = """\
version: 1
name: exported
keys: {{c: customer_key}}
sources:
  tx: {{format: csv, path: "{raw}/transactions.csv"}}
steps:
  - tokenize: {{columns: [customer_id, email, device_id], domain: c}}
  - drop: {{columns: [card_number, account_number, ip_address]}}
outputs:
  o: {{path: "{out}"}}
"""


def test_export_is_encrypted_bound_to_its_run_and_decrypts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "export-test")
    state = State(tmp_path / "state").ensure()
    LocalKeyring(state.root, warn=False).create("customer_key")
    data = generate_fraud(800, tmp_path / "gen")
    report = run(loads(SPEC.format(raw=data.data_path.parent, out=tmp_path / "out")), state)
    cli = CliRunner()
    sealed = tmp_path / "report.json.enc"
    done = cli.invoke(
        app, ["runs", "export", report["run_id"], "--out", str(sealed), "--state", str(state.root)]
    )
    assert done.exit_code == 0, done.output
    assert b"exported" not in sealed.read_bytes() and b"tokenize" not in sealed.read_bytes()
    plain = tmp_path / "report.json"
    back = cli.invoke(app, ["runs", "decrypt-export", report["run_id"], str(sealed), "--out", str(plain),
                            "--state", str(state.root)])  # fmt: skip
    assert back.exit_code == 0, back.output
    assert json.loads(plain.read_text())["run_id"] == report["run_id"]
    wrong = cli.invoke(app, ["runs", "decrypt-export", "20990101T000000Z-000000", str(sealed), "--out",
                             str(tmp_path / "x.json"), "--state", str(state.root)])  # fmt: skip
    assert wrong.exit_code != 0 and "Traceback" not in wrong.output
    assert not (tmp_path / "x.json").exists()


@pytest.mark.s3
def test_export_to_s3_and_decrypt_from_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_client: Any, s3_bucket: str
) -> None:
    """s3:// stays a URL: no local `s3:/bucket/...` file, the object lands in the bucket and decrypts back."""
    from vaultline.catalog.runs import RunCatalog

    monkeypatch.setenv(PASSPHRASE_ENV, "export-test")
    state = State(tmp_path / "state").ensure()
    run_id = "20240101T000000Z-abcdef"
    with RunCatalog(state.catalog_url) as catalog:
        catalog.start(run_id, "pipe", "0" * 64)
        catalog.finish(run_id, {"run_id": run_id, "status": "succeeded", "rows": {"input": 1}})
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cli = CliRunner()
    url = f"s3://{s3_bucket}/exports/r.enc"
    done = cli.invoke(app, ["runs", "export", run_id, "--out", url, "--state", str(state.root)])
    assert done.exit_code == 0, done.output
    assert url in done.output and list(work.iterdir()) == []
    sealed = s3_client.get_object(Bucket=s3_bucket, Key="exports/r.enc")["Body"].read()
    assert b"succeeded" not in sealed
    back_url = f"s3://{s3_bucket}/exports/r.json"
    back = cli.invoke(
        app, ["runs", "decrypt-export", run_id, url, "--out", back_url, "--state", str(state.root)]
    )
    assert back.exit_code == 0, back.output
    plain = s3_client.get_object(Bucket=s3_bucket, Key="exports/r.json")["Body"].read()
    assert json.loads(plain)["run_id"] == run_id
    local = cli.invoke(
        app, ["runs", "decrypt-export", run_id, url, "--out", "r.json", "--state", str(state.root)]
    )
    assert local.exit_code == 0, local.output
    assert json.loads((work / "r.json").read_text())["status"] == "succeeded"
    assert not (work / "s3:").exists()


def _recorded_run(state: State) -> str:
    from vaultline.catalog.runs import RunCatalog

    run_id = "20240101T000000Z-abcdef"
    with RunCatalog(state.catalog_url) as catalog:
        catalog.start(run_id, "pipe", "0" * 64)
        catalog.finish(run_id, {"run_id": run_id, "status": "succeeded", "rows": {"input": 1}})
    return run_id


@pytest.mark.s3
def test_kms_out_of_reach_exits_75_naming_the_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Throttled or failing KMS: retryable (75), not "altered", no SDK traceback, no temp file named."""
    import boto3

    monkeypatch.setenv(PASSPHRASE_ENV, "export-test")
    monkeypatch.setenv("VAULTLINE_KMS_ENDPOINT", moto_server)
    arn = boto3.client("kms", endpoint_url=moto_server).create_key()["KeyMetadata"]["Arn"]
    state = State(tmp_path / "state").ensure()
    run_id = _recorded_run(state)
    cli, key, options = CliRunner(), f"kms:{arn}", ["--state", str(state.root)]
    sealed = tmp_path / "report.json.enc"
    done = cli.invoke(app, ["runs", "export", run_id, "--key", key, "--out", str(sealed), *options])
    assert done.exit_code == 0, done.output
    caplog.set_level(logging.DEBUG, logger="aws_encryption_sdk")

    fail_kms(monkeypatch, "GenerateDataKey", "ThrottlingException")
    again = tmp_path / "again.enc"
    throttled = cli.invoke(app, ["runs", "export", run_id, "--key", key, "--out", str(again), *options])
    assert throttled.exit_code == 75, throttled.output
    assert f"{again}: AWS KMS could not serve GenerateDataKey" in throttled.output
    assert str(state.root) not in throttled.output  # the report's plaintext temp file is not the subject
    assert "Traceback" not in throttled.output and "check the key exists" not in throttled.output

    fail_kms(monkeypatch, "Decrypt", "KMSInternalException")
    back = cli.invoke(app, ["runs", "decrypt-export", run_id, str(sealed), "--key", key, "--out",
                            str(tmp_path / "r.json"), *options])  # fmt: skip
    assert back.exit_code == 75, back.output
    assert "KMSInternalException" in back.output and "altered" not in back.output
    assert loud_sdk_records(caplog.records) == []
    assert not again.exists() and not (tmp_path / "r.json").exists()


def test_an_empty_kms_key_is_refused_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "export-test")
    state = State(tmp_path / "state").ensure()
    run_id = _recorded_run(state)
    out = tmp_path / "r.enc"
    done = CliRunner().invoke(
        app, ["runs", "export", run_id, "--key", "kms:", "--out", str(out), "--state", str(state.root)]
    )
    assert done.exit_code == 1, done.output
    assert "the key id is missing" in done.output and "network" not in done.output
    assert not out.exists()
