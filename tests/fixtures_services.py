"""Service fixtures: a moto S3 server and the PostgreSQL server, both on loopback.

tests/conftest.py loads them for every test folder through `pytest_plugins`.

- `moto_server` (session): a moto server on 127.0.0.1 with fake credentials; sets VAULTLINE_S3_ENDPOINT
  (and the AWS_* variables) for the whole session and yields the endpoint URL.
- `s3_bucket`: a fresh bucket on that server (emptied and deleted afterwards); yields its name.
- `s3_client`: a boto3 client for the server.
- `unreachable_s3`: VAULTLINE_S3_ENDPOINT set to a loopback port nothing listens on, fake
  credentials, and one attempt a request (botocore's AWS_MAX_ATTEMPTS; Polars' `max_retries`).
- `postgres_url` (session): a password-less URL for the `test` database (user postgres, else root).
  When the server is unreachable the test is skipped, except with CI=true where it fails: CI never
  skips silently.
- `pg_table`: a unique table name in that database, dropped afterwards.
- `catalog_url`: parametrized over SQLite (a file) and PostgreSQL (a fresh schema of its own, selected
  through the connection's search_path, dropped afterwards): a test sees an empty catalog on each.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_DATABASE = "test"
PG_USERS = ("postgres", "root")


@pytest.fixture
def unreachable_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from vaultline.storage import locations

    with socket.socket() as probe:  # a port just freed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("VAULTLINE_S3_ENDPOINT", f"http://127.0.0.1:{port}")
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_MAX_ATTEMPTS", "1")):  # fmt: skip
        monkeypatch.setenv(name, value)
    real = locations.polars_storage_options
    monkeypatch.setattr(
        locations, "polars_storage_options", lambda location: {**(real(location) or {}), "max_retries": 0}
    )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    endpoint = f"http://127.0.0.1:{port}"
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    patch.setenv("VAULTLINE_S3_ENDPOINT", endpoint)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        patch.delenv(name, raising=False)
    patch.setenv("AWS_CONFIG_FILE", os.devnull)
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    try:
        yield endpoint
    finally:
        patch.undo()
        server.stop()


@pytest.fixture
def s3_client(moto_server: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")


@pytest.fixture
def s3_bucket(s3_client: Any) -> Iterator[str]:
    name = f"vl-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        listing = s3_client.list_objects_v2(Bucket=name)
        for item in listing.get("Contents", []):
            s3_client.delete_object(Bucket=name, Key=item["Key"])
        s3_client.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    import psycopg

    reasons: list[str] = []
    for user in PG_USERS:
        url = f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return url
        except psycopg.Error as exc:
            reasons.append(
                f"{user}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
            )
    message = f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: {'; '.join(reasons)}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def pg_table(postgres_url: str) -> Iterator[str]:
    """A unique table name (in schema public); the table is dropped after the test if it was created."""
    import psycopg

    name = f"vl_test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    import psycopg

    base: str = request.getfixturevalue("postgres_url")
    schema = f"vl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.replace("postgresql://", "postgresql+psycopg://", 1) + f"?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
