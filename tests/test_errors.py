"""The error root's helpers: reading an AWS error code without importing botocore."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from vaultline.errors import aws_error_code


def test_aws_error_code_reads_a_client_error() -> None:
    refused = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")
    assert aws_error_code(refused) == "AccessDenied"


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),  # no reply: no code
        ClientError({"Error": {}}, "GetObject"),
        ValueError("not from AWS"),
    ],
)
def test_aws_error_code_is_none_without_a_code(exc: Exception) -> None:
    assert aws_error_code(exc) is None
