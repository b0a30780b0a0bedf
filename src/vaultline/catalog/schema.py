"""Open the catalog database and bring its schema to the newest alembic migration.

`open_catalog(url)` is the only way the catalog modules get an Engine. It checks the schema revision
with one query and, only when the catalog is behind, upgrades it under a lock so that two processes
opening a fresh catalog at once do not both create the tables:

- PostgreSQL: a transaction-scoped advisory lock; DDL is transactional, so the whole upgrade commits
  or nothing does, and the second process finds the catalog already at head.
- SQLite: `BEGIN IMMEDIATE` takes the database's write lock for the whole upgrade (SQLite's DDL is
  transactional too once the driver stops issuing its own BEGINs, see `_sqlite_engine`).

Catalogs created before migrations existed hold `vaultline_runs` but no version table: they are
recognised and stamped at revision 0001, then upgraded, never recreated.

alembic is imported only to upgrade: opening a catalog already at `HEAD_REVISION` (every process
but the first on a machine) reads the version table with SQLAlchemy alone, sparing each `vaultline`
process alembic's import (about 0.12 s of its start-up).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote_plus

import sqlalchemy as sa

from vaultline.errors import CatalogError, RetryableError, VaultlineError, postgres_unreachable

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
# Prefixed like the catalog's tables: a shared PostgreSQL database may hold another app's alembic_version.
VERSION_TABLE = "vaultline_alembic_version"
RUNS_REVISION = "0001"
HEAD_REVISION = "0004"
"""The newest revision in `migrations/versions` (a test checks it is alembic's head: bump it with
each new migration)."""
BUSY_TIMEOUT_SECONDS = 30
URL_HINT = (
    "set VAULTLINE_CATALOG_URL to postgresql+psycopg://user@host:5432/db or sqlite:///path, "
    "and keep the password out of it (PGPASSWORD or ~/.pgpass)"
)
# Connection options whose values are never secret (libpq's and pysqlite's): shown in messages.
_SHOWN_OPTIONS = frozenset(
    {"application_name", "channel_binding", "check_same_thread", "client_encoding", "connect_timeout",
     "dbname", "gssencmode", "host", "hostaddr", "keepalives", "keepalives_idle", "load_balance_hosts",
     "mode", "port", "service", "sslcert", "sslmode", "sslrootcert", "target_session_attrs", "timeout",
     "uri", "user"}
)  # fmt: skip
# pg_advisory_xact_lock takes a bigint: a stable one derived from a name, so it reads as what it locks.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"vaultline catalog migrations").digest()[:8], "big", signed=True
)
# Execution option that makes a SQLite transaction take the write lock when it begins (BEGIN IMMEDIATE).
_WRITE_OPTION = "vaultline_write"
# alembic's `context` and `op` are module-level proxies: one upgrade at a time per process, any database.
_UPGRADE_LOCK = threading.Lock()
_RUNS_COLUMNS = frozenset(
    {"run_id", "pipeline", "status", "started_at", "finished_at", "spec_sha256", "rows_in", "rows_out",
     "rows_quarantined", "error", "report"}
)  # fmt: skip


class CatalogUnavailable(RetryableError):
    """The catalog's PostgreSQL server could not be reached, or cannot take a connection now."""


class CatalogBusy(RetryableError):
    """The catalog is locked by another writer for longer than the busy timeout; retrying may succeed."""


def safe_url(url: str) -> str:
    """The URL fit for messages: its password masked, in the userinfo and in the query string alike.

    Query values are shown only for options known to hold no secret: libpq alone reads `password`,
    `sslpassword` and `passfile` there, and other drivers take whole connection strings (pyodbc's
    `odbc_connect`), so an unknown option is assumed to be a secret. The keys stay, so a message still
    says which option was given."""
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        return _unparsable(url)
    # A '@' the parser left in the host or database belongs to a mistyped userinfo (a password
    # holding an unescaped '@' or '/'): it may be a piece of the password.
    if parsed.host and "@" in parsed.host:
        parsed = parsed.set(host="***")
    if parsed.database and "@" in parsed.database:
        parsed = parsed.set(database="***")
    rendered = parsed.set(query={}).render_as_string(hide_password=True)
    if not parsed.query:
        return rendered
    options = [
        f"{quote_plus(key)}={quote_plus(v) if key.lower() in _SHOWN_OPTIONS else '***'}"
        for key, value in parsed.query.items()
        for v in ((value,) if isinstance(value, str) else value)
    ]
    return f"{rendered}?{'&'.join(options)}"


def _unparsable(url: str) -> str:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    # Only a scheme that is plainly a driver name is echoed: the rest may hold the password.
    if re.fullmatch(r"[A-Za-z][\w+]*", scheme):
        return f"{scheme}://(rest not shown)"
    return "(not shown)"


def catalog_failure(url: str, exc: BaseException, doing: str) -> VaultlineError:
    """A database error as a VaultlineError. Only the exception's type is kept: the driver's message
    can quote the statement's parameters (file locations, JSON documents), which must not reach logs."""
    if isinstance(exc, sa.exc.OperationalError) and "locked" in str(exc.orig).lower():
        return CatalogBusy(
            f"the catalog at {safe_url(url)} stayed locked by another writer while {doing}",
            hint=f"another process held it for over {BUSY_TIMEOUT_SECONDS}s; retry, or use PostgreSQL "
            "(VAULTLINE_CATALOG_URL) when many processes write at once",
        )
    if _server_unreachable(url, exc):
        return _unavailable(url, exc, doing)
    return CatalogError(
        f"the catalog at {safe_url(url)} failed while {doing} ({type(exc).__name__})",
        hint="check VAULTLINE_CATALOG_URL, that the database is up, and the state directory's permissions",
    )


@contextmanager
def reading(engine: sa.Engine, url: str, doing: str) -> Iterator[sa.Connection]:
    """A connection for reads whose database errors become VaultlineErrors (never the driver's text)."""
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.SQLAlchemyError as exc:
        raise catalog_failure(url, exc, doing) from None


def for_writing(engine: sa.Engine) -> sa.Engine:
    """The same engine, whose transactions on SQLite take the write lock at BEGIN.

    A deferred SQLite transaction that reads and then writes cannot wait for a concurrent writer (the
    upgrade from reader to writer fails at once with 'database is locked'); an immediate one waits up
    to the busy timeout and then reads the newest data. PostgreSQL ignores the option."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def target_metadata() -> sa.MetaData:
    """Every table the catalog modules define, in one MetaData (for autogenerate and schema tests)."""
    from vaultline.catalog import bookmarks, datasets, metrics, quality, runs, tables

    combined = sa.MetaData()
    for source in (
        runs.metadata,
        datasets.metadata,
        bookmarks.metadata,
        tables.metadata,
        quality.metadata,
        metrics.metadata,
    ):
        for table in source.tables.values():
            table.to_metadata(combined)
    return combined


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 driver's legacy mode skips BEGIN before SELECT and DDL, which breaks both
        # repeatable reads and transactional migrations: take transaction control away from it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # WAL lets readers (CLI, other runs) proceed while one writer commits.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "BEGIN"
        )

    return engine


def _create_engine(url: str) -> sa.Engine:
    """The engine for `url`; a URL SQLAlchemy cannot use (parse, dialect, driver, options) is the
    user's to fix, so it becomes a CatalogError naming what is wrong, never a crash."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise _bad_url(url, "is not a database URL") from None
    except ValueError:  # SQLAlchemy's int() of the port is its only ValueError while parsing
        raise _bad_url(url, "has a port that is not a number") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return sa.create_engine(parsed)
    except sa.exc.NoSuchModuleError:
        raise _bad_url(
            url, f"names the database type '{parsed.drivername}', which SQLAlchemy does not know"
        ) from None
    except ImportError as exc:  # the dialect exists, its DBAPI driver is not installed (psycopg2, MySQLdb)
        module = f"'{exc.name}'" if exc.name else "its driver"
        raise _bad_url(url, f"needs {module} for '{parsed.drivername}', which is not installed") from None
    except (ValueError, TypeError) as exc:  # the dialect coerces query options: sqlite's ?timeout=abc
        raise _bad_url(url, f"has an option its driver cannot use ({type(exc).__name__})") from None


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


@cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


@cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _script().walk_revisions())


def _at_head(connection: sa.Connection) -> bool:
    """Whether the catalog's schema is at `HEAD_REVISION`, read without alembic."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return False
    versions = sa.select(sa.column("version_num", sa.String)).select_from(sa.table(VERSION_TABLE))
    return list(connection.scalars(versions)) == [HEAD_REVISION]


def open_catalog(url: str) -> sa.Engine:
    """An Engine on the catalog at `url`, its schema upgraded to the newest revision."""
    engine: sa.Engine | None = None
    try:
        engine = _create_engine(url)
        with engine.connect() as conn:
            at_head = _at_head(conn)
        if not at_head:
            _upgrade(engine, url)
    except VaultlineError:
        if engine is not None:
            engine.dispose()
        raise
    except sa.exc.SQLAlchemyError as exc:
        if engine is not None:
            engine.dispose()
        raise _cannot_open(url, exc) from None
    return engine


class CatalogHandle:
    """One catalog module's view of the catalog at `url`, open until `close()` (or the end of `with`).

    Closing disposes of the engine, so its pooled connections end cleanly now, not whenever the
    collector finds them: a long-lived process (a workflow, tests) opening catalogs repeatedly would
    otherwise keep PostgreSQL connections open, and each would be closed without a goodbye."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_catalog(url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _trace: TracebackType | None
    ) -> None:
        self.close()


def _bad_url(url: str, problem: str) -> CatalogError:
    return CatalogError(f"the catalog URL {safe_url(url)} {problem}", hint=URL_HINT)


def _cannot_open(url: str, exc: Exception) -> VaultlineError:
    if _server_unreachable(url, exc):
        return _unavailable(url, exc, "opening it")
    return CatalogError(
        f"the catalog at {safe_url(url)} cannot be opened ({type(exc).__name__})",
        hint="check VAULTLINE_CATALOG_URL or the state directory's permissions",
    )


def _server_unreachable(url: str, exc: BaseException) -> bool:
    return url.startswith("postgresql") and postgres_unreachable(exc)


def _unavailable(url: str, exc: BaseException, doing: str) -> CatalogUnavailable:
    return CatalogUnavailable(
        f"the catalog's server at {safe_url(url)} could not be reached while {doing} ({type(exc).__name__})",
        hint="check that the server VAULTLINE_CATALOG_URL names runs, and the network; "
        "then run again unchanged",
    )


def _upgrade(engine: sa.Engine, url: str) -> None:
    from alembic.util.exc import CommandError

    try:
        _migrate(engine, url)
    except CommandError as exc:
        raise _cannot_open(url, exc) from None


def _migrate(engine: sa.Engine, url: str) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with _UPGRADE_LOCK, for_writing(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        # Re-read under the lock: another process may have upgraded while this one waited.
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        current = context.get_current_revision()
        if current is not None and current not in _known_revisions():
            raise CatalogError(
                f"the catalog at {safe_url(url)} is at schema revision {current}, unknown to this Vaultline",
                hint="upgrade Vaultline on this machine to the version that last migrated the catalog",
            )
        if current is None and sa.inspect(conn).has_table("vaultline_runs"):
            _check_legacy_runs(conn, url)
            context.stamp(_script(), RUNS_REVISION)
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _check_legacy_runs(conn: sa.Connection, url: str) -> None:
    """A runs table without a version table must be the one the pre-migration code created."""
    columns = {column["name"] for column in sa.inspect(conn).get_columns("vaultline_runs")}
    if columns != _RUNS_COLUMNS:
        missing, extra = sorted(_RUNS_COLUMNS - columns), sorted(columns - _RUNS_COLUMNS)
        raise CatalogError(
            f"the catalog at {safe_url(url)} has a vaultline_runs table Vaultline did not create "
            f"(missing columns: {', '.join(missing) or 'none'}; unexpected: {', '.join(extra) or 'none'})",
            hint="point VAULTLINE_CATALOG_URL at a database (or PostgreSQL schema) of its own",
        )
