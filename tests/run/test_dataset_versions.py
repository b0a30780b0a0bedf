"""Runs commit dataset versions; `vaultline read` decrypts with the keys the caller may use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.cli.main import app
from vaultline.demo.healthplus import generate_healthplus
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.keys.principal import ROLES_ENV
from vaultline.run.runner import run
from vaultline.spec.loader import load
from vaultline.state import State

EXAMPLE = Path(__file__).parents[2] / "examples" / "healthplus"
runner = CliRunner()


@pytest.fixture
def health(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(PASSPHRASE_ENV, "dataset-versions")
    monkeypatch.delenv(ROLES_ENV, raising=False)
    state = State(tmp_path / "state").ensure()
    generate_healthplus(2000, tmp_path)
    params = {"source_bucket": str(tmp_path / "raw"), "target_bucket": str(tmp_path / "out"),
              "reference_dir": str(EXAMPLE)}  # fmt: skip
    loaded = load(EXAMPLE / "pipeline.yaml", params)
    keyring = LocalKeyring(state.root, warn=False)
    for ref in loaded.pipeline.keys.values():
        keyring.ensure(ref)
    return {"state": state, "loaded": loaded, "keyring": keyring}


def read(state: State, *args: str) -> Any:
    return runner.invoke(app, ["read", *args, "--state", str(state.root), "--format", "csv"])


def test_each_run_commits_a_version_and_older_versions_stay_readable(health: dict[str, Any]) -> None:
    state = health["state"]
    first, second = run(health["loaded"], state), run(health["loaded"], state)
    assert (first["datasets"], second["datasets"]) == ({"admissions": 1}, {"admissions": 2})
    latest, older = read(state, "admissions", "--limit", "5"), read(state, "admissions@1", "--limit", "5")
    assert latest.exit_code == 0 and older.exit_code == 0, latest.output + older.output
    assert latest.output.splitlines()[0] == older.output.splitlines()[0]  # same columns
    assert len(latest.output.splitlines()) == 6
    missing = read(state, "admissions@7")
    assert missing.exit_code != 0 and "Traceback" not in missing.output


def test_a_reader_without_the_phi_key_reads_pii_and_plain_columns_only(
    health: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, keyring = health["state"], health["keyring"]
    report = run(health["loaded"], state)
    phi_columns = [c for c, cls in report["outputs"][0]["encryption"]["classes"].items() if cls == "phi"]
    assert {"mrn", "insurance_member_id", "condition_code"} <= set(phi_columns)
    monkeypatch.setenv(ROLES_ENV, "privacy_office")
    keyring.set_roles("vaultline-phi", ["privacy_office"])  # only the privacy office may read PHI
    monkeypatch.setenv(ROLES_ENV, "analyst")
    refused = read(state, "admissions", "--columns", "patient_id,mrn")
    assert refused.exit_code != 0
    assert "mrn" in refused.output and "vaultline-phi" in refused.output and "Traceback" not in refused.output
    allowed = read(state, "admissions", "--columns", "patient_id,age,gender", "--limit", "3")
    assert allowed.exit_code == 0, allowed.output
    monkeypatch.setenv(ROLES_ENV, "privacy_office")
    assert read(state, "admissions", "--columns", "mrn", "--limit", "3").exit_code == 0


def test_read_exports_decrypted_parquet_only_to_an_explicit_file(
    health: dict[str, Any], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    state = health["state"]
    report = run(health["loaded"], state)
    refused = runner.invoke(app, ["read", "admissions", "--format", "parquet", "--state", str(state.root)])
    assert refused.exit_code != 0 and "--out" in refused.output
    out = tmp_path / "export.parquet"
    done = runner.invoke(
        app, ["read", "admissions", "--format", "parquet", "--out", str(out), "--columns", "age,gender",
              "--state", str(state.root)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert pq.read_table(out).num_rows == report["rows"]["output"]  # plain Parquet, as asked
    assert out.stat().st_mode & 0o777 == 0o600  # decrypted rows: owner-only
    as_csv = tmp_path / "export.csv"
    done = runner.invoke(
        app, ["read", "admissions", "--format", "csv", "--out", str(as_csv), "--state", str(state.root)]
    )
    assert done.exit_code == 0, done.output
    assert as_csv.stat().st_mode & 0o777 == 0o600


def test_read_prints_bytes_lists_structs_and_durations_as_text(tmp_path: Path) -> None:
    """Polars writes none of them to CSV, nor bytes to JSON: `read` panicked or failed on them."""
    import datetime as dt
    import json

    import polars as pl

    from vaultline.spec.loader import loads

    state = State(tmp_path / "state").ensure()
    pl.DataFrame(
        {
            "id": [1, 2],
            "blob": [b"\x00\xff", None],
            "tags": [["a", "b"], []],
            "place": [{"city": "Oslo"}, None],
            "wait": [dt.timedelta(seconds=90), None],
        }
    ).write_parquet(tmp_path / "in.parquet")
    spec = f"""version: 1
name: odd
sources: {{s: {{format: parquet, path: "{tmp_path}/in.parquet"}}}}
outputs: {{odd: {{path: "{tmp_path}/out"}}}}
"""
    with pytest.MonkeyPatch.context() as patched:
        patched.setenv(PASSPHRASE_ENV, "odd-types")
        assert run(loads(spec), state)["status"] == "succeeded"
        as_json = runner.invoke(app, ["read", "odd", "--format", "json", "--state", str(state.root)])
        assert as_json.exit_code == 0, as_json.output
        first = json.loads(as_json.stdout.splitlines()[0])
        assert (
            first["blob"] == "00ff" and first["tags"] == ["a", "b"] and first["wait"] == "PT90S"
        )  # ISO 8601 either way
        as_csv = read(state, "odd")
        assert as_csv.exit_code == 0, as_csv.output
        assert '00ff,"[""a"",""b""]","{""city"":""Oslo""}",PT1M30S' in as_csv.stdout
