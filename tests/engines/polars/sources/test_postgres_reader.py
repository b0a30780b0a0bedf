"""PostgreSQL sources through the loopback server: types, streaming, queries, changes during a run, errors,
bookmarks."""

from __future__ import annotations

import datetime
import decimal
import time
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from reading import collect, source

from vaultline.catalog.bookmarks import SourceBookmark, Watermark
from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources import RAW, postgres_reader, read_source
from vaultline.errors import SourceError
from vaultline.spec.sources import Source


def _execute(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


class _Recorded:
    """The height of every frame the PostgreSQL scan produces, and how many scans were closed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.heights: list[int] = []
        self.scans = self.closed = 0
        original = postgres_reader._PgScan.batches

        def recorded(scan: Any, needed: list[str], n_rows: int | None) -> Iterator[pl.DataFrame]:
            self.scans += 1
            try:
                for frame in original(scan, needed, n_rows):
                    self.heights.append(frame.height)
                    yield frame
            finally:
                self.closed += 1

        monkeypatch.setattr(postgres_reader._PgScan, "batches", recorded)

    def released(self) -> bool:
        """Whether every scan was closed (its cursor, transaction and lock released) within 10 s. Polars
        drops a source it stopped pulling from in a thread without the GIL: the reference is released at
        its next call that takes the GIL."""
        deadline = time.monotonic() + 10
        while self.closed < self.scans and time.monotonic() < deadline:
            pl.Series([1]).sum()
            time.sleep(0.05)
        return self.closed == self.scans


@pytest.mark.postgres
def test_postgres_table_types_and_streaming(
    postgres_url: str, pg_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = _Recorded(monkeypatch)
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
    assert sum(recorded.heights) == 2500
    assert max(recorded.heights) <= 1000  # streamed in batches of batch_rows, not fetched whole
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
@pytest.mark.parametrize(
    ("columns", "pushed"),
    [("id int, note text", True), ("id int, day date", False)],
    ids=["row-limit-pushed", "behind-the-quarantine-filter"],
)
def test_postgres_head_read_stops_early(
    postgres_url: str, pg_table: str, monkeypatch: pytest.MonkeyPatch, columns: str, pushed: bool
) -> None:
    # A parsed (date) column can quarantine its row, so the row limit stays above the quarantine filter and
    # is not pushed to the scan; streaming still stops the read, after Polars' read-ahead of about one
    # batch per thread of its pool.
    ahead = 2 * (pl.thread_pool_size() + 4) * 1000
    _execute(
        postgres_url,
        f'CREATE TABLE "{pg_table}" ({columns})',
        f"""INSERT INTO "{pg_table}" SELECT g, {"'x'" if pushed else "DATE '2020-01-01' + g % 9"}
            FROM generate_series(1, {max(100_000, 4 * ahead)}) AS g""",
    )
    recorded = _Recorded(monkeypatch)
    ingest = read_source("pg", source(format="postgres", url=postgres_url, table=pg_table, batch_rows=1000))
    head = ingest.frame.head(2500).collect(engine="streaming")
    assert recorded.released()  # else the fixture could not drop the table
    assert head.height == 2500
    assert max(recorded.heights) <= 1000
    if pushed:
        assert sum(recorded.heights) == 2500  # the server stops at the limit too
    else:
        assert sum(recorded.heights) <= ahead


@pytest.mark.postgres
def test_postgres_values_python_cannot_hold_are_quarantined(postgres_url: str, pg_table: str) -> None:
    _execute(
        postgres_url,
        f"""CREATE TABLE "{pg_table}" (
            id int, ts timestamp, day date, tstz timestamptz, t time, amount numeric(10, 2))""",
        f"""INSERT INTO "{pg_table}" VALUES
            (0, '2020-01-31 10:00:00.25', '2020-01-31', '2020-06-01 12:00+02', '23:59:59.999999', 1.50),
            (1, 'infinity', '2020-01-31', NULL, NULL, NULL),
            (2, NULL, '-infinity', NULL, NULL, NULL),
            (3, NULL, '0044-03-15 BC', NULL, NULL, NULL),
            (4, NULL, NULL, '20000-01-01 00:00+00', NULL, NULL),
            (5, NULL, NULL, NULL, '24:00:00', NULL),
            (6, NULL, NULL, NULL, NULL, 'NaN'),
            (7, NULL, NULL, NULL, NULL, NULL)""",
    )
    frame, quarantine = collect(
        read_source("pg", source(format="postgres", url=postgres_url, table=pg_table))
    )
    assert frame["id"].to_list() == [0, 7]
    assert frame.row(0, named=True) == {
        "id": 0,
        "ts": datetime.datetime(2020, 1, 31, 10, 0, 0, 250000),
        "day": datetime.date(2020, 1, 31),
        "tstz": datetime.datetime(2020, 6, 1, 10, 0, tzinfo=datetime.UTC),
        "t": datetime.time(23, 59, 59, 999999),
        "amount": decimal.Decimal("1.50"),
        ROW_ID: 0,
    }
    schema = frame.schema
    assert (schema["ts"], schema["day"], schema["t"]) == (pl.Datetime("us"), pl.Date, pl.Time)
    assert (schema["tstz"], schema["amount"]) == (pl.Datetime("us", "UTC"), pl.Decimal(10, 2))
    assert quarantine["id"].to_list() == [1, 2, 3, 4, 5, 6]
    assert quarantine[REASON].to_list() == [
        "type:ts",
        "type:day",
        "type:day",
        "type:tstz",
        "type:t",
        "type:amount",
    ]
    assert quarantine[RAW].to_list() == [
        "infinity", "-infinity", "0044-03-15 BC", "20000-01-01 00:00:00", "24:00:00", "NaN"
    ]  # fmt: skip


@pytest.mark.postgres
def test_postgres_session_date_style_and_time_zone_do_not_change_values(postgres_url: str) -> None:
    url = postgres_url + "?options=-c%20DateStyle%3DSQL%2CDMY%20-c%20TimeZone%3DAsia/Tokyo"
    query = """SELECT DATE '2020-01-31' AS day, TIMESTAMP '2020-01-31 10:00:00.25' AS ts,
        TIMESTAMPTZ '2020-06-01 12:00+02' AS tstz"""
    frame, quarantine = collect(read_source("q", source(format="postgres", url=url, query=query)))
    assert quarantine.height == 0
    assert frame.select("day", "ts", "tstz").row(0) == (
        datetime.date(2020, 1, 31),
        datetime.datetime(2020, 1, 31, 10, 0, 0, 250000),
        datetime.datetime(2020, 6, 1, 10, 0, tzinfo=datetime.UTC),
    )


@pytest.mark.postgres
def test_postgres_query_ending_in_a_comment(postgres_url: str, pg_table: str) -> None:
    _execute(
        postgres_url, f'CREATE TABLE "{pg_table}" (seq int)', f'INSERT INTO "{pg_table}" VALUES (1), (2)'
    )
    query = f'SELECT seq FROM "{pg_table}" -- every row'
    frame, _ = collect(read_source("q", source(format="postgres", url=postgres_url, query=query)))
    assert frame["seq"].to_list() == [1, 2]
    incremental = source(
        format="postgres", url=postgres_url, query=query, incremental={"by": "column", "column": "seq"}
    )
    frame, _ = collect(read_source("q", incremental, SourceBookmark("q", "column", None)))
    assert frame["seq"].to_list() == [1, 2]


@pytest.mark.postgres
def test_postgres_invalid_query_messages(postgres_url: str) -> None:
    with pytest.raises(SourceError) as error:
        read_source("q", source(format="postgres", url=postgres_url, query="SELEC 1"))
    assert "the query is invalid (42601)" in str(error.value)
    assert "the query for the query" not in str(error.value)
    with pytest.raises(SourceError, match="a table the query reads does not exist"):
        read_source("q", source(format="postgres", url=postgres_url, query="SELECT * FROM vl_no_such_table"))


@pytest.mark.postgres
def test_postgres_errors_quote_no_part_of_a_value(postgres_url: str, pg_table: str) -> None:
    # PostgreSQL quotes the value a cast refused; a value with a line break, a quote or a bracket in
    # it must not get past the quoting it breaks.
    values = ["SECRET-A\nnext", 'SECRET"-B', "SECRET]-C`x`", "SECRET'-D"]
    _execute(
        postgres_url,
        f'CREATE TABLE "{pg_table}" (id int, v text)',
        *[f'INSERT INTO "{pg_table}" VALUES ({i}, $${v}$$)' for i, v in enumerate(values)],
    )
    for index in range(len(values)):
        query = f'SELECT v::int AS v FROM "{pg_table}" WHERE id = {index}'
        with pytest.raises(SourceError) as error:
            collect(read_source("q", source(format="postgres", url=postgres_url, query=query)))
        message = str(error.value)
        assert "22P02" in message and "invalid input syntax for type integer" in message
        assert "SECRET" not in message and "-B" not in message and "-C" not in message and "-D" not in message


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


def test_postgres_unreachable_server_is_a_retryable_source_error() -> None:
    from vaultline.errors import SourceUnavailableError

    with pytest.raises(SourceUnavailableError, match="cannot connect") as caught:
        read_source("pg", source(format="postgres", url="postgresql://u@127.0.0.1:1/db", table="t"))
    assert caught.value.retryable and caught.value.exit_code == 75


def test_postgres_refusing_the_role_is_terminal_not_retryable(postgres_url: str) -> None:
    server = postgres_url.split("@", 1)[1]
    with pytest.raises(SourceError, match="refused the connection") as caught:
        read_source("pg", source(format="postgres", url=f"postgresql://vl_no_such_role@{server}", table="t"))
    assert not caught.value.retryable and "vl_no_such_role" not in caught.value.render()


def test_postgres_client_side_errors_are_not_connection_errors() -> None:
    import psycopg
    from sqlalchemy import exc

    conversion = exc.DataError(
        "SELECT", None, psycopg.DataError("date too large (after year 10K): '20000-01-01'")
    )
    error = postgres_reader._pg_error("pg", conversion, "table public.t")
    assert "cannot connect" not in str(error)
    assert "cannot be converted" in str(error)
    assert "20000" not in str(error)
    assert not error.retryable
    refused = exc.OperationalError("SELECT", None, psycopg.OperationalError("connection refused"))
    assert "cannot connect" in str(postgres_reader._pg_error("pg", refused, "table public.t"))
    assert postgres_reader._pg_error("pg", refused, "table public.t").retryable


# ---- incremental reads (by: column)


def _incremental(url: str, table: str) -> Source:
    return source(format="postgres", url=url, table=table, incremental={"by": "column", "column": "seq"})


@pytest.mark.postgres
def test_postgres_null_bookmark_values_fail_the_read(postgres_url: str, pg_table: str) -> None:
    _execute(
        postgres_url,
        f'CREATE TABLE "{pg_table}" (seq bigint, note text)',
        f"""INSERT INTO "{pg_table}" VALUES (1, 'a'), (NULL, 'secret-note'), (3, 'c'), (NULL, 'd')""",
    )
    spec = _incremental(postgres_url, pg_table)
    after = SourceBookmark("pg", "column", "run-1", watermark=Watermark("1", "bigint"))
    for bookmark in (SourceBookmark("pg", "column", None), after):
        with pytest.raises(SourceError) as error:
            read_source("pg", spec, bookmark)
        message = str(error.value)
        assert "2 row(s)" in message and "NULL bookmark column seq" in message
        assert "NOT NULL" in message  # the hint
        assert "secret-note" not in message
    # filled above the watermark, they are read once by the next run
    _execute(postgres_url, f'UPDATE "{pg_table}" SET seq = 4 WHERE seq IS NULL')
    frame, _ = collect(read_source("pg", spec, after))
    assert sorted(frame["note"].to_list()) == ["c", "d", "secret-note"]
    # leaving them out is a choice the spec states
    _execute(postgres_url, f"UPDATE \"{pg_table}\" SET seq = NULL WHERE note = 'd'")
    query = f'SELECT * FROM "{pg_table}" WHERE seq IS NOT NULL'
    chosen = source(
        format="postgres", url=postgres_url, query=query, incremental={"by": "column", "column": "seq"}
    )
    frame, _ = collect(read_source("pg", chosen, after))
    assert sorted(frame["note"].to_list()) == ["c", "secret-note"]


@pytest.mark.postgres
def test_postgres_fingerprint_does_not_depend_on_the_watermark_value(
    postgres_url: str, pg_table: str
) -> None:
    _execute(
        postgres_url,
        f'CREATE TABLE "{pg_table}" (seq int)',
        f'INSERT INTO "{pg_table}" VALUES (10), (20), (30)',
    )
    spec = _incremental(postgres_url, pg_table)
    reads = {
        mark: read_source(
            "pg", spec, SourceBookmark("pg", "column", "run-1", watermark=Watermark(mark, "integer"))
        )
        for mark in ("12", "15")
    }
    for ingest in reads.values():
        assert sorted(collect(ingest)[0]["seq"].to_list()) == [20, 30]
    low, high = (ingest.fingerprints[0] for ingest in reads.values())
    # the same rows after the same committed run: only the watermark, a data value, differs and it must
    # not be recoverable from the reported fingerprint by hashing candidate values
    assert low == high
    again = read_source(
        "pg", spec, SourceBookmark("pg", "column", "run-2", watermark=Watermark("12", "integer"))
    )
    assert again.fingerprints[0]["sha256"] != low["sha256"]


@pytest.mark.postgres
def test_postgres_date_literals_mean_what_they_mean_in_psql(postgres_url: str, pg_table: str) -> None:
    # the server's DateStyle orders input as month/day/year: '03/04/24' is 2024-03-04, for the count,
    # the watermark and the scan alike (a scan in another order read 2003-04-24 and other rows)
    _execute(
        postgres_url,
        f'CREATE TABLE "{pg_table}" (seq int, d date, ts timestamptz)',
        f"""INSERT INTO "{pg_table}" VALUES (1, '2024-03-04', '2024-03-04 10:00+00'),
            (2, '2003-04-24', '2003-04-24 10:00+00'), (3, '2024-03-10', '2024-03-10 10:00+00')""",
    )
    query = f"""SELECT seq FROM "{pg_table}" WHERE d BETWEEN '03/04/24' AND '03/04/24'::date + 5"""
    frame, _ = collect(read_source("q", source(format="postgres", url=postgres_url, query=query)))
    assert frame["seq"].to_list() == [1]
    # a watermark on a timestamptz column read in a session that writes dates day-first, in Tokyo
    url = postgres_url + "?options=-c%20DateStyle%3DSQL%2CDMY%20-c%20TimeZone%3DAsia/Tokyo"
    spec = source(format="postgres", url=url, table=pg_table, incremental={"by": "column", "column": "ts"})
    first = read_source("pg", spec, SourceBookmark("pg", "column", None))
    assert sorted(collect(first)[0]["seq"].to_list()) == [1, 2, 3]
    assert first.watermark is not None
    _execute(postgres_url, f"""INSERT INTO "{pg_table}" VALUES (4, '2024-03-11', '2024-03-10 10:00:01+00')""")
    after = SourceBookmark("pg", "column", "run-1", watermark=first.watermark)
    assert collect(read_source("pg", spec, after))[0]["seq"].to_list() == [4]


@pytest.mark.postgres
def test_postgres_data_errors_show_their_class_not_the_server_text(postgres_url: str, pg_table: str) -> None:
    # PostgreSQL prints these values without quotes: `date field value out of range: 1984-02-30`
    _execute(
        postgres_url,
        f'CREATE TABLE "{pg_table}" (y int, m int, d int)',
        f'INSERT INTO "{pg_table}" VALUES (1971, 4, 12), (1984, 2, 30)',
    )
    for query in (
        f'SELECT make_date(y, m, d) AS dob FROM "{pg_table}"',
        f'SELECT chr(y * 100000) AS c FROM "{pg_table}"',
    ):
        with pytest.raises(SourceError) as error:
            collect(read_source("q", source(format="postgres", url=postgres_url, query=query)))
        message = str(error.value)
        assert "(the value is not shown)" in message and ("(22008)" in message or "(54000)" in message)
        assert "date field value out of range" in message or "requested character too large" in message
        assert "1984" not in message and "197100000" not in message and "02-30" not in message


@pytest.mark.postgres
def test_postgres_query_with_a_semicolon_before_a_comment(postgres_url: str, pg_table: str) -> None:
    _execute(postgres_url, f'CREATE TABLE "{pg_table}" (seq int)', f'INSERT INTO "{pg_table}" VALUES (1)')
    query = f'SELECT seq FROM "{pg_table}"; -- every row\n-- and a second comment\n'
    frame, _ = collect(read_source("q", source(format="postgres", url=postgres_url, query=query)))
    assert frame["seq"].to_list() == [1]


@pytest.mark.postgres
@pytest.mark.parametrize(("column_type", "value"), [("uuid", "gen_random_uuid()"), ("int[]", "ARRAY[1]")])
def test_postgres_bookmark_columns_that_cannot_hold_a_watermark(
    postgres_url: str, pg_table: str, column_type: str, value: str
) -> None:
    _execute(
        postgres_url,
        f'CREATE TABLE "{pg_table}" (mark {column_type} NOT NULL)',
        f'INSERT INTO "{pg_table}" VALUES ({value})',
    )
    spec = source(
        format="postgres", url=postgres_url, table=pg_table, incremental={"by": "column", "column": "mark"}
    )
    with pytest.raises(SourceError) as error:
        read_source("pg", spec, SourceBookmark("pg", "column", None))
    assert "bookmark column mark" in str(error.value) and "only grows" in str(error.value)
    assert error.value.where == "source pg"
