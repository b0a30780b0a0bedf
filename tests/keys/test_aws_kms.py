"""AwsKmsProvider against the moto server on loopback (KMS served beside S3)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.cli.keys import app
from vaultline.errors import KeyringError, KeyUnavailableError
from vaultline.keys import hooks
from vaultline.keys.aws_kms import KMS_ENDPOINT_ENV, AwsKmsProvider
from vaultline.keys.hooks import KeyUse
from vaultline.keys.principal import PRINCIPAL_ENV, ROLES_ENV
from vaultline.keys.provider import KeyAccessDenied, KeyRef

pytestmark = pytest.mark.s3
runner = CliRunner()


@pytest.fixture
def kms(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> AwsKmsProvider:
    # No VAULTLINE_KMS_ENDPOINT: the provider must fall back to the S3 endpoint the fixture sets.
    monkeypatch.delenv(KMS_ENDPOINT_ENV, raising=False)
    monkeypatch.delenv(ROLES_ENV, raising=False)
    monkeypatch.setenv(PRINCIPAL_ENV, "bob")
    provider = AwsKmsProvider()
    assert provider.endpoint_url == moto_server
    return provider


@pytest.fixture
def kms_client(moto_server: str) -> Any:
    import boto3

    return boto3.client("kms", endpoint_url=moto_server, region_name="us-east-1")


def _name() -> str:
    # The moto server lives for the whole session: every test uses fresh key names.
    return f"k_{uuid.uuid4().hex[:12]}"


def _version_of(wrapped: bytes) -> int:
    assert wrapped[:4] == b"VLA1"
    return int(struct.unpack(">I", wrapped[4:8])[0])


def test_create_tags_the_key_behind_its_alias(kms: AwsKmsProvider, kms_client: Any) -> None:
    name = _name()
    info = kms.create(name, purpose="tokenize customers")
    assert (info.name, info.current_version, info.versions, info.purpose) == (
        name,
        1,
        (1,),
        "tokenize customers",
    )
    key_id = kms_client.describe_key(KeyId=f"alias/vaultline/{name}")["KeyMetadata"]["KeyId"]
    tags = {t["TagKey"]: t["TagValue"] for t in kms_client.list_resource_tags(KeyId=key_id)["Tags"]}
    assert tags["vaultline:purpose"] == "tokenize customers" and tags["vaultline:created"] == info.created
    assert kms.info(name) == info and info in kms.list()
    with pytest.raises(KeyringError, match="already exists"):
        kms.create(name)
    with pytest.raises(KeyringError, match=r"without '\.'"):
        kms.create("dotted.name")


def test_wrap_unwrap_round_trip(kms: AwsKmsProvider) -> None:
    name, other = _name(), _name()
    kms.create(name)
    kms.create(other)
    plain = bytes(range(32))
    wrapped = kms.wrap_key(KeyRef(name), plain)
    assert plain not in wrapped and _version_of(wrapped) == 1
    assert kms.unwrap_data_key(name, wrapped).reveal() == plain
    with pytest.raises(KeyringError, match="does not belong"):
        kms.unwrap_data_key(other, wrapped)  # the encryption context binds the key name
    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with pytest.raises(KeyringError):
        kms.unwrap_data_key(name, tampered)
    forged = wrapped[:4] + struct.pack(">I", 7) + wrapped[8:]
    with pytest.raises(KeyringError, match="no version 7"):
        kms.unwrap_data_key(name, forged)
    with pytest.raises(KeyringError, match="AWS KMS format"):
        kms.unwrap_data_key(name, b"VLK1" + wrapped[4:])


def test_generate_data_key(kms: AwsKmsProvider) -> None:
    name = _name()
    kms.create(name)
    data_key, wrapped = kms.generate_data_key(KeyRef(name))
    assert len(data_key) == 32 and data_key.reveal() not in wrapped
    assert data_key.reveal().hex() not in repr(data_key)
    assert AwsKmsProvider().unwrap_data_key(name, wrapped) == data_key


def test_derive_is_deterministic_and_context_separated(kms: AwsKmsProvider) -> None:
    name = _name()
    kms.create(name)
    ref = KeyRef(name)
    a1, v1 = kms.derive(ref, context="tokenize/customer")
    a2, _ = AwsKmsProvider().derive(ref, context="tokenize/customer")  # a fresh client, as another run
    b, _ = kms.derive(ref, context="tokenize/account")
    assert v1 == 1 and len(a1) == 32 and a1 == a2 and a1 != b


def test_rotate_keeps_old_wrapped_keys_and_moves_new_work(kms: AwsKmsProvider) -> None:
    name = _name()
    kms.create(name, purpose="pii", roles=["analyst"])
    ref = KeyRef(name)
    old_key, old_wrapped = kms.generate_data_key(ref)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ROLES_ENV, "analyst")
        before, _ = kms.derive(ref, context="tokenize/customer")
    info = kms.rotate(name)
    assert (info.current_version, info.versions, info.purpose, info.roles) == (2, (1, 2), "pii", ("analyst",))
    assert kms.info(name) == info
    new_key, new_wrapped = kms.generate_data_key(ref)
    assert _version_of(new_wrapped) == 2 and _version_of(kms.wrap_key(ref, b"k" * 32)) == 2
    assert _version_of(kms.wrap_key(KeyRef(name, 1), b"k" * 32)) == 1  # pinned
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ROLES_ENV, "analyst")
        assert kms.unwrap_data_key(name, old_wrapped) == old_key
        assert kms.unwrap_data_key(name, new_wrapped) == new_key
        v2, version = kms.derive(ref, context="tokenize/customer")
        v1, pinned = kms.derive(KeyRef(name, 1), context="tokenize/customer")
        assert (version, pinned) == (2, 1) and v1 == before and v2 != before
        with pytest.raises(KeyringError, match="no version 9"):
            kms.derive(KeyRef(name, 9), context="x")


def test_unknown_key_names_the_fix(kms: AwsKmsProvider) -> None:
    known = _name()
    kms.create(known)
    with pytest.raises(KeyringError) as caught:
        kms.derive(KeyRef("no_such_key"), context="x")
    text = str(caught.value)
    assert "no_such_key" in text and "vaultline keys create no_such_key --provider aws-kms" in text
    assert known in text and "Traceback" not in text


def test_unreachable_endpoint_fails_closed_without_traceback(moto_server: str) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://admin:S3cretPW@127.0.0.1:{port}"  # userinfo an endpoint may carry: never shown
    provider = AwsKmsProvider(endpoint_url=endpoint, max_attempts=1, connect_timeout=1)
    with pytest.raises(KeyUnavailableError) as caught:
        provider.derive(KeyRef("customer_key"), context="tokenize/customer")
    error = caught.value
    text = str(error)
    assert error.retryable and "unreachable" in text and f"http://127.0.0.1:{port}" in text
    assert "S3cretPW" not in text and "S3cretPW" not in repr(provider)
    assert "Traceback" not in text and "botocore" not in text
    assert error.__cause__ is None and error.__suppress_context__
    assert "botocore" not in "".join(traceback.format_exception(error))


def test_no_region_is_named_as_such_and_not_retryable(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(KeyringError, match="no AWS region is configured") as caught:
        AwsKmsProvider(endpoint_url=moto_server).info("customer_key")
    assert not caught.value.retryable and "failed (KeyringError)" not in caught.value.render()
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # what the hint says, though boto3 reads it not
    missing = _name()
    with pytest.raises(KeyringError, match=f"no key named '{missing}'"):
        AwsKmsProvider(endpoint_url=moto_server).info(missing)


def test_roles_are_enforced_and_stored_as_a_tag(
    kms: AwsKmsProvider, kms_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _name()
    kms.create(name, roles=["auditor"])
    key_id = kms_client.describe_key(KeyId=f"alias/vaultline/{name}")["KeyMetadata"]["KeyId"]
    tags = {t["TagKey"]: t["TagValue"] for t in kms_client.list_resource_tags(KeyId=key_id)["Tags"]}
    assert tags["vaultline:roles"] == "auditor"
    data_key, wrapped = kms.generate_data_key(KeyRef(name))  # writing is allowed
    with pytest.raises(KeyAccessDenied) as caught:
        kms.unwrap_data_key(name, wrapped)
    assert name in str(caught.value) and "bob" in str(caught.value)
    with pytest.raises(KeyAccessDenied):
        kms.derive(KeyRef(name), context="x")
    with pytest.raises(KeyAccessDenied):
        kms.set_roles(name, [])
    monkeypatch.setenv(ROLES_ENV, "auditor")
    assert kms.unwrap_data_key(name, wrapped) == data_key
    assert kms.set_roles(name, []).roles == ()
    monkeypatch.delenv(ROLES_ENV)
    kms.derive(KeyRef(name), context="x")


def test_hooks_see_kms_uses(kms: AwsKmsProvider) -> None:
    name = _name()
    seen: list[KeyUse] = []
    hooks.register(seen.append)
    try:
        kms.create(name)
        _, wrapped = kms.generate_data_key(KeyRef(name))
        kms.unwrap_data_key(name, wrapped)
        kms.derive(KeyRef(name), context="tokenize/customer")
    finally:
        hooks.unregister(seen.append)
    assert [(u.action, u.version, u.provider, u.principal) for u in seen] == [
        ("create", 1, "aws-kms", "bob"),
        ("generate_data_key", 1, "aws-kms", "bob"),
        ("unwrap_data_key", 1, "aws-kms", "bob"),
        ("derive", 1, "aws-kms", "bob"),
    ]


def test_cli_with_the_aws_kms_provider(kms: AwsKmsProvider, tmp_path: Path) -> None:
    name = _name()
    state = ["--state", str(tmp_path)]
    made = runner.invoke(app, ["create", name, "--provider", "aws-kms", "--roles", "ops", *state])
    assert made.exit_code == 0, made.output
    rotated = runner.invoke(app, ["rotate", name, "--provider", "aws-kms", *state])
    assert rotated.exit_code == 0 and "current version 2" in rotated.output
    info = runner.invoke(app, ["info", name, "--provider", "aws-kms", "--json", *state])
    assert json.loads(info.stdout)["versions"] == [1, 2]
    listed = runner.invoke(app, ["list", "--provider", "aws-kms", "--json", *state])
    assert name in [k["name"] for k in json.loads(listed.stdout)]
    missing = runner.invoke(app, ["info", "absent_key", "--provider", "aws-kms", *state])
    assert missing.exit_code == 1 and "no key named 'absent_key'" in missing.output
    assert "Traceback" not in missing.output


def test_importing_the_provider_does_not_import_boto3() -> None:
    code = (
        "import sys, vaultline.keys.aws_kms, vaultline.keys.providers, vaultline.cli.keys; "
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("code", "error_type", "expected"),
    [
        ("AccessDeniedException", KeyringError, "kms:Decrypt"),
        ("ThrottlingException", KeyUnavailableError, "retry later"),
        ("DisabledException", KeyringError, "enable the key"),
    ],
)
def test_kms_error_codes_become_vaultline_errors(
    kms: AwsKmsProvider, code: str, error_type: type[Exception], expected: str
) -> None:
    # moto enforces neither IAM nor key state, so these answers are built as botocore would raise them.
    from botocore.exceptions import ClientError

    kms._client()
    answer = ClientError({"Error": {"Code": code, "Message": "refused by test"}}, "Decrypt")
    error = kms._translate(answer, "decrypt", key="customer_key")
    assert type(error) is error_type and expected in str(error) and "customer_key" in str(error)
    assert error.retryable == (error_type is KeyUnavailableError)


def test_an_interrupted_rotation_is_not_a_version_and_is_redone(kms: AwsKmsProvider, kms_client: Any) -> None:
    name = _name()
    kms.create(name)
    # A rotation that stopped after making version 2's aliases, before repointing the key's alias.
    stray = kms_client.create_key()["KeyMetadata"]["KeyId"]
    kms_client.create_alias(AliasName=f"alias/vaultline/{name}/v2", TargetKeyId=stray)
    assert kms.info(name).versions == (1,)
    with pytest.raises(KeyringError, match="no version 2"):
        kms.wrap_key(KeyRef(name, 2), b"k" * 32)
    assert kms.rotate(name).versions == (1, 2)
    wrapped = kms.wrap_key(KeyRef(name), b"k" * 32)
    assert _version_of(wrapped) == 2 and kms.unwrap_data_key(name, wrapped).reveal() == b"k" * 32
