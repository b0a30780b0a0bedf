"""Landing copies: each input a run reads is kept encrypted (AWS Encryption SDK), bound to the run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vaultline.demo.fraud import generate_fraud
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.landing import LANDING_KEY
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import State
from vaultline.storage.artifacts import ArtifactError, KeyringKey, decrypt_file

SPEC = """\
version: 1
name: landed
keys: {{c: customer_key}}
sources:
  tx: {{format: csv, path: "{raw}/transactions.csv", landing: "{landing}"}}
steps:
  - tokenize: {{columns: [customer_id, email, device_id], domain: c}}
  - drop: {{columns: [card_number, account_number, ip_address]}}
outputs:
  o: {{path: "{out}"}}
"""


def test_every_input_is_landed_encrypted_and_bound_to_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "landing-test")
    state = State(tmp_path / "state").ensure()
    keyring = LocalKeyring(state.root, warn=False)
    keyring.create("customer_key")
    data = generate_fraud(900, tmp_path / "gen")
    spec = SPEC.format(raw=data.data_path.parent, landing=tmp_path / "landing", out=tmp_path / "out")
    report = run(loads(spec), state)
    (copy,) = report["landing"]
    original = data.data_path.read_bytes()
    assert copy["sha256"] == hashlib.sha256(original).hexdigest()
    sealed = Path(copy["copy"])
    assert sealed.parent.name == report["run_id"]
    first_email = original.decode().splitlines()[1].split(",")[4]
    assert first_email.encode() not in sealed.read_bytes()
    context = {"vaultline:pipeline": "landed", "vaultline:run_id": report["run_id"],
               "vaultline:source": "tx", "vaultline:sha256": copy["sha256"]}  # fmt: skip
    restored = tmp_path / "restored.csv"
    decrypt_file(str(sealed), str(restored), KeyringKey(keyring, LANDING_KEY), context=context)
    assert restored.read_bytes() == original
    with pytest.raises(ArtifactError):
        other_run = {**context, "vaultline:run_id": "20990101T000000Z-000000"}
        decrypt_file(
            str(sealed), str(tmp_path / "x.csv"), KeyringKey(keyring, LANDING_KEY), context=other_run
        )
