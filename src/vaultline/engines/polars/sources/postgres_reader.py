"""PostgreSQL tables and queries, streamed with a server-side cursor in batches of `batch_rows`. Types
without a Polars equivalent are selected as text; dates, times and constrained numerics are selected as
text and parsed here, so a value Python or Polars cannot hold quarantines its row instead of failing the
read. An incremental source reads only the rows above its bookmark's watermark."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from polars.io.plugins import register_io_source

from vaultline.catalog.bookmarks import SourceBookmark, Watermark
from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources.convert import split_valid
from vaultline.engines.polars.sources.ingest import RAW, Ingest, check_names, where
from vaultline.engines.polars.sources.plugin import IoPlugin
from vaultline.errors import SourceError, SourceUnavailableError, postgres_unreachable, without_values
from vaultline.spec.sources import ColumnType, Source

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")

# PostgreSQL type OID -> Polars type; every other type is read as its text form
_PG_TYPES: dict[int, pl.DataType] = {
    16: pl.Boolean(),
    20: pl.Int64(),
    21: pl.Int16(),
    23: pl.Int32(),
    26: pl.Int64(),
    700: pl.Float32(),
    701: pl.Float64(),
    25: pl.String(),
    1043: pl.String(),
    1042: pl.String(),
    19: pl.String(),
    18: pl.String(),
    17: pl.Binary(),
}
# Read as text and parsed by `_parse`: psycopg fails the whole read on a value Python cannot represent
# (infinity, BC dates, year 10000 and later, 24:00:00), and Polars panics on a Decimal NaN
_PG_PARSED: dict[int, pl.DataType] = {
    1082: pl.Date(),
    1083: pl.Time(),
    1114: pl.Datetime("us"),
    1184: pl.Datetime("us", "UTC"),
}
_PG_NUMERIC = 1700
# `;` at the end of a query, with only blanks and `--` comments after it (`SELECT ...; -- all rows`)
_TRAILING_SEMICOLON = re.compile(r";+(\s*(--[^\n]*)?)*$")
_MAX_PRECISION = 38
_QUERY = "the query"
# SQLSTATE classes whose messages print the offending value unquoted, which `without_values` cannot
# cut: data exceptions, constraint violations and limits put it after a colon; a function's own error
# (RAISE) and an internal one may put it anywhere, so only the class is shown.
_VALUE_AFTER_COLON = frozenset({"22", "23", "54"})
_OPAQUE = {"P0": "a function raised an error", "XX": "an internal error"}


def _pg_url(name: str, url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise SourceError(
            "the postgres url cannot be parsed",
            hint="use postgresql://user@host:5432/database (the url is not shown here)",
            where=where(name),
        ) from None
    if parsed.password is not None or any(k.lower() == "password" for k in parsed.query):
        raise SourceError(
            "the postgres url contains a password",
            hint="remove it from the spec and provide it through PGPASSWORD or ~/.pgpass",
            where=where(name),
        )
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise SourceError(
        f"unsupported database driver {parsed.drivername!r}",
        hint="use a postgresql:// or postgresql+psycopg:// url",
        where=where(name),
    )


def _pg_table(name: str, table: str) -> tuple[str, str]:
    parts = table.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise SourceError(
            f"{table!r} is not a table name",
            hint="use `table` or `schema.table` (letters, digits, _ and $), or write a `query`",
            where=where(name),
        )
    return ".".join(f'"{p}"' for p in parts), table


def _pg_error(
    name: str, exc: BaseException, what: str, *, column: str | None = None
) -> SourceError | SourceUnavailableError:
    """`exc` as a SourceError naming `what` was read (a table, or the query), never quoting a value."""
    import psycopg

    orig = getattr(exc, "orig", exc)
    state = str(getattr(orig, "sqlstate", "") or "")
    diag = getattr(orig, "diag", None)
    primary = without_values(str(getattr(diag, "message_primary", "") or "")) if diag is not None else ""
    query = what == _QUERY
    if state == "42P01":
        return SourceError(
            "a table the query reads does not exist" if query else f"{what} does not exist",
            hint="check the schema and table name (quoted names are case-sensitive)",
            where=where(name),
        )
    if state == "42883" and column is not None:
        return SourceError(
            f"the bookmark column {column} has a type without an order PostgreSQL can take a maximum of "
            "(uuid, json, boolean, ...)",
            hint="bookmark on a column that only grows: an identity or sequence id, or a timestamp",
            where=where(name),
        )
    if state == "42703" and column is not None:
        return SourceError(
            f"the bookmark column {column} is not a column of {what}",
            hint="check incremental.column in the spec (quoted names are case-sensitive)",
            where=where(name),
        )
    if state == "42501":
        return SourceError(
            f"access to {what} was refused", hint="grant SELECT to the connecting role", where=where(name)
        )
    if state.startswith("28"):
        return SourceError(
            "authentication to the postgres server failed",
            hint="check the user, and the password in PGPASSWORD or ~/.pgpass",
            where=where(name),
        )
    if state == "3D000":
        return SourceError(
            "the postgres database does not exist", hint="check the database in the url", where=where(name)
        )
    if state.startswith("42"):
        return SourceError(
            f"the query is invalid ({state}): {primary}"
            if query
            else f"the SQL reading {what} is invalid ({state}): {primary}",
            hint="check the SQL"
            if query
            else "check the names in the spec (quoted names are case-sensitive)",
            where=where(name),
        )
    # without a SQLSTATE the error was raised by the client: an OperationalError is a connection that
    # failed (a DataError is a value psycopg could not convert)
    connecting = not state and isinstance(orig, psycopg.OperationalError)
    if postgres_unreachable(orig):
        return SourceUnavailableError(
            f"cannot connect to the postgres server ({state or type(orig).__name__})",
            hint="check that the server runs, the host and port in the url, and the network; "
            "then run again unchanged",
            where=where(name),
        )
    if connecting:
        return SourceError(
            f"the postgres server refused the connection ({type(orig).__name__}; its answer is not shown)",
            hint="check the user and database in the url, the password (PGPASSWORD or ~/.pgpass) and sslmode",
            where=where(name),
        )
    if not state and isinstance(orig, psycopg.DataError):
        return SourceError(
            f"a value of {what} cannot be converted to a Python value (DataError; the value is not shown)",
            hint="select the column as text in a `query` (column::text) and declare its type in the schema",
            where=where(name),
        )
    if state[:2] in _VALUE_AFTER_COLON:
        # `date field value out of range: 1984-02-30`: what is wrong comes before the colon
        return SourceError(
            f"reading {what} failed ({state}): {primary.split(':', 1)[0]} (the value is not shown)",
            hint="for values that do not fit, read the column as text (column::text) and parse it in a "
            "`clean` step, which quarantines such rows with the reason",
            where=where(name),
        )
    if state[:2] in _OPAQUE:
        return SourceError(
            f"reading {what} failed ({state}: {_OPAQUE[state[:2]]}; the server's message is not shown, "
            "it can hold a value)",
            hint="find the statement in the server log by its SQLSTATE",
            where=where(name),
        )
    return SourceError(
        f"reading {what} failed ({state or type(orig).__name__}): {primary}".rstrip(": "),
        hint="check the query and the server log",
        where=where(name),
    )


@dataclass
class _PgColumn:
    name: str
    dtype: pl.DataType
    """The column's type in the frame the source yields."""
    text: bool = False
    """Selected as ::text (a type without a native Polars equivalent, or one `_parse` converts)."""
    parse: bool = False
    """Text parsed into `dtype` by `_parse`; a non-null text that does not parse quarantines its row."""
    kind: ColumnType | None = None
    """Converted from text like a CSV column of this type (by `split_valid`)."""

    @property
    def scanned(self) -> pl.DataType:
        """The type the scan yields, before `_parse`."""
        return pl.String() if self.parse else self.dtype


@dataclass
class _PgScan(IoPlugin):
    """The IO plugin streaming a query's rows with a server-side cursor."""

    name: str
    engine: Any
    inner: str
    """The query whose rows are read (for a table: SELECT * FROM "schema"."table")."""
    what: str
    columns: list[_PgColumn]
    batch_rows: int
    rows: int
    """Rows counted when the source was planned (and fingerprinted)."""

    def __post_init__(self) -> None:
        self.schema = {c.name: c.scanned for c in self.columns} | {ROW_ID: pl.UInt64()}

    def batches(self, needed: list[str], n_rows: int | None) -> Iterator[pl.DataFrame]:
        from sqlalchemy.exc import SQLAlchemyError

        selected = [c for c in self.columns if c.name in needed] or self.columns[:1]
        listing = ", ".join(_pg_select(c) for c in selected)
        # a head read (n_rows) makes the server stop there too, not only this loop
        limit = "" if n_rows is None else f"\nLIMIT {int(n_rows)}"
        # identifiers quoted, the query from the spec
        sql = f"SELECT {listing} FROM {_subquery(self.inner, 'vl_q')}{limit}"  # noqa: S608
        schema = {c.name: c.scanned for c in selected}
        size = self.batch_rows if n_rows is None else max(1, min(self.batch_rows, n_rows))
        base = 0
        try:
            with self.engine.connect() as conn:
                # SQLAlchemy ignores yield_per on exec_driver_sql: without stream_results the whole result
                # is fetched before the first partition
                result = conn.execution_options(stream_results=True, max_row_buffer=size).exec_driver_sql(
                    _driver_sql(sql)
                )
                for rows in result.partitions(size):
                    frame = pl.DataFrame(rows, schema=schema, orient="row")
                    frame = frame.with_columns(
                        pl.Series(
                            ROW_ID, np.arange(base, base + frame.height, dtype=np.uint64), dtype=pl.UInt64
                        )
                    )
                    base += frame.height
                    yield frame
                    if n_rows is not None and base >= n_rows:
                        return
        except SQLAlchemyError as exc:
            raise _pg_error(self.name, exc, self.what) from None
        expected = self.rows if n_rows is None else min(self.rows, n_rows)
        if base != expected:
            raise SourceError(
                f"{self.what} returned {base} rows while {self.rows} were counted when it was fingerprinted",
                hint="the table changed during the run; read from a snapshot or pause writers",
                where=where(self.name),
            )


def _subquery(inner: str, alias: str) -> str:
    """`inner` as a subquery, on lines of its own: a query ending in a `--` comment would otherwise
    comment out the closing parenthesis."""
    return f"(\n{inner}\n) AS {alias}"


def _driver_sql(sql: str) -> str:
    """SQL passed to psycopg as is (no SQLAlchemy bind parsing of `:name`); `%` is psycopg's placeholder
    character, so a literal one is doubled."""
    return sql.replace("%", "%%")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_select(column: _PgColumn) -> str:
    quoted = _quote(column.name)
    if not column.text:
        return quoted
    if isinstance(column.dtype, pl.Datetime) and column.dtype.time_zone is not None:
        # as UTC wall time, whatever the session's TimeZone
        return f"({quoted} AT TIME ZONE 'UTC')::text AS {quoted}"
    return f"{quoted}::text AS {quoted}"


def _parse(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Non-strict: null where the server's text (DateStyle ISO) does not fit `dtype`."""
    if isinstance(dtype, pl.Decimal):
        return text.str.to_decimal(scale=dtype.scale).cast(dtype, strict=False)
    if dtype == pl.Date:
        return text.str.to_date("%Y-%m-%d", strict=False)
    if dtype == pl.Time:
        return text.str.to_time("%H:%M:%S%.f", strict=False)
    assert isinstance(dtype, pl.Datetime)
    value = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us", cache=False)
    return value.dt.replace_time_zone(dtype.time_zone) if dtype.time_zone else value


def _parsed(scan: pl.LazyFrame, columns: list[_PgColumn]) -> pl.LazyFrame:
    """The parsed columns typed, plus REASON (`type:<column>` of the first that did not parse) and RAW
    (its text) for `split_valid` to quarantine those rows."""
    parsed = [c for c in columns if c.parse]
    temp = {c.name: f"__vl_parsed_{i}" for i, c in enumerate(parsed)}
    typed = scan.with_columns(_parse(pl.col(c.name), c.dtype).alias(temp[c.name]) for c in parsed)
    failed = {c.name: pl.col(c.name).is_not_null() & pl.col(temp[c.name]).is_null() for c in parsed}
    reasons = [pl.when(failed[c.name]).then(pl.lit(f"type:{c.name}")) for c in parsed]
    raws = [pl.when(failed[c.name]).then(pl.col(c.name)) for c in parsed]
    return typed.with_columns(
        (reasons[0] if len(reasons) == 1 else pl.coalesce(reasons)).cast(pl.String).alias(REASON),
        (raws[0] if len(raws) == 1 else pl.coalesce(raws)).cast(pl.String).alias(RAW),
        *[pl.col(temp[c.name]).alias(c.name) for c in parsed],
    ).drop(list(temp.values()))


def _column(item: Any) -> _PgColumn:
    # DB-API: name, type_code, display_size, internal_size, precision, scale, null_ok
    column, oid, precision, scale = str(item[0]), int(item[1]), item[4], item[5]
    if oid in _PG_TYPES:
        return _PgColumn(column, _PG_TYPES[oid])
    if oid in _PG_PARSED:
        return _PgColumn(column, _PG_PARSED[oid], text=True, parse=True)
    if oid == _PG_NUMERIC and precision and scale is not None and 0 <= scale <= precision <= _MAX_PRECISION:
        return _PgColumn(column, pl.Decimal(precision, scale), text=True, parse=True)
    if oid == _PG_NUMERIC:  # unconstrained or wider than Polars: text, converted like CSV `decimal`
        return _PgColumn(column, pl.String(), text=True, kind="decimal")
    return _PgColumn(column, pl.String(), text=True)


def _engine(url: Any) -> Any:
    """An engine whose every connection (the count, the watermark, the scan) writes dates as ISO text,
    which `_parse` and the stored watermarks rely on. Only the output style is set: the order of day,
    month and year in the spec's literals (`'03/04/24'`) stays the server's, as in psql."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _iso_dates(connection: Any, _: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET DateStyle TO ISO")
        connection.commit()  # a SET inside a transaction rolled back later would be undone

    return engine


def read_postgres(name: str, source: Source, bookmark: SourceBookmark | None) -> Ingest:
    from sqlalchemy.exc import SQLAlchemyError

    assert source.url is not None
    engine = _engine(_pg_url(name, source.url))
    if source.table is not None:
        quoted, label = _pg_table(name, source.table)
        query = f"SELECT * FROM {quoted}"  # noqa: S608 - validated, quoted identifiers
        what = f"table {label}"
        location = f"postgres:{label}"
    else:
        assert source.query is not None
        query = _TRAILING_SEMICOLON.sub("", source.query.strip()).strip()
        what = _QUERY
        location = "postgres:query"
    inner = query
    identity = [query]
    watermark: Watermark | None = None
    if bookmark is not None:
        assert source.incremental is not None and source.incremental.column is not None
        inner, watermark = _above_watermark(
            name, engine, query, what, column=source.incremental.column, after=bookmark.watermark
        )
        if watermark is None:
            return Ingest(pl.LazyFrame(schema={ROW_ID: pl.UInt64()}), None, nothing_new=True)
        if bookmark.watermark is not None:
            # which committed run the read continues from, never the bounds: the fingerprint is reported
            # unkeyed, and a hashed watermark could be recovered by enumerating candidate values
            identity.append(f"after run {bookmark.run_id}")
    subquery = _subquery(inner, "vl_q")
    try:
        with engine.connect() as conn:
            result = conn.exec_driver_sql(_driver_sql(f"SELECT * FROM {subquery}\nLIMIT 0"))  # noqa: S608
            description: Sequence[Any] = result.cursor.description
            result.close()
            counted = conn.exec_driver_sql(_driver_sql(f"SELECT count(*) FROM {subquery}"))  # noqa: S608
            rows = int(counted.scalar_one())
    except SQLAlchemyError as exc:
        raise _pg_error(name, exc, what) from None
    columns = [_column(item) for item in description]
    check_names(name, [c.name for c in columns], f"the result of {what}")
    kinds: dict[str, ColumnType] = {c.name: c.kind for c in columns if c.kind is not None}
    kinds |= dict(source.columns or {})
    digest = hashlib.sha256("\n".join([*identity, str(rows)]).encode()).hexdigest()
    fingerprint = {"location": location, "sha256": digest, "rows": rows, "bytes": None}
    scan = _PgScan(name, engine, inner, what, columns, batch_rows=source.batch_rows, rows=rows)
    lazy = register_io_source(
        scan, schema=scan.schema, is_pure=True, explain_name="vaultline postgres", explain_detail=name
    )
    marked = any(c.parse for c in columns)
    frame, quarantine = split_valid(name, _parsed(lazy, columns) if marked else lazy, kinds, marked=marked)
    return Ingest(
        frame,
        quarantine,
        [fingerprint],
        watermark=watermark,
        stable_order=False,
        records=lambda: scan.records,
    )


_SQL_TYPE = re.compile(r"^[a-z][a-z0-9_ ]{0,62}(\([0-9, ]+\))?$")


def _literal(name: str, mark: Watermark) -> str:
    """A watermark as a typed SQL literal. Its text and type came from this server (max()::text and
    pg_typeof); the type is checked against a strict pattern and quotes in the text are doubled."""
    if not _SQL_TYPE.match(mark.sql_type):
        raise SourceError(
            "the stored bookmark has a column type Vaultline cannot use",
            hint="reset the source's bookmark (`vaultline bookmarks list` names it, `vaultline bookmarks "
            "reset PIPELINE --source SOURCE` resets it)",
            where=where(name),
        )
    return "'" + mark.value.replace("'", "''") + "'::" + mark.sql_type


def _above_watermark(
    name: str, engine: Any, query: str, what: str, *, column: str, after: Watermark | None
) -> tuple[str, Watermark | None]:
    """The query bounded to (last committed maximum, maximum now]: rows committed after this plan wait
    for the next run, so each row is delivered exactly once. None when nothing is new.

    A row whose column is NULL is in no such range: it would never be delivered, so the read fails until
    the column is filled (a bookmark holds a maximum, not which NULL rows an earlier run delivered)."""
    from sqlalchemy.exc import SQLAlchemyError

    quoted = _quote(column)
    above = f"\nWHERE {quoted} > {_literal(name, after)}" if after else ""
    nulls = f"FROM {_subquery(query, 'vl_n')}\nWHERE {quoted} IS NULL"
    # EXISTS stops at the first NULL (no scan of the whole table every run); the count only on failure
    probe = (
        f"SELECT max({quoted})::text, pg_typeof(max({quoted}))::text, EXISTS (SELECT 1 {nulls})\n"
        f"FROM {_subquery(query, 'vl_w')}{above}"
    )
    try:
        with engine.connect() as conn:
            newest, sql_type, any_null = conn.exec_driver_sql(_driver_sql(probe)).one()
            missing = (
                conn.exec_driver_sql(_driver_sql(f"SELECT count(*) {nulls}")).scalar() if any_null else 0
            )
    except SQLAlchemyError as exc:
        raise _pg_error(name, exc, what, column=column) from None
    if missing:
        raise SourceError(
            f"{missing} row(s) of {what} have a NULL bookmark column {column}: a read by column would "
            "never deliver them",
            hint=f"make {column} NOT NULL and fill it from a sequence (values at or below the last watermark "
            f"are never read), or leave those rows out deliberately with a `query` ... WHERE {column} "
            "IS NOT NULL",
            where=where(name),
        )
    if newest is None:
        return query, None
    mark = Watermark(str(newest), str(sql_type))
    if not _SQL_TYPE.match(mark.sql_type):
        raise SourceError(
            f"the bookmark column {column} is of type {mark.sql_type}, which cannot hold a watermark",
            hint="bookmark on a column that only grows: an identity or sequence id, or a timestamp",
            where=where(name),
        )
    bound = f"{quoted} <= {_literal(name, mark)}" + (
        f" AND {quoted} > {_literal(name, after)}" if after else ""
    )
    bounded = f"SELECT * FROM {_subquery(query, 'vl_b')}\nWHERE {bound}"  # noqa: S608 - literals: server text
    return bounded, mark
