"""The local keyring: encrypted at rest, passphrase-bound, rotation, derivation, no material in reprs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from vaultline.errors import KeyringError
from vaultline.keys import local
from vaultline.keys.local import DEV_PASSPHRASE_FILE, PASSPHRASE_ENV, LocalKeyring
from vaultline.keys.provider import KeyRef
from vaultline.keys.secret import SecretBytes


def test_material_is_encrypted_at_rest(keyring: LocalKeyring) -> None:
    key, _ = keyring._material("customer_key", None)
    stored = keyring.path.read_bytes()
    assert key.reveal() not in stored
    assert key.reveal().hex().encode() not in stored
    assert oct(keyring.path.stat().st_mode & 0o777) == "0o600"


def test_wrong_passphrase_is_refused(keyring: LocalKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "another passphrase")
    with pytest.raises(KeyringError, match="does not open"):
        LocalKeyring(keyring.state_dir).list()


def test_missing_passphrase_is_refused(keyring: LocalKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(KeyringError, match=PASSPHRASE_ENV):
        LocalKeyring(keyring.state_dir).list()


def test_dev_keyring_warns_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    ring = LocalKeyring(tmp_path)
    ring.create("k")
    assert "WARNING" in capsys.readouterr().err
    assert ring.is_dev and (tmp_path / DEV_PASSPHRASE_FILE).exists()
    LocalKeyring(tmp_path).list()
    assert "DEV keyring" not in capsys.readouterr().err  # once per process is loud enough
    monkeypatch.setattr(local, "_warned_dev", set())
    LocalKeyring(tmp_path).list()
    assert "DEV keyring" in capsys.readouterr().err


def test_a_dev_keyring_opened_with_a_passphrase_says_to_unset_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    LocalKeyring(tmp_path, warn=False).create("k")
    monkeypatch.setenv(PASSPHRASE_ENV, "a real one")
    with pytest.raises(KeyringError, match=f"DEV keyring.*unset {PASSPHRASE_ENV}"):
        LocalKeyring(tmp_path).list()


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[:100],
        lambda text: "",
        lambda text: "[]",
        lambda text: text.replace('"kdf"', '"kdx"'),
        lambda text: text.replace('"n": 32768', '"n": 3'),
        lambda text: re.sub(r'"ciphertext": "[^"]*"', '"ciphertext": "!!!notbase64"', text, count=1),
        lambda text: re.sub(r'"current": \d+', '"current": "x"', text, count=1),
        lambda text: re.sub(r'"current": \d+', '"current": 7', text, count=1),
    ],
    ids=[
        "truncated",
        "empty",
        "a-list",
        "no-kdf",
        "bad-scrypt-cost",
        "not-base64",
        "current-text",
        "current-gone",
    ],
)
def test_a_damaged_keyring_is_one_clear_error(keyring: LocalKeyring, damage: Any) -> None:
    keyring.path.write_text(damage(keyring.path.read_text()))
    with pytest.raises(KeyringError, match="is damaged or not a Vaultline keyring") as caught:
        LocalKeyring(keyring.state_dir).list()
    assert "restore it from a backup" in str(caught.value)


def test_an_unreadable_keyring_is_not_called_damaged(
    keyring: LocalKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    # root reads a chmod 000 file all the same: the refusal comes from the file system here
    real = Path.read_text

    def refused(path: Path, *args: Any, **kwargs: Any) -> str:
        if path == keyring.path:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refused)
    with pytest.raises(KeyringError, match=r"cannot be read \(Permission denied\)") as caught:
        LocalKeyring(keyring.state_dir).list()
    assert "chmod 600" in str(caught.value) and "backup" not in str(caught.value)


def test_a_lost_keyring_is_not_silently_replaced_beside_an_audit_log(
    keyring: LocalKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    segments = keyring.state_dir / "audit" / "segments"
    segments.mkdir(parents=True)
    (segments / "000001.jsonl").write_text("")
    keyring.path.chmod(0o644)
    LocalKeyring(keyring.state_dir).list()
    assert "readable by others" in capsys.readouterr().err
    keyring.path.unlink()
    with pytest.raises(KeyringError, match="is missing, but this state directory has an audit log"):
        LocalKeyring(keyring.state_dir).list()
    assert not keyring.path.exists()


def test_derive_is_stable_domain_separated_and_versioned(keyring: LocalKeyring) -> None:
    ref = KeyRef.parse("customer_key")
    a1, v1 = keyring.derive(ref, context="tokenize/customer")
    a2, _ = LocalKeyring(keyring.state_dir).derive(ref, context="tokenize/customer")
    b, _ = keyring.derive(ref, context="tokenize/other")
    assert a1 == a2 and a1 != b and v1 == 1
    keyring.rotate("customer_key")
    c, v2 = keyring.derive(ref, context="tokenize/customer")
    pinned, v_pinned = keyring.derive(KeyRef.parse("customer_key@1"), context="tokenize/customer")
    assert v2 == 2 and c != a1 and pinned == a1 and v_pinned == 1


def test_data_keys_unwrap_after_rotation(keyring: LocalKeyring) -> None:
    data_key, wrapped = keyring.generate_data_key(KeyRef("account_key"))
    keyring.rotate("account_key")
    assert keyring.unwrap_data_key("account_key", wrapped) == data_key
    with pytest.raises(KeyringError):
        keyring.unwrap_data_key("patient_key", wrapped)
    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with pytest.raises(KeyringError):
        keyring.unwrap_data_key("account_key", tampered)


def test_secrets_never_print_themselves(keyring: LocalKeyring) -> None:
    key, _ = keyring.derive(KeyRef("customer_key"), context="x")
    for text in (repr(key), str(key), f"{key}", f"{key!r}", str([key]), json.dumps({"k": str(key)})):
        assert key.reveal().hex() not in text
        assert "SecretBytes" in text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(key)
    assert SecretBytes(b"x" * 32) == SecretBytes(b"x" * 32)


def test_errors_name_the_key_and_fix(keyring: LocalKeyring) -> None:
    with pytest.raises(KeyringError) as caught:
        keyring.derive(KeyRef("nope"), context="x")
    assert "nope" in str(caught.value) and "vaultline keys create nope" in str(caught.value)
    with pytest.raises(KeyringError, match="already exists"):
        keyring.create("customer_key")
    with pytest.raises(KeyringError, match="no version 9"):
        keyring.derive(KeyRef.parse("customer_key@9"), context="x")
    with pytest.raises(KeyringError, match="not a key reference"):
        KeyRef.parse("bad key!")


@pytest.mark.parametrize("name", ["brandnew@2", "customer_key@1"])
def test_a_pinned_reference_is_not_a_key_name(keyring: LocalKeyring, name: str) -> None:
    with pytest.raises(KeyringError, match=r"is a reference to version .* not a key name"):
        keyring.create(name)
    with pytest.raises(KeyringError, match="not a key name"):
        keyring.rotate(name)
    assert not [info.name for info in keyring.list() if "@" in info.name]
    assert keyring.info("customer_key").current_version == 1


def test_two_keyring_objects_adding_keys_keep_each_others_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run creates default keys through its own provider while another holder of the keyring adds
    # keys: neither may write back a stale copy that drops the other's keys (they protect data).
    monkeypatch.setenv(PASSPHRASE_ENV, "two-writers")
    first, second = LocalKeyring(tmp_path, warn=False), LocalKeyring(tmp_path, warn=False)
    first.create("a")
    second.create("b")
    first.create("c")
    wrapped = second.wrap_key(KeyRef.parse("b"), b"k" * 32)
    first.rotate("a")
    assert {k.name for k in LocalKeyring(tmp_path, warn=False).list()} == {"a", "b", "c"}
    assert LocalKeyring(tmp_path, warn=False).unwrap_data_key("b", wrapped).reveal() == b"k" * 32


def test_a_keyring_object_sees_keys_and_versions_created_after_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "late-readers")
    early = LocalKeyring(tmp_path, warn=False)
    early.create("a")
    other = LocalKeyring(tmp_path, warn=False)
    other.create("late")
    other.rotate("a")
    late_blob, rotated_blob = (
        other.wrap_key(KeyRef.parse("late"), b"x" * 32),
        other.wrap_key(KeyRef.parse("a"), b"y" * 32),
    )
    assert early.unwrap_data_key("late", late_blob).reveal() == b"x" * 32
    assert early.unwrap_data_key("a", rotated_blob).reveal() == b"y" * 32
