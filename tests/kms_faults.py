"""KMS answers the moto server does not give (throttling, an internal error, a disabled key, a denial,
a dropped connection): one KMS operation fails as botocore would raise it, every other call reaches
moto. Above botocore's retries, so a test does not wait for them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

CONNECTION = "connection"
"""`code` for a connection that fails before any answer (botocore's EndpointConnectionError)."""

_STATUS = {"ThrottlingException": 400, "DisabledException": 400, "AccessDeniedException": 400}


def fail_kms(
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    code: str,
    *,
    when: Callable[[dict[str, Any]], bool] = lambda _params: True,
) -> list[str]:
    """Make KMS `operation` (e.g. "Decrypt") fail with `code` when `when(params)` holds; the returned
    list names each call that was failed."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError, EndpointConnectionError

    real = BaseClient._make_api_call
    failed: list[str] = []

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name != "kms" or name != operation or not when(params):
            return real(self, name, params)
        failed.append(name)
        if code == CONNECTION:
            raise EndpointConnectionError(endpoint_url=self.meta.endpoint_url)
        status = _STATUS.get(code, 500)
        answer = {
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        raise ClientError(answer, name)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    return failed


def loud_sdk_records(records: list[logging.LogRecord]) -> list[str]:
    """The AWS Encryption SDK's records a user would see on stderr (above DEBUG), or that carry a
    traceback (the SDK logs every KMS failure with `logger.exception`) or arguments (values)."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if r.name.startswith("aws_encryption_sdk") and (r.levelno > logging.DEBUG or r.exc_info or r.args)
    ]
