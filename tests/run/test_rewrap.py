"""`vaultline keys rewrap`: after a rotation, external key material moves to the new version in place."""

from __future__ import annotations

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
from vaultline.storage.encrypted_parquet import describe
from vaultline.storage.locations import sha256_of

SPEC = """\
version: 1
name: rewrap
keys: {{customer: customer_key}}
sources:
  tx: {{format: csv, path: "{raw}/transactions.csv"}}
steps:
  - tokenize: {{columns: [customer_id, email, device_id], domain: customer}}
  - drop: {{columns: [card_number, account_number, ip_address]}}
outputs:
  external: {{path: "{out}/external", encryption: {{key_material: external}}}}
  internal: {{path: "{out}/internal"}}
"""


def versions_of(path: str, provider: Any) -> dict[str, int | None]:
    info = describe(path, provider=provider)
    assert info.columns is not None
    return {c.column: c.key_version for c in info.columns if c.key_ref == "vaultline-pii"}


def test_rotation_then_rewrap_moves_external_material_without_touching_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "rewrap-test")
    state = State(tmp_path / "state").ensure()
    keyring = LocalKeyring(state.root, warn=False)
    keyring.create("customer_key")
    data = generate_fraud(1500, tmp_path / "gen")
    report = run(loads(SPEC.format(raw=data.data_path.parent, out=tmp_path / "out")), state)
    files = {o["name"]: o for o in report["outputs"]}
    external = files["external"]["location"]
    assert Path(external).with_name(f"_KEY_MATERIAL_FOR_{Path(external).name}.json").exists()
    assert set(versions_of(external, keyring).values()) == {1}

    keyring.rotate("vaultline-pii")
    result = CliRunner().invoke(
        app, ["keys", "rewrap", "vaultline-pii", "--state", str(state.root), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"rewrapped": [' in result.output and external in result.output
    assert files["internal"]["location"] in result.output  # listed under internal_key_material
    assert set(versions_of(external, LocalKeyring(state.root, warn=False)).values()) == {2}
    assert set(versions_of(files["internal"]["location"], keyring).values()) == {1}  # still readable

    assert sha256_of(external)[0] == files["external"]["sha256"]  # the data is the committed file
    read = CliRunner().invoke(app, ["read", "external", "--limit", "3", "--state", str(state.root)])
    assert read.exit_code == 0, read.output


@pytest.mark.parametrize(
    ("name", "message"),
    [("no_such_key", "no key named 'no_such_key'"), ("vaultline-pii@2", "not a key name")],
)
def test_rewrap_and_info_refuse_a_name_that_is_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    """A typo must not pass for "re-wrapped 0 file(s)"."""
    monkeypatch.setenv(PASSPHRASE_ENV, "rewrap-test")
    state = State(tmp_path / "state").ensure()
    LocalKeyring(state.root, warn=False).create("vaultline-pii")
    for command in ("rewrap", "info", "rotate"):
        result = CliRunner().invoke(app, ["keys", command, name, "--state", str(state.root)])
        assert result.exit_code == 1 and message in result.output, (command, result.output)
