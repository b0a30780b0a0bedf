"""Resolve local paths and s3:// URLs to fsspec filesystems, with a configurable S3 endpoint.

The endpoint comes from `VAULTLINE_S3_ENDPOINT` (or the standard `AWS_ENDPOINT_URL_S3` /
`AWS_ENDPOINT_URL`), so tests point Vaultline at a moto server on loopback and production at AWS.
Credentials follow the usual AWS chain and are never read or printed by Vaultline itself.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from vaultline.errors import (
    S3_UNREACHABLE_HINT,
    SourceError,
    SourceUnavailableError,
    TerminalError,
    is_transient,
)

ENDPOINT_ENV = ("VAULTLINE_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def is_remote(location: str) -> bool:
    return location.startswith("s3://")


def s3_endpoint() -> str | None:
    for name in ENDPOINT_ENV:
        if endpoint := os.environ.get(name):
            if "@" in endpoint.partition("://")[2].split("?", 1)[0].split("#", 1)[0]:
                # S3's clients refuse credentials in the URL (a refusal a rerun cannot cure), and an
                # environment variable is no place for a secret
                raise TerminalError(
                    "the S3 endpoint holds credentials (user:password@)",
                    hint="give the host only; credentials go in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                    "or an AWS profile",
                    where=f"${name}",
                )
            return endpoint
    return None


def endpoint_for_messages(endpoint: str) -> str:
    """The endpoint URL without what may be secret: userinfo (`http://user:PW@host`), query, fragment.

    Everything up to the last '@' goes, not only a well-formed userinfo: a password holding an unescaped
    '/', '?' or '#' would end urlsplit's netloc early and leave its tail in the path."""
    scheme, separator, rest = endpoint.partition("://")
    if not separator:
        scheme, rest = "", endpoint
    host = rest.rpartition("@")[2].split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}://{host}" if separator else host


def storage_options(location: str) -> dict[str, Any]:
    """Options for fsspec/s3fs (and Polars' cloud readers) for this location."""
    if not is_remote(location):
        return {}
    endpoint = s3_endpoint()
    return {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}


def polars_storage_options(location: str) -> dict[str, str] | None:
    """The same options in the flat form Polars' object-store readers and writers take."""
    if not is_remote(location):
        return None
    options: dict[str, str] = {}
    endpoint = s3_endpoint()
    if endpoint:
        options["aws_endpoint_url"] = endpoint
        if endpoint.startswith("http://"):
            options["aws_allow_http"] = "true"
    for env, key in (("AWS_REGION", "aws_region"), ("AWS_DEFAULT_REGION", "aws_region")):
        if os.environ.get(env):
            options.setdefault(key, os.environ[env])
    return options


def filesystem(location: str) -> Any:
    """The fsspec filesystem for a location (imported lazily: s3fs pulls in aiobotocore).

    S3 listings are not cached: a run lists, fingerprints and reads objects that may have been written a
    moment before (by the same process too), and a stale listing would silently miss them.
    """
    import fsspec

    if is_remote(location):
        return fsspec.filesystem("s3", use_listings_cache=False, **storage_options(location))
    return fsspec.filesystem("file")


def read_bytes(location: str) -> bytes:
    try:
        with filesystem(location).open(location, "rb") as handle:
            data: bytes = handle.read()
            return data
    except Exception as exc:
        raise unreadable(location, exc) from None


def sha256_of(location: str) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file or object, streamed in 8 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with filesystem(location).open(location, "rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def unreadable(location: str, exc: Exception) -> SourceError | SourceUnavailableError:
    """Why `location` could not be read, naming it: missing and refused are terminal, a store out of
    reach is retryable (a rerun unchanged may succeed); anything else by its type only."""
    if isinstance(exc, FileNotFoundError):
        return SourceError(f"{location} does not exist", hint="check the path or the bucket/key")
    if isinstance(exc, PermissionError):
        return SourceError(f"access to {location} was refused", hint="check the credentials' permissions")
    if is_transient(exc):
        return SourceUnavailableError(
            f"{location} could not be reached ({type(exc).__name__})", hint=S3_UNREACHABLE_HINT
        )
    return SourceError(
        f"{location} could not be read ({type(exc).__name__})", hint="check the path and the store"
    )
