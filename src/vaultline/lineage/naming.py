"""Dataset names per the OpenLineage naming spec (plain string rules: no OpenLineage import needed).

Local files: namespace `file`, name the absolute path. S3: namespace `s3://bucket`, name the key.
PostgreSQL: namespace `postgres://host:port`, name `database.schema.table` (user and password are left
out). A glob names the directory before its first wildcard, so a pipeline reading
`output/features/*.parquet` reads the dataset another pipeline writes to `output/features`. A query
source is named by the SHA-256 of its text (the text itself may hold values).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

from vaultline.spec.models import Output
from vaultline.spec.sources import Source

_GLOB = frozenset("*?[")


def _until_glob(path: str) -> str:
    parts = path.split("/")
    for index, part in enumerate(parts):
        if _GLOB & set(part):
            return "/".join(parts[:index])
    return path


def location_dataset(location: str) -> tuple[str, str]:
    """(namespace, name) of a local path or s3:// URL; a glob names the directory before its wildcard."""
    if location.startswith("s3://"):
        bucket, _, key = location.removeprefix("s3://").partition("/")
        return f"s3://{bucket}", _until_glob(key).strip("/") or "/"
    return "file", str(Path(_until_glob(location) or ".").expanduser().resolve())


def source_dataset(source: Source) -> tuple[str, str]:
    """(namespace, name) of a source: its files, or its PostgreSQL table or query."""
    if source.format != "postgres":
        assert source.path is not None
        return location_dataset(source.path)
    assert source.url is not None
    parts = urlsplit(source.url)
    database = parts.path.strip("/") or "postgres"
    if source.table is not None:
        schema, _, table = source.table.rpartition(".")
        name = f"{database}.{schema or 'public'}.{table}"
    else:
        assert source.query is not None
        name = f"{database}.query-{hashlib.sha256(source.query.encode()).hexdigest()[:16]}"
    return f"postgres://{parts.hostname or 'localhost'}:{parts.port or 5432}", name


def output_dataset(output: Output) -> tuple[str, str]:
    """(namespace, name) of an output: the directory its runs write their files to."""
    return location_dataset(output.path)
