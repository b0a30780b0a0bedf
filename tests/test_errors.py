"""The error root's helpers: reading an AWS error code without importing botocore, and telling a
failure a rerun may cure (a service out of reach) from one it will not (a refusal)."""

from __future__ import annotations

import psycopg
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, SSLError

from vaultline.errors import (
    AuditUnavailableError,
    aws_error_code,
    is_transient,
    postgres_unreachable,
    without_values,
)


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


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError("read timed out"), True),
        (ClientError({"Error": {"Code": "SlowDown"}}, "PutObject"), True),
        (ClientError({"Error": {"Code": "AccessDenied"}}, "PutObject"), False),
        (SSLError(endpoint_url="https://s3.local", error="certificate verify failed"), False),
        (NoCredentialsError(), False),
        (PermissionError(13, "Permission denied"), False),
    ],
)
def test_is_transient(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


@pytest.mark.parametrize(
    ("exc", "unreachable"),
    [
        (
            psycopg.OperationalError(
                'connection to server at "127.0.0.1", port 1 failed: Connection refused'
            ),
            True,
        ),
        (psycopg.errors.ConnectionTimeout("connection timeout expired"), True),
        (
            psycopg.OperationalError(
                "failed to resolve host 'db.invalid': [Errno -2] Name or service not known"
            ),
            True,
        ),
        (psycopg.OperationalError("FATAL:  the database system is starting up"), True),
        (psycopg.OperationalError("FATAL:  sorry, too many clients already"), True),
        (psycopg.OperationalError('FATAL:  role "nobody" does not exist'), False),
        (psycopg.OperationalError("fe_sendauth: no password supplied"), False),
        (psycopg.OperationalError("server does not support SSL, but SSL was required"), False),
        (psycopg.DataError("date too large"), False),
    ],
)
def test_postgres_unreachable(exc: Exception, unreachable: bool) -> None:
    assert postgres_unreachable(exc) is unreachable


def test_a_retryable_error_made_final_exits_1() -> None:
    error = AuditUnavailableError("audit segment 3 is corrupt", retryable=False)
    assert (error.retryable, error.exit_code) == (False, 1)
    assert (AuditUnavailableError("disk full").retryable, AuditUnavailableError("disk full").exit_code) == (
        True,
        75,
    )


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        (  # Polars: values in brackets, after names in backticks and quotes
            "conversion from `str` to `i64` failed in column 'a' for 1 out of 2 values: [\"SECRET\"]",
            "conversion from <…>",
        ),
        (
            'invalid input syntax for type integer: "SECRET\nnext line',
            "invalid input syntax for type integer: <…>",
        ),
        ('invalid input syntax for type integer: "SE"CRET"', "invalid input syntax for type integer: <…>"),
        ("invalid value 'SE]CRET'", "invalid value <…>"),
        ("Failed to parse string: (SECRET)", "Failed to parse string: <…>"),
        ("out of memory\n'SECRET' on the next line", "out of memory"),
        ("", ""),
    ],
)
def test_without_values_keeps_what_comes_before_any_quoting(message: str, kept: str) -> None:
    assert without_values(message) == kept
