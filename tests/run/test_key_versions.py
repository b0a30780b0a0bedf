"""An append never mixes two versions of a domain key: after a rotation, the same customer would get a
second token in the same dataset."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from parquet_files import read_parquet
from vaultline.catalog.datasets import DatasetCatalog
from vaultline.demo.fraud import generate_fraud
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.key_versions import KeyVersionChanged
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import State

SPEC = """\
version: 1
name: appending
keys: {{customer: {key}}}
sources:
  tx: {{format: csv, path: "{inbox}/*.csv", incremental: {{by: files}}}}
steps:
  - tokenize: {{columns: [customer_id, email, device_id], domain: customer}}
  - drop: {{columns: [card_number, account_number, ip_address]}}
outputs:
  features: {{path: "{out}"{mode}}}
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(PASSPHRASE_ENV, "key-versions-test")
    state = State(tmp_path / "state").ensure()
    keyring = LocalKeyring(state.root, warn=False)
    keyring.create("customer_key")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    generated = generate_fraud(300, tmp_path / "gen")
    shutil.copy(generated.data_path, inbox / "part1.csv")
    return {"tmp": tmp_path, "state": state, "keyring": keyring, "inbox": inbox, "data": generated.data_path}


def _run(workspace: dict[str, Any], *, key: str = "customer_key", mode: str = "") -> dict[str, Any]:
    text = SPEC.format(key=key, inbox=workspace["inbox"], out=workspace["tmp"] / "out", mode=mode)
    return run(loads(text), workspace["state"])


def _tokens(workspace: dict[str, Any], report: dict[str, Any]) -> set[str]:
    table = read_parquet(report["outputs"][0]["location"], workspace["state"].root)
    return set(table.column("customer_id").to_pylist())


def test_an_append_after_a_rotation_is_refused_until_the_owner_chooses(workspace: dict[str, Any]) -> None:
    first = _run(workspace)
    workspace["keyring"].rotate("customer_key")
    shutil.copy(workspace["data"], workspace["inbox"] / "part2.csv")  # the same customers again
    with pytest.raises(KeyVersionChanged) as refused:
        _run(workspace)
    message = refused.value.render()
    assert "output 'features' appends to version 1" in message and "key customer_key version 1" in message
    assert "this run would use version 2" in message and "customer: customer_key@1" in message
    with DatasetCatalog(workspace["state"].catalog_url) as catalog:
        assert catalog.latest("features").version == 1  # nothing appended
    # pinned to the version the dataset holds, the new rows get the same tokens
    pinned = _run(workspace, key="customer_key@1")
    assert pinned["key_versions"]["tokenize/customer"] == 1
    assert _tokens(workspace, pinned) == _tokens(workspace, first)


def test_a_rotation_is_free_where_each_run_replaces_the_dataset(workspace: dict[str, Any]) -> None:
    _run(workspace, mode=", mode: overwrite")
    workspace["keyring"].rotate("customer_key")
    shutil.copy(workspace["data"], workspace["inbox"] / "part2.csv")
    report = _run(workspace, mode=", mode: overwrite")
    assert report["status"] == "succeeded" and report["key_versions"]["tokenize/customer"] == 2


def test_a_rotation_while_a_run_works_does_not_reach_it(
    workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.run import key_versions

    first = _run(workspace)
    check = key_versions.check_appends

    def rotated_once_checked(pipeline: Any, state: Any, provider: Any, *args: Any, **kwargs: Any) -> None:
        check(pipeline, state, provider, *args, **kwargs)
        provider.rotate("customer_key")  # after the check, before any token is made (as KMS would see it)

    monkeypatch.setattr(key_versions, "check_appends", rotated_once_checked)
    shutil.copy(workspace["data"], workspace["inbox"] / "part2.csv")
    second = _run(workspace)
    assert second["key_versions"]["tokenize/customer"] == 1  # the version the run started with
    assert _tokens(workspace, second) == _tokens(workspace, first)


def test_only_the_default_key_names_are_created_on_first_use(workspace: dict[str, Any]) -> None:
    from vaultline.errors import KeyringError

    with pytest.raises(KeyringError, match="vaultline-fotter"):  # a typo would have become a key
        _run(workspace, mode=", encryption: {footer_key: vaultline-fotter}")

    def names() -> set[str]:  # read afresh: the run wrote the keyring through its own provider
        return {info.name for info in LocalKeyring(workspace["state"].root, warn=False).list()}

    assert "vaultline-fotter" not in names()
    assert _run(workspace)["status"] == "succeeded"
    assert {"vaultline-footer", "vaultline-pii"} <= names()


def test_a_dataset_another_pipeline_made_is_refused(workspace: dict[str, Any]) -> None:
    from vaultline.run.dataset_owner import DatasetOwnedElsewhere

    _run(workspace)
    other = SPEC.replace("name: appending", "name: another").format(
        key="customer_key", inbox=workspace["inbox"], out=workspace["tmp"] / "elsewhere", mode=""
    )
    with pytest.raises(DatasetOwnedElsewhere) as refused:
        run(loads(other), workspace["state"])
    assert (
        "pipeline 'appending' commits" in refused.value.render()
        and "another_features" in refused.value.render()
    )
    with DatasetCatalog(workspace["state"].catalog_url) as catalog:
        assert catalog.latest("features").version == 1
