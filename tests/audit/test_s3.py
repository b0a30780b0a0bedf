"""S3: the archive as write-once objects under Object Lock (COMPLIANCE), the copy location and exports on
S3, and the audit keys on AWS KMS, all against the moto server on loopback."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from vaultline.audit import AuditLog, AuditUnavailableError, verify_log
from vaultline.audit.folders import LocalFolder, download, open_folder
from vaultline.audit.key_material import AUDIT_KEY
from vaultline.audit.settings import COPY_ENV, RETAIN_DAYS_ENV, URL_ENV, numbered_files
from vaultline.cli.main import app
from vaultline.keys.aws_kms import KMS_ENDPOINT_ENV, AwsKmsProvider
from vaultline.keys.providers import PROVIDER_ENV
from vaultline.state import State

pytestmark = pytest.mark.s3
LATER = datetime.now(UTC) + timedelta(days=1)


def _fill(log: AuditLog, count: int) -> None:
    for number in range(count):
        log.record("dataset.read", resource="features", details={"rows": number})


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_closed_segments_and_checkpoints_are_archived_write_once_under_compliance_lock(
    state: State, lock_bucket: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(URL_ENV, f"s3://{lock_bucket}/vaultline/audit")
    monkeypatch.setenv(RETAIN_DAYS_ENV, "30")
    with AuditLog.open(state, segment_entries=5) as log:
        _fill(log, 12)
        log.checkpoint("run-end")
        closed = [n for n, _ in numbered_files(state.root / "audit" / "segments", "jsonl")][:-1]
    keys = _keys(s3_client, lock_bucket, "vaultline/audit/")
    segments = [k for k in keys if "/segments/" in k]
    checkpoints = [k for k in keys if "/checkpoints/" in k]
    assert segments == [f"vaultline/audit/segments/{n:06d}.jsonl" for n in closed] and len(closed) == 3
    assert len(checkpoints) == 4 and len([k for k in keys if "/public-keys/" in k]) == 1
    key = segments[0]
    head = s3_client.head_object(Bucket=lock_bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert timedelta(days=29) < until - datetime.now(UTC) <= timedelta(days=30)
    local = (state.root / "audit" / "segments" / "000001.jsonl").read_bytes()
    assert s3_client.get_object(Bucket=lock_bucket, Key=key)["Body"].read() == local
    with pytest.raises(ClientError) as refused:  # write-once: the same key cannot be written again
        s3_client.put_object(Bucket=lock_bucket, Key=key, Body=b"rewritten", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError) as denied:  # and the locked version cannot be deleted
        s3_client.delete_object(Bucket=lock_bucket, Key=key, VersionId=head["VersionId"])
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    archived = s3_client.get_object(Bucket=lock_bucket, Key=key)["Body"].read()
    assert hashlib.sha256(archived).digest() == hashlib.sha256(local).digest()
    fetched = tmp_path / "fetched"
    download(open_folder(f"s3://{lock_bucket}/vaultline/audit"), fetched)
    copy = LocalFolder(state.root / "audit-copy")
    report = verify_log(fetched, copy=copy, closed_only=True)  # the open segment is not archived yet
    assert report.ok and report.segments == 3
    truncated = verify_log(fetched, copy=copy)  # read as a whole log, the open segment's entries are missing
    assert {f.code for f in truncated.findings} == {"truncated-tail"}
    archive = f"s3://{lock_bucket}/vaultline/audit"
    result = CliRunner().invoke(
        app, ["audit", "verify", "--from", archive, "--copy", str(state.root / "audit-copy")]
    )
    assert result.exit_code == 0 and "audit log verified: 15 entries in 3 segment(s)" in result.output


def test_prune_keeps_segments_whose_archived_objects_are_locked(
    state: State, lock_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(URL_ENV, f"s3://{lock_bucket}/audit")
    with AuditLog.open(state, segment_entries=5) as log:
        _fill(log, 12)
        log.export(str(tmp_path / "export"))
        _fill(log, 2)
        result = log.prune(LATER)
        assert log.verify().ok
    assert result.segments == () and (result.stop_reason, result.stopped_at) == ("locked", 1)
    assert result.locked_until and datetime.fromisoformat(result.locked_until) > LATER
    assert (state.root / "audit" / "segments" / "000001.jsonl").exists()


def test_an_archive_bucket_without_object_lock_fails_closed(
    state: State, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, f"s3://{s3_bucket}/audit")
    with pytest.raises(AuditUnavailableError, match="S3 refused"):
        AuditLog.open(state)


def test_copy_location_and_export_on_s3(
    state: State, s3_bucket: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(COPY_ENV, f"s3://{s3_bucket}/copy")
    with AuditLog.open(state, segment_entries=6) as log:
        _fill(log, 10)
        log.checkpoint("run-end")
        first = log.export(f"s3://{s3_bucket}/export")
        second = log.export(f"s3://{s3_bucket}/export")
    assert first.written == first.segments + first.checkpoints + first.public_keys
    assert second.written == 2  # only the newly closed segment and its checkpoint
    copy = open_folder(f"s3://{s3_bucket}/copy")
    assert copy.names("checkpoints") == sorted(
        p.name for p in (state.root / "audit" / "checkpoints").iterdir()
    )
    assert verify_log(state.root / "audit", copy=copy).ok
    tampered = state.root / "audit" / "checkpoints" / "000001.json"
    tampered.chmod(0o600)
    tampered.write_bytes(tampered.read_bytes().replace(b'"reason":"segment-close"', b'"reason":"run-end"'))
    assert "checkpoint-differs" in {f.code for f in verify_log(state.root / "audit", copy=copy).findings}


def test_the_log_derives_its_keys_from_aws_kms(
    state: State, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROVIDER_ENV, "aws-kms")
    monkeypatch.delenv(KMS_ENDPOINT_ENV, raising=False)  # KMS is served beside S3 on the moto server
    with AuditLog.open(state) as log:
        recorded = log.record("dataset.read", identifiers={"subject": "patient-9"})
        log.checkpoint("run-end")
        first_hash = log.hash_identifier("subject", "patient-9")
    with AuditLog.open(state) as again:
        assert again.hash_identifier("subject", "patient-9") == first_hash  # deterministic: GenerateMac
        # (the entries before it depend on whether an earlier test on this moto server created the keys)
        assert [e.seq for e in again.search("patient-9", kind="subject")] == [recorded.seq]
        again.checkpoint("run-end")
        assert again.verify().ok
    assert len(list((state.root / "audit-copy" / "public-keys").iterdir())) == 1  # one signing key
    assert AwsKmsProvider().info(AUDIT_KEY).purpose == "audit"
