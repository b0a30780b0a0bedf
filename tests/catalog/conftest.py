"""Catalog fixtures: every catalog test runs on a SQLite file and on the PostgreSQL server on loopback.

`catalog_url` is parametrized over both backends. PostgreSQL tests each get a fresh schema of their
own (selected through the connection's search_path), so a test can watch migrations run on an empty
catalog and tests never see each other's datasets; the schema is dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


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
