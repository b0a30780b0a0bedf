"""Bucket and directory audits against a moto server on loopback, and `vaultline doctor` over them."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from vaultline.audit.settings import COPY_ENV, URL_ENV
from vaultline.cli.doctor import doctor
from vaultline.storage.bucket_audit import (
    PUBLIC_ACCESS_FLAGS,
    Check,
    audit_bucket,
    audit_directory,
    audit_target,
    tls_only_statement,
)

pytestmark = pytest.mark.s3

BUCKET_CHECKS = ("default_encryption", "public_access_block", "tls_only_policy", "versioning")


@pytest.fixture
def kms_key(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A customer managed KMS key on the moto server (KMS calls go there too); yields its ARN."""
    import boto3

    monkeypatch.setenv("VAULTLINE_KMS_ENDPOINT", moto_server)
    kms = boto3.client("kms", endpoint_url=moto_server, region_name="us-east-1")
    return str(kms.create_key(Description="vaultline bucket key")["KeyMetadata"]["Arn"])


@pytest.fixture
def make_bucket(s3_client: Any) -> Iterator[Callable[[], str]]:
    """Buckets created on demand and removed afterwards, policy first (a TLS-only policy would refuse
    the plain-HTTP cleanup of objects on moto)."""
    made: list[str] = []

    def make() -> str:
        name = f"vl-audit-{uuid.uuid4().hex[:12]}"
        s3_client.create_bucket(Bucket=name)
        made.append(name)
        return name

    yield make
    for name in made:
        s3_client.delete_bucket_policy(Bucket=name)
        versions = s3_client.list_object_versions(Bucket=name)
        for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            s3_client.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
        s3_client.delete_bucket(Bucket=name)


def harden(s3: Any, bucket: str, kms_arn: str) -> None:
    """Everything the audit asks for: SSE-KMS default, public access block, TLS-only, versioning."""
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_arn}
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=dict.fromkeys(PUBLIC_ACCESS_FLAGS, True)
    )
    policy = {"Version": "2012-10-17", "Statement": [tls_only_statement(bucket)]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_a_compliant_bucket_passes_every_check(
    make_bucket: Callable[[], str], s3_client: Any, kms_key: str
) -> None:
    bucket = make_bucket()
    harden(s3_client, bucket, kms_key)
    checks = by_name(audit_bucket(bucket))
    assert tuple(checks) == BUCKET_CHECKS
    assert {c.status for c in checks.values()} == {"pass"}, checks
    assert kms_key in checks["default_encryption"].detail  # the key is named, so it can be audited
    assert "SSE-KMS" in checks["default_encryption"].detail
    assert all(c.fix == "" and c.location == f"s3://{bucket}" for c in checks.values())


def test_a_disabled_kms_key_fails(make_bucket: Callable[[], str], s3_client: Any, kms_key: str) -> None:
    import boto3

    bucket = make_bucket()
    harden(s3_client, bucket, kms_key)
    kms = boto3.client("kms", endpoint_url=s3_client.meta.endpoint_url, region_name="us-east-1")
    kms.disable_key(KeyId=kms_key.rsplit("/", 1)[1])  # moto accepts only the bare key id here
    encryption = by_name(audit_bucket(bucket))["default_encryption"]
    assert encryption.status == "fail" and "Disabled" in encryption.detail
    assert f"enable-key --key-id {kms_key}" in encryption.fix


def test_a_bare_bucket_fails_each_check_with_its_fix(make_bucket: Callable[[], str]) -> None:
    bucket = make_bucket()
    checks = by_name(audit_bucket(bucket))
    assert {name: c.status for name, c in checks.items()} == {
        "default_encryption": "fail",
        "public_access_block": "fail",
        "tls_only_policy": "fail",
        "versioning": "warn",
    }
    assert f"put-bucket-encryption --bucket {bucket}" in checks["default_encryption"].fix
    assert '"SSEAlgorithm":"aws:kms"' in checks["default_encryption"].fix
    pab = checks["public_access_block"]
    assert all(flag in pab.detail for flag in PUBLIC_ACCESS_FLAGS)
    assert all(f"{flag}=true" in pab.fix for flag in PUBLIC_ACCESS_FLAGS)
    tls = checks["tls_only_policy"]
    document = json.loads(tls.fix.split("--policy '", 1)[1].rstrip("'"))
    assert document["Statement"] == [tls_only_statement(bucket)]
    assert "put-bucket-versioning" in checks["versioning"].fix


def test_partial_settings_name_what_is_missing(make_bucket: Callable[[], str], s3_client: Any) -> None:
    bucket = make_bucket()
    s3_client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3_client.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            **dict.fromkeys(PUBLIC_ACCESS_FLAGS, True),
            "RestrictPublicBuckets": False,
        },
    )
    # A policy that exists but allows plain HTTP: the fix is the exact statement to add.
    other = {"Sid": "ReadOnly", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}  # fmt: skip
    s3_client.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]})
    )
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    checks = by_name(audit_bucket(bucket))
    assert checks["default_encryption"].status == "warn"
    assert "SSE-S3" in checks["default_encryption"].detail
    assert checks["public_access_block"].status == "fail"
    assert checks["public_access_block"].detail.endswith("off: RestrictPublicBuckets")
    assert checks["tls_only_policy"].status == "fail"
    statement = json.loads(checks["tls_only_policy"].fix.split(": ", 1)[1])
    assert statement == tls_only_statement(bucket)
    assert checks["versioning"].status == "warn" and "suspended" in checks["versioning"].detail


def test_a_narrow_tls_statement_does_not_count(make_bucket: Callable[[], str], s3_client: Any) -> None:
    bucket = make_bucket()
    narrow = {**tls_only_statement(bucket), "Action": "s3:GetObject"}  # other actions still allowed over HTTP
    s3_client.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": narrow})
    )
    assert by_name(audit_bucket(bucket))["tls_only_policy"].status == "fail"


def test_a_missing_bucket_is_one_clear_failure(moto_server: str) -> None:
    checks = audit_bucket("vl-no-such-bucket-here")
    assert len(checks) == 1
    assert checks[0].name == "reachable" and checks[0].status == "fail"
    assert "does not exist" in checks[0].detail and checks[0].fix


def test_an_unreachable_endpoint_is_a_failure_not_a_traceback(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("VAULTLINE_S3_ENDPOINT", f"http://127.0.0.1:{port}")
    [check] = audit_bucket("vl-anything")
    assert (check.name, check.status) == ("reachable", "fail")
    assert "cannot reach" in check.detail and "VAULTLINE_S3_ENDPOINT" in check.fix


def test_local_directory_modes(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    assert {c.name: c.status for c in audit_directory(private)} == {
        "directory": "pass",
        "permissions": "pass",
    }
    for mode, words in ((0o755, "read"), (0o777, "write")):
        open_dir = tmp_path / f"open{mode:o}"
        open_dir.mkdir()
        open_dir.chmod(mode)
        permissions = by_name(audit_directory(open_dir))["permissions"]
        assert permissions.status == "fail" and words in permissions.detail
        assert permissions.fix == f"chmod o-rwx {open_dir}"
    missing = by_name(audit_directory(tmp_path / "not" / "yet"))
    assert missing["directory"].status == "pass" and "can be created" in missing["directory"].detail
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert by_name(audit_directory(a_file))["directory"].status == "fail"


def test_audit_targets() -> None:
    assert audit_target("s3://raw/landing/*.csv", names_files=True) == "s3://raw"
    assert audit_target("data/in/*.csv", names_files=True) == "data/in"
    assert audit_target("data/in/claims.csv", names_files=True) == "data/in"
    assert audit_target("out/protected", names_files=False) == "out/protected"


# -- vaultline doctor ------------------------------------------------------------------------------------
SPEC = """\
version: 1
name: doctor_demo
params:
  raw_bucket: unset
  out_bucket: unset
sources:
  claims:
    format: csv
    path: s3://${params.raw_bucket}/landing/*.csv
outputs:
  main:
    path: s3://${params.out_bucket}/protected/claims
quarantine:
  path: s3://${params.raw_bucket}/quarantine
"""


def doctor_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(doctor)
    app.command()(version)  # a second command keeps `doctor` a named subcommand, as in cli/main.py
    return app


def version() -> None:
    """A stand-in second command."""


def run_doctor(spec: Path, raw: str, out: str, *extra: str) -> Any:
    args = ["doctor", str(spec), "--param", f"raw_bucket={raw}", "--param", f"out_bucket={out}", *extra]
    return CliRunner().invoke(doctor_app(), args)


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def _audit_in_bucket(monkeypatch: pytest.MonkeyPatch, bucket: str) -> None:
    """Checkpoint copies and the segment archive in a bucket: the audit placement checks pass."""
    monkeypatch.setenv(COPY_ENV, f"s3://{bucket}/audit-copy")
    monkeypatch.setenv(URL_ENV, f"s3://{bucket}/audit-archive")


def test_doctor_passes_on_hardened_buckets(
    spec_file: Path, make_bucket: Callable[[], str], s3_client: Any, kms_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    raw, out = make_bucket(), make_bucket()
    for bucket in (raw, out):
        harden(s3_client, bucket, kms_key)
    _audit_in_bucket(monkeypatch, raw)
    result = run_doctor(spec_file, raw, out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["summary"] == {"pass": 10, "warn": 0, "fail": 0}  # two buckets x four checks, audit x two
    assert report["locations"] == [  # the raw bucket is audited once for the source and the quarantine
        {"location": f"s3://{raw}", "used_by": ["sources.claims", "quarantine"]},
        {"location": f"s3://{out}", "used_by": ["outputs.main"]},
    ]
    assert {tuple(sorted(c)) for c in report["checks"]} == {("detail", "fix", "location", "name", "status")}
    table = run_doctor(spec_file, raw, out)
    assert table.exit_code == 0 and "10 passed, 0 warning(s), 0 failed" in table.stdout


def test_doctor_fails_on_a_bare_bucket(
    spec_file: Path, make_bucket: Callable[[], str], s3_client: Any, kms_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    raw, out = make_bucket(), make_bucket()
    harden(s3_client, raw, kms_key)
    _audit_in_bucket(monkeypatch, raw)
    result = run_doctor(spec_file, raw, out, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["summary"] == {"pass": 6, "warn": 1, "fail": 3}
    failed = {c["name"] for c in report["checks"] if c["status"] == "fail"}
    assert failed == {"default_encryption", "public_access_block", "tls_only_policy"}
    assert all(c["location"] == f"s3://{out}" for c in report["checks"] if c["status"] != "pass")
    table = run_doctor(spec_file, raw, out)
    assert table.exit_code == 1
    assert "FAIL" in table.stdout and "put-public-access-block" in table.stdout
    assert "Traceback" not in table.output


def test_doctor_reports_a_missing_bucket_and_a_bad_spec(
    spec_file: Path, make_bucket: Callable[[], str]
) -> None:
    result = run_doctor(spec_file, make_bucket(), "vl-missing-bucket-xyz", "--json")
    assert result.exit_code == 1
    missing = [
        c for c in json.loads(result.stdout)["checks"] if c["location"] == "s3://vl-missing-bucket-xyz"
    ]
    assert [(c["name"], c["status"]) for c in missing] == [("reachable", "fail")]
    bad = CliRunner().invoke(doctor_app(), ["doctor", str(spec_file), "--param", "nope=1"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_doctor_on_local_directories_and_the_default_quarantine(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    landing.chmod(0o700)
    spec = tmp_path / "local.yaml"
    spec.write_text(
        f"version: 1\nname: doctor_local\nsources:\n  claims:\n    format: csv\n    path: {landing}/*.csv\n"
        f"outputs:\n  main:\n    path: {tmp_path / 'protected'}\n",
        encoding="utf-8",
    )
    state = tmp_path / "state"
    args = ["doctor", str(spec), "--json", "--state", str(state)]
    result = CliRunner().invoke(doctor_app(), args)
    assert result.exit_code == 0, result.output  # missing directories can be created: at most warnings
    report = json.loads(result.stdout)
    assert report["locations"] == [
        {"location": str(landing), "used_by": ["sources.claims"]},
        {"location": str(tmp_path / "protected"), "used_by": ["outputs.main"]},
        {"location": str(state.resolve() / "quarantine" / "doctor_local"), "used_by": ["quarantine"]},
    ]
    landing.chmod(0o755)  # raw input readable by every user on the machine
    result = CliRunner().invoke(doctor_app(), args)
    assert result.exit_code == 1
    [failed] = [c for c in json.loads(result.stdout)["checks"] if c["status"] == "fail"]
    assert (failed["location"], failed["name"], failed["fix"]) == (
        str(landing),
        "permissions",
        f"chmod o-rwx {landing}",
    )
