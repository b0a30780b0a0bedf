"""An S3 prefix as a write-once folder, with Object Lock in COMPLIANCE mode when given a retention.

Every object is written with `IfNoneMatch='*'`, so a second write to the same key is refused by S3 itself
(HTTP 412); a retry of an upload that already landed is recognized by comparing the bytes. With a
retention, objects also carry `ObjectLockMode=COMPLIANCE` and a retain-until date: no one, not even the
account root, can delete or overwrite their version before that date. The bucket must have been created
with Object Lock enabled. The endpoint follows storage/locations.py (`VAULTLINE_S3_ENDPOINT`);
credentials follow the usual AWS chain. boto3 is imported here only, when an S3 folder is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from vaultline.audit.folders import conflict
from vaultline.errors import (
    TRANSIENT_AWS_CODES,
    AuditError,
    AuditUnavailableError,
    aws_error_code,
    is_transient,
)
from vaultline.storage.locations import s3_endpoint

_PRECONDITION_FAILED = 412


class S3Folder:
    """`s3://bucket/prefix` holding audit files as write-once (optionally locked) objects."""

    def __init__(self, location: str, *, retain_days: int | None = None) -> None:
        rest = location.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise AuditError(
                f"'{location}' names no bucket", hint="write s3://bucket/prefix", where="audit storage"
            )
        self.location = location
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.retain_days = retain_days
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3

            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            self._client = boto3.client("s3", endpoint_url=s3_endpoint(), region_name=region)
        return self._client

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _call(self, doing: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`method(...)`, with botocore's own failures made AuditUnavailableErrors, retryable when
        they are connection-level (endpoint down, timeouts) and final otherwise (no credentials);
        S3's own refusals (ClientError) are left to the caller, which knows which codes are expected."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(*args, **kwargs)
        except ClientError:
            raise
        except BotoCoreError as exc:
            raise AuditUnavailableError(
                f"could not {doing} in {self.location} ({type(exc).__name__})",
                hint="check the S3 endpoint (VAULTLINE_S3_ENDPOINT), network and credentials",
                where="audit storage",
                retryable=is_transient(exc),
            ) from None

    def _refused(self, doing: str, exc: Any) -> AuditUnavailableError:
        code = aws_error_code(exc) or "unknown"
        return AuditUnavailableError(
            f"S3 refused to {doing} in {self.location} ({code})",
            hint="check the bucket exists (with Object Lock enabled for the archive) and the "
            "credentials may put, get and list objects there",
            where="audit storage",
            retryable=code in TRANSIENT_AWS_CODES,  # S3 asking to slow down, not a refusal
        )

    def put(self, relative: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        arguments: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key(relative),
            "Body": data,
            "IfNoneMatch": "*",
        }
        if self.retain_days:
            arguments["ObjectLockMode"] = "COMPLIANCE"
            arguments["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=self.retain_days)
        try:
            self._call(f"write {relative}", self._s3().put_object, **arguments)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status != _PRECONDITION_FAILED:
                raise self._refused(f"write {relative}", exc) from None
            if self.get(relative) == data:
                return False
            raise conflict(self.location, relative) from None
        return True

    def get(self, relative: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            response = self._call(
                f"read {relative}", self._s3().get_object, Bucket=self.bucket, Key=self.key(relative)
            )
        except ClientError as exc:
            if aws_error_code(exc) in {"NoSuchKey", "404"}:
                return None
            raise self._refused(f"read {relative}", exc) from None
        data: bytes = response["Body"].read()
        return data

    def names(self, subfolder: str) -> list[str]:
        from botocore.exceptions import ClientError

        base = self.key(subfolder.strip("/")) + "/"
        found: list[str] = []
        try:
            pages = (
                self._s3()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.bucket, Prefix=base, Delimiter="/")
            )
            for page in self._call(f"list {subfolder}", list, pages):
                found.extend(item["Key"][len(base) :] for item in page.get("Contents", []))
        except ClientError as exc:
            raise self._refused(f"list {subfolder}", exc) from None
        return sorted(found)

    def retained_until(self, relative: str) -> datetime | None:
        from botocore.exceptions import ClientError

        try:
            head = self._call(
                f"inspect {relative}", self._s3().head_object, Bucket=self.bucket, Key=self.key(relative)
            )
        except ClientError as exc:
            if aws_error_code(exc) in {"NoSuchKey", "404"}:
                return None
            raise self._refused(f"inspect {relative}", exc) from None
        until: datetime | None = head.get("ObjectLockRetainUntilDate")
        return until if head.get("ObjectLockMode") else None

    def delete(self, relative: str) -> None:
        """Delete every version of the object (a plain delete would only hide a locked version)."""
        from botocore.exceptions import ClientError

        key = self.key(relative)
        s3 = self._s3()
        try:
            listing = self._call(
                f"list versions of {relative}", s3.list_object_versions, Bucket=self.bucket, Prefix=key
            )
            for item in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
                if item["Key"] == key:
                    self._call(
                        f"delete {relative}",
                        s3.delete_object,
                        Bucket=self.bucket,
                        Key=key,
                        VersionId=item["VersionId"],
                    )
        except ClientError as exc:
            raise self._refused(f"delete {relative}", exc) from None

    def check_writable(self) -> None:
        """Listing the folder (done before this) proved the bucket and the credentials; a put is not
        probed, since under Object Lock a probe object could never be removed. A put refused later
        fails the operation at its checkpoint (a run's comes after its commit, and its error says so)."""
