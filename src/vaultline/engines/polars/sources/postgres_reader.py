"""PostgreSQL tables and queries, streamed with a server-side cursor. Types without a Polars equivalent are
selected as text; an incremental source reads only the rows above its bookmark's watermark."""

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
from vaultline.engines.polars.base import ROW_ID
from vaultline.engines.polars.errors import scrub
from vaultline.engines.polars.sources.convert import split_valid
from vaultline.engines.polars.sources.ingest import Ingest, check_names, where
from vaultline.engines.polars.sources.plugin import IoPlugin
from vaultline.errors import SourceError
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
    1082: pl.Date(),
    1083: pl.Time(),
    1114: pl.Datetime("us"),
    1184: pl.Datetime("us", "UTC"),
    17: pl.Binary(),
}
_PG_NUMERIC = 1700


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


def _pg_error(name: str, exc: BaseException, what: str) -> SourceError:
    orig = getattr(exc, "orig", exc)
    state = str(getattr(orig, "sqlstate", "") or "")
    diag = getattr(orig, "diag", None)
    primary = scrub(str(getattr(diag, "message_primary", "") or "")) if diag is not None else ""
    if state == "42P01":
        return SourceError(
            f"{what} does not exist",
            hint="check the schema and table name (quoted names are case-sensitive)",
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
            f"the query for {what} is invalid: {primary}", hint="check the SQL", where=where(name)
        )
    if not state or state.startswith("08"):
        return SourceError(
            f"cannot connect to the postgres server ({type(orig).__name__})",
            hint="check that the server runs, the host, port and database in the url, and the network",
            where=where(name),
        )
    return SourceError(
        f"reading {what} failed ({state}): {primary}",
        hint="check the query and the server log",
        where=where(name),
    )


@dataclass
class _PgColumn:
    name: str
    dtype: pl.DataType
    text: bool
    """Selected as ::text (type without a native Polars equivalent)."""
    kind: ColumnType | None = None


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
        self.schema = {c.name: c.dtype for c in self.columns} | {ROW_ID: pl.UInt64()}

    def batches(self, needed: list[str], n_rows: int | None) -> Iterator[pl.DataFrame]:
        from sqlalchemy.exc import SQLAlchemyError

        selected = [c for c in self.columns if c.name in needed] or self.columns[:1]
        listing = ", ".join(_pg_select(c) for c in selected)
        sql = f"SELECT {listing} FROM ({self.inner}) AS vl_q"  # noqa: S608 - identifiers quoted, query from the spec
        schema = {c.name: c.dtype for c in selected}
        base = 0
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(yield_per=self.batch_rows).exec_driver_sql(_driver_sql(sql))
                for rows in result.partitions():
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
        if base != self.rows:
            raise SourceError(
                f"{self.what} returned {base} rows while {self.rows} were counted when it was fingerprinted",
                hint="the table changed during the run; read from a snapshot or pause writers",
                where=where(self.name),
            )


def _driver_sql(sql: str) -> str:
    """SQL passed to psycopg as is (no SQLAlchemy bind parsing of `:name`); `%` is psycopg's placeholder
    character, so a literal one is doubled."""
    return sql.replace("%", "%%")


def _pg_select(column: _PgColumn) -> str:
    quoted = '"' + column.name.replace('"', '""') + '"'
    return f"{quoted}::text AS {quoted}" if column.text else quoted


def read_postgres(name: str, source: Source, bookmark: SourceBookmark | None) -> Ingest:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    assert source.url is not None
    url = _pg_url(name, source.url)
    engine = create_engine(url, poolclass=NullPool)
    if source.table is not None:
        quoted, label = _pg_table(name, source.table)
        inner = f"SELECT * FROM {quoted}"  # noqa: S608 - validated, quoted identifiers
        what = f"table {label}"
        location = f"postgres:{label}"
    else:
        assert source.query is not None
        inner = source.query.strip().rstrip(";").strip()
        what = "the query"
        location = "postgres:query"
    watermark: Watermark | None = None
    if bookmark is not None:
        assert source.incremental is not None and source.incremental.column is not None
        inner, watermark = _above_watermark(
            name, engine, inner, source.incremental.column, bookmark.watermark
        )
        if watermark is None:
            return Ingest(pl.LazyFrame(schema={ROW_ID: pl.UInt64()}), None, nothing_new=True)
    try:
        with engine.connect() as conn:
            result = conn.exec_driver_sql(_driver_sql(f"SELECT * FROM ({inner}) AS vl_q LIMIT 0"))  # noqa: S608
            description: Sequence[Any] = result.cursor.description
            result.close()
            counted = conn.exec_driver_sql(_driver_sql(f"SELECT count(*) FROM ({inner}) AS vl_q"))  # noqa: S608
            rows = int(counted.scalar_one())
    except SQLAlchemyError as exc:
        raise _pg_error(name, exc, what) from None
    columns: list[_PgColumn] = []
    for item in description:
        # DB-API: name, type_code, display_size, internal_size, precision, scale, null_ok
        column, oid, precision, scale = str(item[0]), int(item[1]), item[4], item[5]
        if oid in _PG_TYPES:
            columns.append(_PgColumn(column, _PG_TYPES[oid], False))
        elif oid == _PG_NUMERIC and precision and scale is not None and precision <= 38:
            columns.append(_PgColumn(column, pl.Decimal(precision, scale), False))
        elif oid == _PG_NUMERIC:  # unconstrained numeric: text, converted like CSV `decimal`
            columns.append(_PgColumn(column, pl.String(), True, "decimal"))
        else:
            columns.append(_PgColumn(column, pl.String(), True))
    check_names(name, [c.name for c in columns], f"the result of {what}")
    kinds: dict[str, ColumnType] = {c.name: c.kind for c in columns if c.kind is not None}
    kinds |= dict(source.columns or {})
    digest = hashlib.sha256(f"{inner}\n{rows}".encode()).hexdigest()
    fingerprint = {"location": location, "sha256": digest, "rows": rows, "bytes": None}
    scan = _PgScan(name, engine, inner, what, columns, batch_rows=source.batch_rows, rows=rows)
    lazy = register_io_source(
        scan, schema=scan.schema, is_pure=True, explain_name="vaultline postgres", explain_detail=name
    )
    frame, quarantine = split_valid(name, lazy, kinds, marked=False)
    return Ingest(frame, quarantine, [fingerprint], watermark=watermark, stable_order=False)


_SQL_TYPE = re.compile(r"^[a-z][a-z0-9_ ]{0,62}(\([0-9, ]+\))?$")


def _literal(mark: Watermark) -> str:
    """A watermark as a typed SQL literal. Its text and type came from this server (max()::text and
    pg_typeof); the type is checked against a strict pattern and quotes in the text are doubled."""
    if not _SQL_TYPE.match(mark.sql_type):
        raise SourceError(
            "the stored bookmark has a column type Vaultline cannot use",
            hint="reset it: vaultline bookmarks reset PIPELINE --source SOURCE",
        )
    return "'" + mark.value.replace("'", "''") + "'::" + mark.sql_type


def _above_watermark(
    name: str, engine: Any, inner: str, column: str, after: Watermark | None
) -> tuple[str, Watermark | None]:
    """The query bounded to (last committed maximum, maximum now]: rows committed after this plan wait
    for the next run, so each row is delivered exactly once. None when nothing is new."""
    from sqlalchemy.exc import SQLAlchemyError

    quoted = '"' + column.replace('"', '""') + '"'
    above = f" WHERE {quoted} > {_literal(after)}" if after else ""
    probe = f"SELECT max({quoted})::text, pg_typeof(max({quoted}))::text FROM ({inner}) AS vl_w{above}"  # noqa: S608
    try:
        with engine.connect() as conn:
            newest, sql_type = conn.exec_driver_sql(_driver_sql(probe)).one()
    except SQLAlchemyError as exc:
        raise _pg_error(name, exc, f"the bookmark column {column}") from None
    if newest is None:
        return inner, None
    mark = Watermark(str(newest), str(sql_type))
    bound = f"{quoted} <= {_literal(mark)}" + (f" AND {quoted} > {_literal(after)}" if after else "")
    return f"SELECT * FROM ({inner}) AS vl_b WHERE {bound}", mark  # noqa: S608 - literals from the server
