"""Provider selection: built-ins by name or env, entry-point plug-ins, helpful errors for the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.cli.keys import app
from vaultline.errors import KeyringError
from vaultline.keys import providers
from vaultline.keys.aws_kms import AwsKmsProvider
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.keys.providers import ENTRY_POINT_GROUP, PROVIDER_ENV, available_providers, open_provider

runner = CliRunner()


class PluginKeyring(LocalKeyring):
    """A stand-in plug-in provider: a local keyring in its own folder of the state root."""

    def __init__(self, state_root: Path) -> None:
        super().__init__(state_root / "plugin-keys", warn=False)


class FakeEntryPoint:
    """What importlib.metadata yields for an installed plug-in: a name and a loadable factory."""

    def __init__(self, name: str, load: Callable[[], Any]) -> None:
        self.name = name
        self.value = f"fake_plugin:{name}"
        self.group = ENTRY_POINT_GROUP
        self._load = load

    def load(self) -> Any:
        return self._load()


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROVIDER_ENV, raising=False)
    monkeypatch.setenv(PASSPHRASE_ENV, "test-passphrase-not-secret")


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """Entry points by name; tests add to it. `providers` looks them up through `entry_points`."""
    registered: dict[str, Callable[[], Any]] = {}

    def fake_entry_points(*, group: str) -> list[FakeEntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return [FakeEntryPoint(name, load) for name, load in registered.items()]

    monkeypatch.setattr(providers, "entry_points", fake_entry_points)
    return registered


def test_default_is_the_local_keyring(tmp_path: Path) -> None:
    chosen = open_provider(tmp_path)
    assert isinstance(chosen, LocalKeyring) and chosen.state_dir == tmp_path


def test_env_selects_and_the_argument_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROVIDER_ENV, "AWS-KMS")
    assert isinstance(open_provider(tmp_path), AwsKmsProvider)  # constructing it makes no call
    assert isinstance(open_provider(tmp_path, "local"), LocalKeyring)


def test_unknown_name_lists_the_available_ones(tmp_path: Path, plugins: dict[str, Callable[[], Any]]) -> None:
    plugins["vault-transit"] = lambda: PluginKeyring
    with pytest.raises(KeyringError) as caught:
        open_provider(tmp_path, "hsm")
    text = str(caught.value)
    assert "'hsm'" in text and "local, aws-kms, vault-transit" in text and ENTRY_POINT_GROUP in text
    assert available_providers() == ("local", "aws-kms", "vault-transit")


def test_an_entry_point_plugin_is_opened_with_the_state_root(
    tmp_path: Path, plugins: dict[str, Callable[[], Any]]
) -> None:
    plugins["memory"] = lambda: PluginKeyring
    chosen = open_provider(tmp_path, "memory")
    assert isinstance(chosen, PluginKeyring) and chosen.state_dir == tmp_path / "plugin-keys"


def test_builtin_names_cannot_be_taken_over(tmp_path: Path, plugins: dict[str, Callable[[], Any]]) -> None:
    plugins["local"] = lambda: PluginKeyring
    chosen = open_provider(tmp_path, "local")
    assert type(chosen) is LocalKeyring
    assert available_providers().count("local") == 1


def test_broken_plugins_name_themselves(tmp_path: Path, plugins: dict[str, Callable[[], Any]]) -> None:
    def fails_to_import() -> Any:
        raise ImportError("token=abc123 in a message")

    plugins["broken"] = fails_to_import
    plugins["partial"] = lambda: lambda root: object()
    with pytest.raises(KeyringError) as caught:
        open_provider(tmp_path, "broken")
    assert "'broken'" in str(caught.value) and "ImportError" in str(caught.value)
    assert "abc123" not in str(caught.value)  # a plug-in's message might quote its configuration
    with pytest.raises(KeyringError, match="lacks create, set_roles"):
        open_provider(tmp_path, "partial")


def test_cli_provider_option(tmp_path: Path, plugins: dict[str, Callable[[], Any]]) -> None:
    plugins["memory"] = lambda: PluginKeyring
    state = ["--state", str(tmp_path)]
    made = runner.invoke(app, ["create", "plugged", "--provider", "memory", "--purpose", "demo", *state])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "plugin-keys" / "keyring.json").exists()
    listed = runner.invoke(app, ["list", "--provider", "memory", "--json", *state])
    assert [k["name"] for k in json.loads(listed.stdout)] == ["plugged"]
    # The default provider does not see the plug-in's keys; it holds only the audit log's own key.
    local = runner.invoke(app, ["list", "--json", *state])
    assert [k["name"] for k in json.loads(local.stdout)] == ["vaultline-audit"]
    rotated = runner.invoke(app, ["rotate", "plugged", "--provider", "memory", *state])
    assert "current version 2" in rotated.output
    info = runner.invoke(app, ["info", "plugged", "--provider", "memory", *state])
    assert "current version 2" in info.output and "purpose demo" in info.output
    unknown = runner.invoke(app, ["list", "--provider", "nope", *state])
    assert unknown.exit_code == 1 and "available: local, aws-kms, memory" in unknown.output
    assert "Traceback" not in unknown.output
    master, _ = PluginKeyring(tmp_path)._material("plugged", None)
    for result in (made, listed, rotated, info):
        assert master.reveal().hex() not in result.output
