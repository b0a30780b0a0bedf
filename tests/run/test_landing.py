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
    assert sealed.parent == tmp_path / "landing" / report["run_id"] / "tx"
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


def _small_inputs(tmp_path: Path) -> dict[str, Path]:
    """Three inputs named tx.csv: two under one glob, one read by a second source."""
    made = {}
    for folder, row in (("in/a", "1,a"), ("in/b", "2,b"), ("other", "3,c")):
        path = tmp_path / folder / "tx.csv"
        path.parent.mkdir(parents=True)
        path.write_text(f"id,v\n{row}\n")
        made[folder] = path
    return made


TWO_SOURCES = """\
version: 1
name: {name}
sources:
  first: {{format: csv, path: "{tmp}/in/*/tx.csv", landing: "{landing}"}}
  second: {{format: csv, path: "{tmp}/other/tx.csv", landing: "{second_landing}"}}
outputs:
  o: {{path: "{tmp}/out"}}
"""


def test_inputs_sharing_a_file_name_keep_a_copy_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """in/a/tx.csv, in/b/tx.csv and a second source's tx.csv, all landing in one directory: three copies."""
    monkeypatch.setenv(PASSPHRASE_ENV, "landing-test")
    state = State(tmp_path / "state").ensure()
    inputs = _small_inputs(tmp_path)
    landing = tmp_path / "landing"
    spec = TWO_SOURCES.format(name="shared", tmp=tmp_path, landing=landing, second_landing=landing)
    report = run(loads(spec), state)
    copies = {copy["input"]: copy for copy in report["landing"]}
    assert sorted(copies) == sorted(str(path) for path in inputs.values())
    assert len({copy["copy"] for copy in copies.values()}) == 3
    assert sorted(p.name for p in landing.rglob("*.enc")) == sorted(
        Path(c["copy"]).name for c in copies.values()
    )
    keyring = LocalKeyring(state.root, warn=False)
    for input_location, copy in copies.items():
        sealed = Path(copy["copy"])
        assert sealed.parent == landing / report["run_id"] / copy["source"]
        assert sealed.name.endswith("-tx.csv.enc")
        context = {"vaultline:pipeline": "shared", "vaultline:run_id": report["run_id"],
                   "vaultline:source": copy["source"], "vaultline:sha256": copy["sha256"]}  # fmt: skip
        restored = tmp_path / "restored" / sealed.name
        decrypt_file(str(sealed), str(restored), KeyringKey(keyring, LANDING_KEY), context=context)
        assert restored.read_bytes() == Path(input_location).read_bytes()


def test_a_run_that_cannot_land_every_input_leaves_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first source lands, the second's landing directory cannot be made: the run fails closed and
    the first source's copies go too (its report records none)."""
    from vaultline.catalog.runs import RunCatalog
    from vaultline.errors import OutputError

    monkeypatch.setenv(PASSPHRASE_ENV, "landing-test")
    state = State(tmp_path / "state").ensure()
    _small_inputs(tmp_path)
    (tmp_path / "blocker").write_text("a file where a directory should be")
    landing = tmp_path / "landing"
    spec = TWO_SOURCES.format(
        name="halfway", tmp=tmp_path, landing=landing, second_landing=tmp_path / "blocker" / "landing"
    )
    with pytest.raises(OutputError):
        run(loads(spec), state)
    assert [p for p in landing.rglob("*") if p.is_file()] == []
    assert list(landing.iterdir()) == []  # the run's directories went with the copies
    with RunCatalog(state.catalog_url) as catalog:
        (record,) = catalog.list(pipeline="halfway")
        failed = catalog.report(record.run_id)
    assert failed["status"] == "failed" and failed.get("landing") is None
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def _documented_landing_decrypt() -> str:
    """The Python block under "Decrypting a landing copy" in docs/operations.md."""
    document = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    section = document.split("### Decrypting a landing copy", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_documented_landing_decrypt_restores_every_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.state import STATE_ENV

    monkeypatch.setenv(PASSPHRASE_ENV, "landing-test")
    state = State(tmp_path / "state").ensure()
    inputs = _small_inputs(tmp_path)
    landing = tmp_path / "landing"
    spec = TWO_SOURCES.format(name="documented", tmp=tmp_path, landing=landing, second_landing=landing)
    report = run(loads(spec), state)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv(STATE_ENV, str(state.root))
    exec(_documented_landing_decrypt(), {"run_id": report["run_id"]})  # the docs' own code, as written
    restored = sorted((work / "restored").rglob("*.csv"))
    assert sorted(p.read_bytes() for p in restored) == sorted(p.read_bytes() for p in inputs.values())
    assert {p.parent.name for p in restored} == {"first", "second"} and len(restored) == 3
