"""`vaultline doctor`: landing directories are audited, what it says about a missing directory's mode
is what a run then creates, paths are taken as the runner takes them, a malformed bucket is named."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.cli.main import app
from vaultline.demo.fraud import generate_fraud
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import State

SPEC = """\
version: 1
name: doctored
keys: {{c: customer_key}}
sources:
  tx: {{format: csv, path: "{raw}/transactions.csv", landing: "{landing}"}}
steps:
  - tokenize: {{columns: [customer_id, email, device_id], domain: c}}
  - drop: {{columns: [card_number, account_number, ip_address]}}
outputs:
  o: {{path: "{out}"}}
"""


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default umask, under which a plain mkdir makes a directory every user can list."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def doctor_report(spec: Path, state: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["doctor", str(spec), "--json", "--state", str(state)])
    assert result.exit_code in (0, 1), result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def checks_of(report: dict[str, Any], location: Path | str) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in report["checks"] if c["location"] == str(location)}


def test_landing_directories_are_audited_like_outputs(tmp_path: Path) -> None:
    raw, landing, out = tmp_path / "raw", tmp_path / "landing", tmp_path / "out"
    for directory in (raw, landing, out):
        directory.mkdir(mode=0o700)
        directory.chmod(0o700)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(raw=raw, landing=landing, out=out), encoding="utf-8")
    report = doctor_report(spec, tmp_path / "state")
    assert {"location": str(landing), "used_by": ["sources.tx.landing"]} in report["locations"]
    assert checks_of(report, landing)["permissions"]["status"] == "pass"
    landing.chmod(0o755)  # the raw zone's file names listable by every user on the machine
    report = doctor_report(spec, tmp_path / "state")
    assert report["ok"] is False
    permissions = checks_of(report, landing)["permissions"]
    assert (permissions["status"], permissions["fix"]) == ("fail", f"chmod o-rwx {landing}")


def test_a_missing_directory_is_predicted_with_the_mode_the_run_gives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "doctor-test")
    state = State(tmp_path / "state").ensure()
    LocalKeyring(state.root, warn=False).create("customer_key")
    data = generate_fraud(50, tmp_path / "gen")
    landing, out = tmp_path / "landing", tmp_path / "out"
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(raw=data.data_path.parent, landing=landing, out=out), encoding="utf-8")

    report = doctor_report(spec, state.root)
    predicted = {}
    for directory in (landing, out, state.quarantine_dir / "doctored"):
        detail = checks_of(report, directory)["permissions"]["detail"]
        found = re.search(r"would be created with mode (0[0-7]{3})", detail)
        assert found, detail
        predicted[directory] = int(found.group(1), 8)
    # The run makes outputs, quarantine and landing directories 0700 itself: no warning, whatever the umask.
    assert predicted[out] == predicted[state.quarantine_dir / "doctored"] == predicted[landing] == 0o700
    assert checks_of(report, out)["permissions"]["status"] == "pass"
    assert checks_of(report, landing)["permissions"]["status"] == "pass"

    run(loads(spec.read_text(encoding="utf-8")), state)
    for directory in (landing, out):  # the quarantine stays uncreated: no row was quarantined
        assert stat.S_IMODE(directory.stat().st_mode) == predicted[directory], directory


def test_an_output_path_with_brackets_is_a_directory_not_a_glob(tmp_path: Path) -> None:
    out = tmp_path / "out[2024]"
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"version: 1\nname: brackets\nsources:\n  s:\n    format: csv\n    path: {tmp_path}/in/*.csv\n"
        f"outputs:\n  o:\n    path: '{out}'\n",
        encoding="utf-8",
    )
    report = doctor_report(spec, tmp_path / "state")
    assert {"location": str(out), "used_by": ["outputs.o"]} in report["locations"]
    assert {"location": str(tmp_path / "in"), "used_by": ["sources.s"]} in report["locations"]


def test_an_empty_bucket_name_is_reported_as_such(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"version: 1\nname: nobucket\nsources:\n  s:\n    format: csv\n    path: s3:///x.csv\n"
        f"outputs:\n  o:\n    path: {tmp_path / 'out'}\n",
        encoding="utf-8",
    )
    [check] = [c for c in doctor_report(spec, tmp_path / "state")["checks"] if c["location"] == "s3://"]
    assert (check["name"], check["status"]) == ("reachable", "fail")
    assert check["detail"] == "the bucket name is empty" and "network" not in check["fix"]
