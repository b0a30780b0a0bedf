"""Which TLS-only policies count, invalid bucket names, and endpoints printed without their userinfo."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from vaultline.storage.bucket_audit import audit_bucket, tls_only_statement
from vaultline.storage.locations import endpoint_for_messages

pytestmark = pytest.mark.s3

BUCKET = "vl-tls-policy"  # the statements below name it; each test gets a bucket of this name
ARN = f"arn:aws:s3:::{BUCKET}"
TLS = tls_only_statement(BUCKET)
INSECURE = {"Bool": {"aws:SecureTransport": "false"}}


def when(condition: dict[str, Any]) -> dict[str, Any]:
    """The statement doctor prints, with another Condition block."""
    return {**TLS, "Condition": condition}


@pytest.fixture
def bucket(s3_client: Any) -> Iterator[str]:
    s3_client.create_bucket(Bucket=BUCKET)
    try:
        yield BUCKET
    finally:
        s3_client.delete_bucket_policy(Bucket=BUCKET)
        s3_client.delete_bucket(Bucket=BUCKET)


def tls_check(s3_client: Any, bucket: str, *statements: dict[str, Any]) -> Any:
    policy = {"Version": "2012-10-17", "Statement": list(statements)}
    s3_client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    [check] = [c for c in audit_bucket(bucket) if c.name == "tls_only_policy"]
    return check


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(TLS, id="the-statement-doctor-prints"),
        pytest.param({**TLS, "Principal": {"AWS": "*"}}, id="principal-aws-star"),
        pytest.param({**TLS, "Action": "*"}, id="action-star"),
        pytest.param(when({"Bool": {"aws:SecureTransport": False}}), id="json-boolean"),
        pytest.param(when({"Bool": {"aws:securetransport": ["false"]}}), id="list-lowercase"),
        pytest.param(when({"BoolIfExists": {"aws:SecureTransport": "false"}}), id="if-exists"),
    ],
)  # fmt: skip
def test_a_deny_on_insecure_transport_alone_passes(
    s3_client: Any, bucket: str, statement: dict[str, Any]
) -> None:
    check = tls_check(s3_client, bucket, statement)
    assert (check.status, check.fix) == ("pass", ""), check


@pytest.mark.parametrize(
    "statement",
    [
        # Any other condition key is ANDed: plain HTTP from every other VPC endpoint is accepted.
        pytest.param(
            when({**INSECURE, "StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
            id="narrowed-by-another-operator",
        ),
        pytest.param(
            when({"Bool": {"aws:SecureTransport": "false", "aws:ViaAWSService": "false"}}),
            id="narrowed-by-another-bool-key",
        ),
        pytest.param(
            when({**INSECURE, "StringNotEquals": {"aws:PrincipalAccount": "123456789012"}}),
            id="narrowed-to-other-accounts",
        ),
        pytest.param(when({"Bool": {"aws:SecureTransport": "true"}}), id="denies-tls-instead"),
        pytest.param(when({"NumericLessThan": {"s3:TlsVersion": "1.2"}}), id="tls-version-only"),
        pytest.param({**TLS, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}, id="one-principal"),
        pytest.param({**TLS, "Resource": f"{ARN}/*"}, id="objects-only"),
        pytest.param({**TLS, "Action": ["s3:GetObject", "s3:PutObject"]}, id="some-actions"),
        pytest.param({**TLS, "Effect": "Allow", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
                     id="allow-on-tls"),
    ],
)  # fmt: skip
def test_a_deny_narrowed_or_aimed_elsewhere_fails(
    s3_client: Any, bucket: str, statement: dict[str, Any]
) -> None:
    check = tls_check(s3_client, bucket, statement)
    assert check.status == "fail", check
    assert json.loads(check.fix.split(": ", 1)[1]) == TLS  # the fix is the statement that would pass


def test_a_narrowed_deny_beside_a_full_one_passes(s3_client: Any, bucket: str) -> None:
    narrowed = {**TLS, "Sid": "Vpce", "Condition": {**INSECURE, "StringEquals": {"aws:SourceVpce": "vpce-1"}}}
    assert tls_check(s3_client, bucket, narrowed, TLS).status == "pass"


def test_an_empty_bucket_name_is_named_as_such_not_as_a_network_failure() -> None:
    # `s3:///claims.csv`; no endpoint is needed to judge it (no moto server here on purpose).
    [check] = audit_bucket("")
    assert (check.location, check.name, check.status) == ("s3://", "reachable", "fail")
    assert check.detail == "the bucket name is empty"
    assert "s3://BUCKET/key" in check.fix and "network" not in check.fix


def test_a_bucket_name_botocore_refuses_is_named_as_such(moto_server: str) -> None:
    [check] = audit_bucket("bad bucket!")
    assert (check.name, check.status) == ("reachable", "fail")
    assert check.detail == "'bad bucket!' is not a valid bucket name"
    assert "cannot reach" not in check.detail and "VAULTLINE_S3_ENDPOINT" not in check.fix


def test_the_endpoint_is_printed_without_its_userinfo(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("VAULTLINE_S3_ENDPOINT", f"http://127.0.0.1:{port}/?X-Amz-Security-Token=EndpointPW1")
    [check] = audit_bucket(f"vl-{uuid.uuid4().hex[:12]}")
    assert check.detail.startswith(f"cannot reach http://127.0.0.1:{port}/ ")
    assert "EndpointPW1" not in json.dumps(check.as_dict())


@pytest.mark.parametrize(
    "endpoint", ["http://vl-user:EndpointPW1@127.0.0.1:9", "http://u:Endpoint/PW1@minio:9000"]
)
def test_an_endpoint_holding_credentials_is_refused_without_showing_them(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    """S3's clients refuse credentials in the URL: every request would fail, and as retryable."""
    from vaultline.errors import TerminalError
    from vaultline.storage.locations import filesystem

    monkeypatch.setenv("VAULTLINE_S3_ENDPOINT", endpoint)
    [check] = audit_bucket("any-bucket")
    assert (check.status, check.detail) == ("fail", "the S3 endpoint holds credentials (user:password@)")
    assert "AWS_ACCESS_KEY_ID" in check.fix and "EndpointPW1" not in json.dumps(check.as_dict())
    with pytest.raises(TerminalError, match=r"\$VAULTLINE_S3_ENDPOINT: the S3 endpoint holds credentials"):
        filesystem("s3://any-bucket/x.csv")


@pytest.mark.parametrize(
    ("endpoint", "shown"),
    [
        ("http://user:PW@minio:9000", "http://minio:9000"),
        ("https://s3.eu-west-1.amazonaws.com", "https://s3.eu-west-1.amazonaws.com"),
        ("http://u:p/w@minio:9000/", "http://minio:9000/"),  # an unescaped '/' in the password
        ("http://u:p?w@minio", "http://minio"),
        ("http://minio:9000/?X-Amz-Security-Token=PW", "http://minio:9000/"),
        ("user:PW@minio:9000", "minio:9000"),
    ],
)
def test_endpoint_for_messages(endpoint: str, shown: str) -> None:
    assert endpoint_for_messages(endpoint) == shown
