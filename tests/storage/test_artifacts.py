"""Encrypted artifacts: AWS Encryption SDK messages under a keyring-derived key or a KMS key (moto)."""

from __future__ import annotations

import io
import logging
import secrets
from pathlib import Path
from typing import Any

import pytest

from kms_faults import CONNECTION, fail_kms, loud_sdk_records
from vaultline.errors import EX_TEMPFAIL, KeyringError, KeyUnavailableError
from vaultline.keys.local import LocalKeyring
from vaultline.keys.provider import KeyRef
from vaultline.storage.artifacts import (
    DERIVE_CONTEXT,
    FRAME_LENGTH,
    KEY_NAMESPACE,
    ArtifactError,
    KeyringKey,
    KmsKey,
    decrypt_file,
    encrypt_file,
    parse_keyring,
)

CONTEXT = {"dataset": "claims", "run_id": "20260101T000000-abc123", "purpose": "landing"}


@pytest.fixture
def artifact_key(keyring: LocalKeyring) -> KeyringKey:
    keyring.create("artifact_key", purpose="artifacts")
    return KeyringKey(keyring, "artifact_key")


@pytest.fixture
def raw_csv(tmp_path: Path) -> Path:
    """A CSV of about 300 KiB (five 64 KiB frames), each row with a distinctive marker."""
    rows = ["member_id,ssn,note"] + [
        f"M{i:07d},{100 + i % 800:03d}-{i % 90 + 10:02d}-{i % 9000 + 1000:04d},marker-{i:06d}-"
        + secrets.token_hex(8)
        for i in range(7000)
    ]
    path = tmp_path / "claims.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert path.stat().st_size > 200 * 1024
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_round_trip_of_a_multi_frame_file(tmp_path: Path, raw_csv: Path, artifact_key: KeyringKey) -> None:
    encrypted, back = tmp_path / "claims.csv.enc", tmp_path / "back.csv"
    info = encrypt_file(raw_csv, encrypted, artifact_key, context=CONTEXT)
    assert info.key == "artifact_key@1" and info.frame_length == FRAME_LENGTH
    assert info.plaintext_bytes == raw_csv.stat().st_size
    out = decrypt_file(encrypted, back, artifact_key, context=CONTEXT)
    assert back.read_bytes() == raw_csv.read_bytes()
    assert out.context == CONTEXT and out.plaintext_bytes == raw_csv.stat().st_size
    assert encrypted.stat().st_mode & 0o077 == 0  # written through a private temp file
    assert leftovers(tmp_path) == []


def test_the_sdk_itself_reads_it_frame_length_and_context(
    tmp_path: Path, raw_csv: Path, artifact_key: KeyringKey, keyring: LocalKeyring
) -> None:
    """An independent ESDK decrypt (raw AES keyring: namespace `vaultline`, key `artifact_key@1`)."""
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
    from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
    from aws_encryption_sdk.key_providers.raw import RawMasterKey

    encrypted = tmp_path / "claims.csv.enc"
    encrypt_file(raw_csv, encrypted, artifact_key, context=CONTEXT)
    secret, _ = keyring.derive(KeyRef("artifact_key", 1), context=DERIVE_CONTEXT)
    master = RawMasterKey(
        provider_id=KEY_NAMESPACE,
        key_id=b"artifact_key@1",
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=secret.reveal(),
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    plain = io.BytesIO()
    with encrypted.open("rb") as source:
        decryptor = client.stream(mode="d", source=source, key_provider=master)
        header = decryptor.header
        while chunk := decryptor.read(65536):
            plain.write(chunk)
        decryptor.close()
    assert header.frame_length == 65536
    assert header.algorithm.is_committing() and header.algorithm.is_signing()
    assert {k: v for k, v in header.encryption_context.items() if not k.startswith("aws-crypto-")} == CONTEXT
    assert plain.getvalue() == raw_csv.read_bytes()


def test_no_plaintext_in_the_ciphertext(tmp_path: Path, raw_csv: Path, artifact_key: KeyringKey) -> None:
    encrypted = tmp_path / "claims.csv.enc"
    encrypt_file(raw_csv, encrypted, artifact_key, context=CONTEXT)
    ciphertext = encrypted.read_bytes()
    lines = raw_csv.read_bytes().splitlines()
    assert lines[0] not in ciphertext
    for line in lines[1::97]:
        for field in line.split(b","):
            assert field not in ciphertext
    assert b"marker-" not in ciphertext and b"member_id" not in ciphertext


@pytest.mark.parametrize("where", ["header", "middle", "last"])
def test_a_flipped_byte_is_a_clear_error(
    tmp_path: Path, raw_csv: Path, artifact_key: KeyringKey, where: str
) -> None:
    encrypted, back = tmp_path / "claims.csv.enc", tmp_path / "back.csv"
    encrypt_file(raw_csv, encrypted, artifact_key, context=CONTEXT)
    data = bytearray(encrypted.read_bytes())
    data[{"header": 40, "middle": len(data) // 2, "last": len(data) - 1}[where]] ^= 0x01
    encrypted.write_bytes(bytes(data))
    with pytest.raises(ArtifactError) as error:
        decrypt_file(encrypted, back, artifact_key, context=CONTEXT)
    assert str(encrypted) in error.value.render()
    assert "integrity" in error.value.render() or "cannot decrypt" in error.value.render()
    assert not back.exists() and leftovers(tmp_path) == []


def test_a_truncated_file_is_a_clear_error(tmp_path: Path, raw_csv: Path, artifact_key: KeyringKey) -> None:
    encrypted, back = tmp_path / "claims.csv.enc", tmp_path / "back.csv"
    encrypt_file(raw_csv, encrypted, artifact_key, context=CONTEXT)
    encrypted.write_bytes(encrypted.read_bytes()[: 3 * FRAME_LENGTH])
    with pytest.raises(ArtifactError, match="altered or truncated"):
        decrypt_file(encrypted, back, artifact_key, context=CONTEXT)
    assert not back.exists()


def test_a_wrong_context_is_refused_before_writing(
    tmp_path: Path, raw_csv: Path, artifact_key: KeyringKey
) -> None:
    encrypted, back = tmp_path / "claims.csv.enc", tmp_path / "back.csv"
    encrypt_file(raw_csv, encrypted, artifact_key, context=CONTEXT)
    with pytest.raises(ArtifactError, match=r"does not match \(different run_id\)") as error:
        decrypt_file(encrypted, back, artifact_key, context={**CONTEXT, "run_id": "another-run"})
    assert "another-run" not in error.value.render() and CONTEXT["run_id"] not in error.value.render()
    with pytest.raises(ArtifactError, match=r"missing export_id"):
        decrypt_file(encrypted, back, artifact_key, context={**CONTEXT, "export_id": "7"})
    assert not back.exists()
    # a subset of the context is enough: the caller states what it relies on
    decrypt_file(encrypted, back, artifact_key, context={"dataset": "claims"})
    with pytest.raises(ArtifactError, match="required"):
        encrypt_file(raw_csv, encrypted, artifact_key, context={})
    with pytest.raises(ArtifactError, match="reserved"):
        encrypt_file(raw_csv, encrypted, artifact_key, context={"aws-crypto-public-key": "x"})


def test_rotation_and_the_wrong_key(
    tmp_path: Path, raw_csv: Path, artifact_key: KeyringKey, keyring: LocalKeyring
) -> None:
    old, new, back = tmp_path / "old.enc", tmp_path / "new.enc", tmp_path / "back.csv"
    encrypt_file(raw_csv, old, artifact_key, context=CONTEXT)
    keyring.rotate("artifact_key")
    assert encrypt_file(raw_csv, new, artifact_key, context=CONTEXT).key == "artifact_key@2"
    decrypt_file(old, back, artifact_key, context=CONTEXT)  # every version is offered
    assert back.read_bytes() == raw_csv.read_bytes()
    with pytest.raises(ArtifactError, match="cannot decrypt"):
        decrypt_file(old, back, KeyringKey(keyring, "artifact_key@2"), context=CONTEXT)
    with pytest.raises(ArtifactError, match="key other_key cannot decrypt"):
        decrypt_file(new, back, KeyringKey(keyring, "other_key"), context=CONTEXT)
    with pytest.raises(KeyringError, match="no key named 'nope'"):
        encrypt_file(raw_csv, new, KeyringKey(keyring, "nope"), context=CONTEXT)


def test_not_an_artifact_and_a_missing_source(
    tmp_path: Path, raw_csv: Path, artifact_key: KeyringKey
) -> None:
    from vaultline.errors import SourceError

    with pytest.raises(ArtifactError, match="integrity"):
        decrypt_file(raw_csv, tmp_path / "x", artifact_key, context=CONTEXT)
    with pytest.raises(SourceError, match="does not exist"):
        encrypt_file(tmp_path / "absent.csv", tmp_path / "x.enc", artifact_key, context=CONTEXT)
    with pytest.raises(SourceError, match="cannot be read"):
        encrypt_file(tmp_path, tmp_path / "x.enc", artifact_key, context=CONTEXT)
    assert leftovers(tmp_path) == []


def test_parse_keyring(keyring: LocalKeyring) -> None:
    assert parse_keyring("kms:alias/vaultline-artifacts", keyring) == KmsKey("alias/vaultline-artifacts")
    assert parse_keyring("artifact_key@2", keyring) == KeyringKey(keyring, "artifact_key@2")
    assert parse_keyring("keyring:artifact_key", keyring) == KeyringKey(keyring, "artifact_key")
    with pytest.raises(KeyringError):
        parse_keyring("not a key!", keyring)


# -- AWS KMS and S3 on the moto server -------------------------------------------------------------------
@pytest.fixture
def kms(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    monkeypatch.setenv("VAULTLINE_KMS_ENDPOINT", moto_server)
    return boto3.client("kms", endpoint_url=moto_server, region_name="us-east-1")


@pytest.mark.s3
def test_kms_keyring_round_trip(tmp_path: Path, raw_csv: Path, kms: Any) -> None:
    arn = kms.create_key(Description="artifacts")["KeyMetadata"]["Arn"]
    alias = f"alias/vl-artifacts-{secrets.token_hex(4)}"
    kms.create_alias(AliasName=alias, TargetKeyId=arn)
    encrypted, back = tmp_path / "claims.csv.enc", tmp_path / "back.csv"
    info = encrypt_file(raw_csv, encrypted, KmsKey(alias), context=CONTEXT)
    assert info.key == arn  # the alias is resolved: strict decryption matches the ARN in the message
    assert (
        decrypt_file(encrypted, back, KmsKey(arn), context=CONTEXT).plaintext_bytes == raw_csv.stat().st_size
    )
    assert back.read_bytes() == raw_csv.read_bytes()
    decrypt_file(encrypted, back, KmsKey(alias), context=CONTEXT)
    other = kms.create_key(Description="another")["KeyMetadata"]["Arn"]
    with pytest.raises(ArtifactError, match="cannot decrypt"):
        decrypt_file(encrypted, tmp_path / "no.csv", KmsKey(other), context=CONTEXT)
    with pytest.raises(KeyringError, match="cannot be used"):
        encrypt_file(raw_csv, encrypted, KmsKey("alias/does-not-exist"), context=CONTEXT)


@pytest.mark.s3
def test_kms_key_on_s3_locations(tmp_path: Path, raw_csv: Path, kms: Any, s3_bucket: str) -> None:
    arn = kms.create_key(Description="artifacts")["KeyMetadata"]["Arn"]
    remote = f"s3://{s3_bucket}/landing/claims.csv.enc"
    encrypt_file(raw_csv, remote, KmsKey(arn), context=CONTEXT)
    back = tmp_path / "back.csv"
    decrypt_file(remote, back, KmsKey(arn), context=CONTEXT)
    assert back.read_bytes() == raw_csv.read_bytes()


# -- KMS failures: out of reach is retryable, a refusal says why, the SDK prints no traceback ---------
@pytest.fixture
def kms_artifact(tmp_path: Path, raw_csv: Path, kms: Any) -> tuple[str, Path]:
    arn = str(kms.create_key(Description="artifacts")["KeyMetadata"]["Arn"])
    encrypted = tmp_path / "sealed.enc"
    encrypt_file(raw_csv, encrypted, KmsKey(arn), context=CONTEXT)
    return arn, encrypted


def _use_kms(operation: str, arn: str, raw_csv: Path, encrypted: Path, out: Path) -> None:
    if operation == "GenerateDataKey":
        encrypt_file(raw_csv, out, KmsKey(arn), context=CONTEXT)
    else:
        decrypt_file(encrypted, out, KmsKey(arn), context=CONTEXT)


@pytest.mark.s3
@pytest.mark.parametrize(
    "code",
    ["ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "BadGateway", CONNECTION],
)
@pytest.mark.parametrize("operation", ["GenerateDataKey", "Decrypt"])
def test_kms_out_of_reach_is_retryable_and_names_the_artifact(
    tmp_path: Path,
    raw_csv: Path,
    kms_artifact: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    operation: str,
    code: str,
) -> None:
    """Not "the file was altered", not "check the key exists": KMS did not answer, so run again."""
    arn, encrypted = kms_artifact
    caplog.set_level(logging.DEBUG, logger="aws_encryption_sdk")
    failed = fail_kms(monkeypatch, operation, code)
    out = tmp_path / "out.bin"
    with pytest.raises(KeyUnavailableError) as raised:
        _use_kms(operation, arn, raw_csv, encrypted, out)
    assert failed == [operation]
    error = raised.value
    assert error.retryable and error.exit_code == EX_TEMPFAIL
    # named by the artifact being made or read, never by the file it is made from (a temp file, often)
    assert str(error).startswith(f"{out if operation == 'GenerateDataKey' else encrypted}:")
    assert str(raw_csv) not in str(error)
    assert "altered" not in str(error) and "check the key exists" not in str(error)
    assert loud_sdk_records(caplog.records) == []
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.s3
@pytest.mark.parametrize(
    ("code", "cause", "fix"),
    [
        ("DisabledException", "disabled or pending deletion", "enable the key"),
        ("AccessDeniedException", "denied", "grant the caller kms:"),
    ],
)
@pytest.mark.parametrize("operation", ["GenerateDataKey", "Decrypt"])
def test_kms_refusals_say_why_and_are_terminal(
    tmp_path: Path,
    raw_csv: Path,
    kms_artifact: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    operation: str,
    code: str,
    cause: str,
    fix: str,
) -> None:
    arn, encrypted = kms_artifact
    caplog.set_level(logging.DEBUG, logger="aws_encryption_sdk")
    fail_kms(monkeypatch, operation, code)
    with pytest.raises(KeyringError) as raised:
        _use_kms(operation, arn, raw_csv, encrypted, tmp_path / "out.bin")
    error = raised.value
    assert not error.retryable and error.exit_code == 1
    assert cause in error.message and code in error.message and "altered" not in str(error)
    assert fix in (error.hint or "")
    assert loud_sdk_records(caplog.records) == []


@pytest.mark.s3
def test_kms_describe_key_throttled_is_retryable(
    tmp_path: Path, raw_csv: Path, kms_artifact: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    arn, _ = kms_artifact
    fail_kms(monkeypatch, "DescribeKey", "ThrottlingException")
    with pytest.raises(KeyUnavailableError, match="right now") as raised:
        encrypt_file(raw_csv, tmp_path / "out.bin", KmsKey(arn), context=CONTEXT)
    assert raised.value.retryable


def test_an_empty_kms_key_id_is_named_as_missing(
    keyring: LocalKeyring, tmp_path: Path, raw_csv: Path
) -> None:
    """`kms:` alone used to reach botocore's parameter check and read as "KMS cannot be reached"."""
    for text in ("kms:", "kms:  "):
        with pytest.raises(KeyringError, match="the key id is missing") as raised:
            parse_keyring(text, keyring)
        assert not raised.value.retryable and "kms:alias/" in (raised.value.hint or "")
    with pytest.raises(KeyringError, match="the key id is missing"):
        encrypt_file(raw_csv, tmp_path / "x.enc", KmsKey(""), context=CONTEXT)


def test_a_private_output_never_replaces_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """Made whole by a rename, it would have replaced a device node: /dev/null became a 0600 file."""
    import os

    from vaultline.errors import OutputError
    from vaultline.storage.artifacts import private_output

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # not /dev/null itself: a regression would replace it; `new/` names a directory yet to exist
    for target in (fifo, tmp_path, f"{tmp_path}/new/"):
        with pytest.raises(OutputError, match="not a file"), private_output(target) as out:
            out.write(b"decrypted rows")
    assert not (tmp_path / "new").exists()
    assert fifo.is_fifo()
    with private_output(tmp_path / "rows.csv") as out:
        out.write(b"a,b\n")
    assert (tmp_path / "rows.csv").read_bytes() == b"a,b\n"
