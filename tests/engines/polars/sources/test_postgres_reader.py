"""PostgreSQL sources through the loopback server: types, streaming, queries, changes during a run, errors."""

from __future__ import annotations

import decimal

import polars as pl
import pytest
from reading import collect, source

from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources import RAW, read_source
from vaultline.errors import SourceError


def _execute(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.mark.postgres
def test_postgres_table_types_and_streaming(postgres_url: str, pg_table: str) -> None:
    _execute(
        postgres_url,
        f"""CREATE TABLE "{pg_table}" (
            id integer, code text, amount numeric(12, 2), ratio double precision, big bigint,
            ok boolean, day date, ts timestamp, tstz timestamptz, raw numeric, ident uuid, doc jsonb)""",
        f"""INSERT INTO "{pg_table}"
            SELECT g, lpad(g::text, 5, '0'), g * 1.25, g / 4.0, g::bigint * 1000000000, g % 2 = 0,
                   DATE '2020-01-01' + g, TIMESTAMP '2020-01-01 00:00:00' + g * INTERVAL '1 hour',
                   TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 minute',
                   CASE WHEN g = 3 THEN 1.0123456789012 ELSE g END,
                   md5(g::text)::uuid, jsonb_build_object('g', g)
            FROM generate_series(0, 2499) AS g""",
    )
    ingest = read_source(
        "pg", source(format="postgres", url=postgres_url, table=f"public.{pg_table}", batch_rows=1000)
    )
    frame, quarantine = collect(ingest)
    assert frame.height == 2499
    assert quarantine[ROW_ID].to_list() == [3]  # unconstrained numeric is converted like a CSV decimal
    assert quarantine[REASON].to_list() == ["type:raw"]
    assert frame[ROW_ID].to_list() == [i for i in range(2500) if i != 3]
    schema = frame.schema
    assert schema["id"] == pl.Int32
    assert schema["code"] == pl.String
    assert schema["amount"] == pl.Decimal(12, 2)
    assert schema["ratio"] == pl.Float64
    assert schema["big"] == pl.Int64
    assert schema["ok"] == pl.Boolean
    assert schema["day"] == pl.Date
    assert schema["ts"] == pl.Datetime("us")
    assert schema["tstz"] == pl.Datetime("us", "UTC")
    assert schema["raw"] == pl.Decimal(38, 9)
    assert schema["ident"] == pl.String
    assert schema["doc"] == pl.String
    first = frame.row(0, named=True)
    assert first["code"] == "00000"
    assert first["amount"] == decimal.Decimal("0.00")
    assert first["ident"] == "cfcd2084-95d5-65ef-66e7-dff9f98764da"
    assert first["doc"] == '{"g": 0}'
    (record,) = ingest.fingerprints
    assert record["location"] == f"postgres:public.{pg_table}"
    assert record["rows"] == 2500
    assert len(record["sha256"]) == 64


@pytest.mark.postgres
def test_postgres_query_source(postgres_url: str, pg_table: str) -> None:
    _execute(
        postgres_url,
        f'CREATE TABLE "{pg_table}" (id text, amount text)',
        f"""INSERT INTO "{pg_table}" VALUES ('007', '1'), ('008', 'x'), ('009', '3')""",
    )
    # `%` and `:name` must reach the server untouched (no driver placeholders, no SQLAlchemy binds)
    query = f"""SELECT id, amount FROM "{pg_table}" WHERE id LIKE '0%' AND ' :x' <> '' ORDER BY id;"""
    ingest = read_source(
        "q", source(format="postgres", url=postgres_url, query=query, schema={"amount": "int64"})
    )
    frame, quarantine = collect(ingest)
    assert frame["id"].to_list() == ["007", "009"]
    assert frame["amount"].to_list() == [1, 3]
    assert quarantine[RAW].to_list() == ["x"]
    assert ingest.fingerprints[0]["location"] == "postgres:query"
    assert ingest.stable_order is False  # the executor spills before the first step reading rows


@pytest.mark.postgres
def test_postgres_table_changed_during_the_run_is_detected(postgres_url: str, pg_table: str) -> None:
    _execute(postgres_url, f'CREATE TABLE "{pg_table}" (id int)', f'INSERT INTO "{pg_table}" VALUES (1)')
    ingest = read_source("pg", source(format="postgres", url=postgres_url, table=pg_table))
    _execute(postgres_url, f'INSERT INTO "{pg_table}" VALUES (2)')
    with pytest.raises(SourceError, match="changed during the run"):
        ingest.frame.collect()


@pytest.mark.postgres
def test_postgres_missing_table(postgres_url: str) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source("pg", source(format="postgres", url=postgres_url, table="public.vl_no_such_table"))


def test_postgres_url_with_a_password_is_refused_without_echoing_it() -> None:
    for url in (
        "postgresql://alice:s3cr3t-pw@db.example:5432/prod",
        "postgresql+psycopg://alice:s3cr3t-pw@db.example/prod",
        "postgresql://alice@db.example/prod?password=s3cr3t-pw",
    ):
        with pytest.raises(SourceError) as error:
            read_source("pg", source(format="postgres", url=url, table="t"))
        assert "PGPASSWORD" in str(error.value)
        assert "s3cr3t-pw" not in str(error.value)


@pytest.mark.parametrize("table", ['t"; DROP TABLE x; --', "a.b.c", "1abc", "t x", ""])
def test_postgres_table_names_are_validated(table: str) -> None:
    with pytest.raises(SourceError, match="not a table name"):
        read_source("pg", source(format="postgres", url="postgresql://u@127.0.0.1:1/db", table=table))


def test_postgres_unreachable_server_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="cannot connect"):
        read_source("pg", source(format="postgres", url="postgresql://u@127.0.0.1:1/db", table="t"))
