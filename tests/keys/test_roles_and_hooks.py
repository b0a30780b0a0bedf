"""Roles restrict reading through a key; hooks see every key use, value-free, and can stop it."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from dataclasses import astuple, fields

import pytest
from typer.testing import CliRunner

from vaultline.cli.keys import app
from vaultline.errors import KeyringError, KeyUnavailableError
from vaultline.keys import hooks
from vaultline.keys.hooks import KeyUse
from vaultline.keys.local import LocalKeyring
from vaultline.keys.principal import PRINCIPAL_ENV, ROLES_ENV, current_caller
from vaultline.keys.provider import KeyAccessDenied, KeyRef

runner = CliRunner()


@pytest.fixture(autouse=True)
def caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRINCIPAL_ENV, "alice")
    monkeypatch.delenv(ROLES_ENV, raising=False)


@pytest.fixture
def seen() -> Iterator[list[KeyUse]]:
    uses: list[KeyUse] = []
    hooks.register(uses.append)
    try:
        yield uses
    finally:
        hooks.unregister(uses.append)


@pytest.fixture
def restricted(keyring: LocalKeyring) -> LocalKeyring:
    keyring.create("restricted_key", purpose="tokenize", roles=["analyst", "auditor"])
    return keyring


def test_restricted_key_refuses_callers_without_its_roles(
    restricted: LocalKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = KeyRef("restricted_key")
    assert restricted.info("restricted_key").roles == ("analyst", "auditor")
    data_key, wrapped = restricted.generate_data_key(ref)  # writing stays allowed
    restricted.wrap_key(ref, b"k" * 32)
    monkeypatch.setenv(ROLES_ENV, "marketing")
    for attempt in (
        lambda: restricted.derive(ref, context="tokenize/customer"),
        lambda: restricted.unwrap_data_key("restricted_key", wrapped),
    ):
        with pytest.raises(KeyAccessDenied) as caught:
            attempt()
        text = str(caught.value)
        assert "restricted_key" in text and "alice" in text and ROLES_ENV in text
        assert data_key.reveal().hex() not in text
        assert isinstance(caught.value, KeyringError) and not caught.value.retryable

    monkeypatch.setenv(ROLES_ENV, "marketing, auditor")
    assert restricted.unwrap_data_key("restricted_key", wrapped) == data_key
    restricted.derive(ref, context="tokenize/customer")


def test_unrestricted_keys_need_no_roles(keyring: LocalKeyring) -> None:
    key, version = keyring.derive(KeyRef("customer_key"), context="tokenize/customer")
    assert version == 1 and len(key) == 32 and keyring.info("customer_key").roles == ()


def test_changing_roles_needs_one_of_them(restricted: LocalKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyAccessDenied, match="set_roles"):
        restricted.set_roles("restricted_key", [])  # or anyone could grant themselves access
    monkeypatch.setenv(ROLES_ENV, "analyst")
    assert restricted.set_roles("restricted_key", ["analyst"]).roles == ("analyst",)
    assert restricted.set_roles("restricted_key", []).roles == ()
    monkeypatch.delenv(ROLES_ENV)
    restricted.derive(KeyRef("restricted_key"), context="x")  # unrestricted now
    assert LocalKeyring(restricted.state_dir).info("restricted_key").roles == ()


def test_role_names_are_validated(keyring: LocalKeyring) -> None:
    with pytest.raises(KeyringError, match="not valid"):
        keyring.create("bad_roles", roles=["ok", "not ok!"])
    assert "bad_roles" not in [i.name for i in keyring.list()]


def test_keyrings_written_before_roles_still_work(
    keyring: LocalKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_key, wrapped = keyring.generate_data_key(KeyRef("account_key"))
    stored = json.loads(keyring.path.read_text())
    for entry in stored["keys"].values():
        entry.pop("roles", None)
    keyring.path.write_text(json.dumps(stored))
    old = LocalKeyring(keyring.state_dir)
    assert all(info.roles == () for info in old.list())
    monkeypatch.setenv(ROLES_ENV, "analyst")
    assert old.unwrap_data_key("account_key", wrapped) == data_key
    monkeypatch.delenv(ROLES_ENV)
    old.derive(KeyRef("account_key"), context="tokenize/account")


def test_principal_defaults_to_the_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRINCIPAL_ENV)
    monkeypatch.setenv(ROLES_ENV, " b, a ,,a")
    caller = current_caller()
    assert caller.principal == getpass.getuser() and caller.roles == {"a", "b"}


def test_hooks_see_every_use_in_order(keyring: LocalKeyring, seen: list[KeyUse]) -> None:
    keyring.create("hooked_key", roles=["analyst"])
    ref = KeyRef("hooked_key")
    _, wrapped = keyring.generate_data_key(ref)
    keyring.wrap_key(ref, b"k" * 32)
    keyring.rotate("hooked_key")
    with pytest.raises(KeyAccessDenied):
        keyring.derive(ref, context="tokenize/customer")
    with pytest.raises(KeyAccessDenied):
        keyring.unwrap_data_key("hooked_key", wrapped)
    summary = [(u.action, u.key, u.version, u.context, u.outcome) for u in seen]
    assert summary == [
        ("create", "hooked_key", 1, None, "allowed"),
        ("generate_data_key", "hooked_key", 1, None, "allowed"),
        ("wrap_key", "hooked_key", 1, None, "allowed"),
        ("rotate", "hooked_key", 2, None, "allowed"),
        ("derive", "hooked_key", 2, "tokenize/customer", "denied"),
        ("unwrap_data_key", "hooked_key", 1, None, "denied"),
    ]
    assert {u.principal for u in seen} == {"alice"} and {u.provider for u in seen} == {"local"}


def test_a_raising_hook_stops_the_operation(keyring: LocalKeyring) -> None:
    data_key, wrapped = keyring.generate_data_key(KeyRef("customer_key"))

    def audit_sink_down(use: KeyUse) -> None:
        if use.action in {"unwrap_data_key", "rotate"}:
            raise ConnectionError("audit sink unreachable")

    hooks.register(audit_sink_down)
    try:
        with pytest.raises(KeyUnavailableError) as caught:
            keyring.unwrap_data_key("customer_key", wrapped)
        text = str(caught.value)
        assert "audit_sink_down" in text and "customer_key" in text and "fail closed" in text
        assert caught.value.retryable and data_key.reveal().hex() not in text
        with pytest.raises(KeyUnavailableError):
            keyring.rotate("customer_key")
        assert LocalKeyring(keyring.state_dir).info("customer_key").current_version == 1  # nothing happened
    finally:
        hooks.unregister(audit_sink_down)
    assert keyring.unwrap_data_key("customer_key", wrapped) == data_key


def test_a_hook_may_refuse_with_its_own_error(keyring: LocalKeyring) -> None:
    def policy(use: KeyUse) -> None:
        raise KeyringError(f"policy forbids {use.action}")

    hooks.register(policy)
    try:
        with pytest.raises(KeyringError, match="policy forbids derive"):
            keyring.derive(KeyRef("customer_key"), context="x")
    finally:
        hooks.unregister(policy)


def test_hook_payloads_carry_no_material(
    keyring: LocalKeyring, seen: list[KeyUse], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = KeyRef("customer_key")
    derived, _ = keyring.derive(ref, context="tokenize/customer")
    data_key, wrapped = keyring.generate_data_key(ref)
    unwrapped = keyring.unwrap_data_key("customer_key", wrapped)
    plain = b"p" * 32
    keyring.wrap_key(ref, plain)
    master, _ = keyring._material("customer_key", None)
    secrets = [derived.reveal(), data_key.reveal(), unwrapped.reveal(), master.reveal(), plain, wrapped]
    assert [u.action for u in seen] == ["derive", "generate_data_key", "unwrap_data_key", "wrap_key"]
    for use in seen:
        assert {f.name for f in fields(use)} == {
            "action", "key", "version", "principal", "context", "provider", "outcome"
        }  # fmt: skip
        assert all(value is None or isinstance(value, str | int) for value in astuple(use))
        text = repr(use)
        for secret in secrets:
            assert secret.hex() not in text and secret.decode("latin-1") not in text


def test_register_is_idempotent_and_unregister_tolerant() -> None:
    def hook(use: KeyUse) -> None: ...

    hooks.register(hook)
    hooks.register(hook)
    assert hooks.registered().count(hook) == 1
    hooks.unregister(hook)
    hooks.unregister(hook)
    assert hook not in hooks.registered()


def test_cli_roles(keyring: LocalKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    state = str(keyring.state_dir)
    made = runner.invoke(app, ["create", "cli_key", "--roles", "auditor,analyst", "--state", state])
    assert made.exit_code == 0, made.output
    assert "cli_key" in made.output and "analyst,auditor" in made.output
    shown = runner.invoke(app, ["roles", "cli_key", "--state", state, "--json"])
    assert json.loads(shown.stdout) == {"name": "cli_key", "roles": ["analyst", "auditor"]}
    denied = runner.invoke(app, ["roles", "cli_key", "--set", "", "--state", state])
    assert denied.exit_code == 1 and "may not set_roles" in denied.output
    assert "Traceback" not in denied.output
    monkeypatch.setenv(ROLES_ENV, "auditor")
    cleared = runner.invoke(app, ["roles", "cli_key", "--set", "", "--state", state])
    assert cleared.exit_code == 0 and "any role" in cleared.output
    bad = runner.invoke(app, ["create", "cli_bad", "--roles", "a b", "--state", state])
    assert bad.exit_code == 1 and "--roles" in bad.output
    info = runner.invoke(app, ["info", "cli_key", "--state", state, "--json"])
    assert json.loads(info.stdout)["roles"] == []
    master, _ = LocalKeyring(keyring.state_dir)._material("cli_key", None)
    for result in (made, shown, cleared, info):
        assert master.reveal().hex() not in result.output


def test_a_key_can_be_granted_to_one_principal_by_name(
    keyring: LocalKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = keyring
    ring.create("alice_only", roles=["principal:alice@example.org"])
    wrapped = ring.wrap_key(KeyRef.parse("alice_only"), b"k" * 32)  # writing stays open to anyone
    monkeypatch.setenv(PRINCIPAL_ENV, "alice@example.org")
    assert ring.unwrap_data_key("alice_only", wrapped).reveal() == b"k" * 32
    monkeypatch.setenv(PRINCIPAL_ENV, "bob")
    with pytest.raises(KeyAccessDenied, match="principal 'bob'") as refused:
        ring.unwrap_data_key("alice_only", wrapped)
    assert "1 principal(s) by name" in str(refused.value) and "alice@example.org" not in str(refused.value)
    # a grant is not a role: listing it among one's roles admits nobody
    monkeypatch.setenv(ROLES_ENV, "principal:alice@example.org")
    with pytest.raises(KeyringError, match="principal grants, not roles"):
        ring.unwrap_data_key("alice_only", wrapped)
