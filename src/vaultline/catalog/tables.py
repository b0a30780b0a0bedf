"""Crawled tables: the schema of raw data registered under a name, with its history of changes.

Filled in by the crawler (`vaultline crawl`) and by runs (a source is registered as a table on its
first run, and compared with it on every later one: `run/drift.py`). A table's schema is a list of
columns with a logical type (the spec's column types, plus `time`, `duration`, `binary`, `list<T>`,
`struct<a:T,...>` and `unknown`) and a nullability (`None` when not measured: a run registers a table
without scanning its data). Every change writes a new, numbered version with its change list (added,
removed, retyped, nullability), never values. The migration `0003_governance` creates the tables.

Concurrency follows `catalog/datasets.py`: one transaction per record that creates the table's row if
needed and locks it (PostgreSQL `FOR UPDATE`; SQLite `BEGIN IMMEDIATE`), compares, and writes the next
version; the (name, version) primary key is the backstop.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from vaultline.catalog.schema import CatalogHandle, catalog_failure, for_writing, reading
from vaultline.errors import TerminalError

metadata = sa.MetaData()
tables = sa.Table(
    "vaultline_tables",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("location", sa.String(1024), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("schema", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)
table_versions = sa.Table(
    "vaultline_table_versions",
    metadata,
    sa.Column(
        "name",
        sa.String(128),
        sa.ForeignKey("vaultline_tables.name", name="fk_vaultline_table_versions_name"),
        nullable=False,
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("schema", sa.Text, nullable=False),
    sa.Column("changes", sa.Text, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.PrimaryKeyConstraint("name", "version", name="pk_vaultline_table_versions"),
)

TABLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
BASE_TYPES = (
    "string", "int64", "float64", "bool", "date", "datetime", "decimal",
    "time", "duration", "binary", "unknown",
)  # fmt: skip
# Glue / Hive / SQL spellings accepted in expected-schema files, so a Glue catalog audit ports as is.
TYPE_ALIASES = {
    "bigint": "int64", "int": "int64", "integer": "int64", "smallint": "int64", "tinyint": "int64",
    "long": "int64", "int32": "int64", "int16": "int64", "int8": "int64",
    "double": "float64", "float": "float64", "real": "float64", "float32": "float64",
    "boolean": "bool", "timestamp": "datetime", "varchar": "string", "char": "string", "text": "string",
}  # fmt: skip
_NESTED = re.compile(r"(list|struct)<.+>")
_PARAMETERS = re.compile(r"\(\s*\d+\s*(,\s*\d+\s*)?\)$")  # decimal(10,2), varchar(64)
Source = Literal["crawl", "run"]
Action = Literal["registered", "unchanged", "evolved", "drifted"]
ChangeKind = Literal["added", "removed", "retyped", "nullability"]


class TableError(TerminalError):
    """A table operation cannot proceed as asked (invalid name or schema, unknown table)."""


class TableNotFound(TableError):
    """No table of that name in the catalog."""


@dataclass(frozen=True)
class TableColumn:
    """One column: its name, logical type and whether it holds nulls (None: not measured)."""

    name: str
    type: str
    nullable: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SchemaChange:
    """What changed about one column between two schemas: types and nullability only, never values."""

    column: str
    kind: ChangeKind
    old: str | None
    """The old type (retyped, removed), or nullability (`nullable`, `not null`, `unknown`)."""
    new: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        if self.kind == "added":
            return f"added {self.column} ({self.new})"
        if self.kind == "removed":
            return f"removed {self.column} ({self.old})"
        if self.kind == "retyped":
            return f"retyped {self.column}: {self.old} -> {self.new}"
        return f"{self.column}: {self.old} -> {self.new}"


@dataclass(frozen=True)
class TableRecord:
    """A table as registered now: its latest version's schema."""

    name: str
    location: str
    format: str
    version: int
    columns: tuple[TableColumn, ...]
    created_at: str
    updated_at: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "columns": [c.as_dict() for c in self.columns]}


@dataclass(frozen=True)
class TableVersion:
    """One version of a table: its schema, what changed from the previous one, and who recorded it."""

    name: str
    version: int
    columns: tuple[TableColumn, ...]
    changes: tuple[SchemaChange, ...]
    source: str
    """`crawl` (vaultline crawl) or `run` (registered or evolved by a pipeline run)."""
    run_id: str | None
    recorded_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "columns": [c.as_dict() for c in self.columns],
            "changes": [c.as_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class TableUpdate:
    """The outcome of recording a schema: the table's version afterwards and the changes seen.

    `drifted`: the schema changed but evolving was not allowed; nothing was written."""

    name: str
    version: int
    action: Action
    changes: tuple[SchemaChange, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changes": [c.as_dict() for c in self.changes]}


# ---- comparing schemas --------------------------------------------------------------------------


def nullability_text(value: bool | None) -> str:
    """How a nullability reads in change lists and mismatches."""
    return "unknown" if value is None else "nullable" if value else "not null"


def schema_changes(
    registered: Sequence[TableColumn],
    observed: Sequence[TableColumn],
    *,
    typed: Collection[str] | None = None,
) -> list[SchemaChange]:
    """Removed, added, retyped, then nullability changes, from `registered` to `observed`.

    Column order does not count (every reader selects by name). Only the types of `typed` columns
    (None: all) are compared: a CSV column the run reads as text by default says nothing about the
    data's type. Nullability is compared only where `observed` measured it."""
    old = {c.name: c for c in registered}
    new = {c.name: c for c in observed}
    changes = [SchemaChange(c.name, "removed", c.type, None) for c in registered if c.name not in new]
    changes += [SchemaChange(c.name, "added", None, c.type) for c in observed if c.name not in old]
    common = [c for c in observed if c.name in old]
    changes += [
        SchemaChange(c.name, "retyped", old[c.name].type, c.type)
        for c in common
        if (typed is None or c.name in typed) and c.type != old[c.name].type
    ]
    changes += [
        SchemaChange(
            c.name, "nullability", nullability_text(old[c.name].nullable), nullability_text(c.nullable)
        )
        for c in common
        if c.nullable is not None and c.nullable != old[c.name].nullable
    ]
    return changes


def merged_schema(
    registered: Sequence[TableColumn],
    observed: Sequence[TableColumn],
    *,
    typed: Collection[str] | None = None,
) -> list[TableColumn]:
    """The schema a new version records: the observed columns, in their order, keeping the registered
    type of a column whose type was not observed and the registered nullability where none was measured."""
    old = {c.name: c for c in registered}
    result = []
    for column in observed:
        before = old.get(column.name)
        if before is None:
            result.append(column)
            continue
        kind = column.type if typed is None or column.name in typed else before.type
        nullable = column.nullable if column.nullable is not None else before.nullable
        result.append(TableColumn(column.name, kind, nullable))
    return result


def normalized_type(text: str) -> str:
    """A logical type in its canonical spelling (Glue/Hive aliases mapped); ValueError when unknown."""
    kind = re.sub(r"\s+", "", text.strip().lower())
    kind = _PARAMETERS.sub("", kind)
    kind = TYPE_ALIASES.get(kind, kind)
    if kind.startswith("array<"):
        kind = "list<" + kind[len("array<") :]
    if kind in BASE_TYPES or _NESTED.fullmatch(kind):
        return kind
    raise ValueError(
        f"unknown type; use one of {', '.join(BASE_TYPES)}, list<T> or struct<name:T,...> "
        f"(Glue names such as bigint, double, boolean, timestamp are accepted)"
    )


def check_table_name(name: str) -> None:
    if not TABLE_NAME.fullmatch(name):
        raise TableError(
            f"'{name}' is not a valid table name",
            hint="use letters, digits, '_', '.', '-' (first a letter or digit), at most 128 characters",
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _schema_text(columns: Sequence[TableColumn]) -> str:
    return json.dumps([c.as_dict() for c in columns], sort_keys=True)


def _columns(text: str) -> tuple[TableColumn, ...]:
    return tuple(TableColumn(**item) for item in json.loads(text))


def _changes(text: str) -> tuple[SchemaChange, ...]:
    return tuple(SchemaChange(**item) for item in json.loads(text))


def _record_of(row: sa.Row[Any]) -> TableRecord:
    m = row._mapping
    return TableRecord(
        name=m["name"],
        location=m["location"],
        format=m["format"],
        version=m["version"],
        columns=_columns(m["schema"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _insert_ignoring_duplicates(conn: sa.Connection) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect (the catalog supports these two)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(tables)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(tables)


# ---- the catalog API ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _NewVersion:
    name: str
    number: int
    location: str
    file_format: str
    columns: Sequence[TableColumn]
    changes: tuple[SchemaChange, ...]
    source: Source
    run_id: str | None
    stamp: str


class TableCatalog(CatalogHandle):
    """Tables and their versions in the catalog at `url` (the same database as runs and datasets)."""

    def record(
        self,
        name: str,
        *,
        location: str,
        file_format: str,
        columns: Sequence[TableColumn],
        source: Source,
        run_id: str | None = None,
        typed: Collection[str] | None = None,
        evolve: bool = True,
    ) -> TableUpdate:
        """Register `name` with `columns`, or compare them with its latest version: a new version only
        when the schema changed (and `evolve` allows it; else the update says `drifted`, nothing written).

        `typed` names the columns whose observed type counts (None: all), see `schema_changes`."""
        check_table_name(name)
        self._check_columns(name, columns)
        stamp = _now()
        try:
            with for_writing(self.engine).begin() as conn:
                # A placeholder row (version 0) makes the lock below work for a table that does not
                # exist yet; the same transaction turns it into version 1, so nobody ever sees it.
                placeholder = _insert_ignoring_duplicates(conn).values(
                    name=name, location=location, format=file_format, version=0, schema="[]",
                    created_at=stamp, updated_at=stamp,
                )  # fmt: skip
                conn.execute(placeholder.on_conflict_do_nothing(index_elements=["name"]))
                row = conn.execute(sa.select(tables).where(tables.c.name == name).with_for_update()).one()
                version = _NewVersion(name, 1, location, file_format, columns, (), source, run_id, stamp)
                if row.version == 0:
                    self._write(conn, version)
                    return TableUpdate(name, 1, "registered")
                registered = _columns(row.schema)
                changes = schema_changes(registered, columns, typed=typed)
                if not changes:
                    return TableUpdate(name, row.version, "unchanged")
                if not evolve:
                    return TableUpdate(name, row.version, "drifted", tuple(changes))
                schema = merged_schema(registered, columns, typed=typed)
                number = row.version + 1
                self._write(conn, replace(version, number=number, columns=schema, changes=tuple(changes)))
                return TableUpdate(name, number, "evolved", tuple(changes))
        except sa.exc.IntegrityError:
            raise TableError(
                f"another writer recorded a version of table {name} at the same time",
                hint="run the command again: it compares with the newest version",
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            raise catalog_failure(self.url, exc, f"recording table {name}") from None

    def _check_columns(self, name: str, columns: Sequence[TableColumn]) -> None:
        names = [c.name for c in columns]
        if not names or len(set(names)) != len(names):
            raise TableError(
                f"the schema recorded for table {name} has {'no columns' if not names else 'a column twice'}",
                hint="a table's schema lists each column once",
            )

    def _write(self, conn: sa.Connection, new: _NewVersion) -> None:
        schema = _schema_text(new.columns)
        conn.execute(
            tables.update()
            .where(tables.c.name == new.name)
            .values(
                location=new.location,
                format=new.file_format,
                version=new.number,
                schema=schema,
                updated_at=new.stamp,
            )
        )
        conn.execute(
            table_versions.insert().values(
                name=new.name,
                version=new.number,
                schema=schema,
                changes=json.dumps([c.as_dict() for c in new.changes], sort_keys=True),
                source=new.source,
                run_id=new.run_id,
                recorded_at=new.stamp,
            )
        )

    def find(self, name: str) -> TableRecord | None:
        """The table as registered now, or None when it is not registered."""
        check_table_name(name)
        with reading(self.engine, self.url, f"reading table {name}") as conn:
            row = conn.execute(sa.select(tables).where(tables.c.name == name, tables.c.version > 0)).first()
        return None if row is None else _record_of(row)

    def get(self, name: str) -> TableRecord:
        """The table as registered now; `TableNotFound` names the known tables."""
        record = self.find(name)
        if record is None:
            raise self._unknown(name)
        return record

    def list(self) -> builtins.list[TableRecord]:
        """Every registered table, by name."""
        query = sa.select(tables).where(tables.c.version > 0).order_by(tables.c.name)
        with reading(self.engine, self.url, "listing tables") as conn:
            return [_record_of(row) for row in conn.execute(query)]

    def history(self, name: str) -> builtins.list[TableVersion]:
        """Every version of a table, newest first."""
        check_table_name(name)
        query = (
            sa.select(table_versions)
            .where(table_versions.c.name == name)
            .order_by(table_versions.c.version.desc())
        )
        with reading(self.engine, self.url, f"reading table {name}") as conn:
            rows = builtins.list(conn.execute(query))
        if not rows:
            raise self._unknown(name)
        return [
            TableVersion(
                name=row.name,
                version=row.version,
                columns=_columns(row.schema),
                changes=_changes(row.changes),
                source=row.source,
                run_id=row.run_id,
                recorded_at=row.recorded_at,
            )
            for row in rows
        ]

    def _unknown(self, name: str) -> TableNotFound:
        known = [record.name for record in self.list()]
        if not known:
            return TableNotFound(
                f"no table named {name}: the catalog has no tables yet",
                hint="register one with `vaultline crawl SOURCE --name NAME`, or run a pipeline",
            )
        shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
        return TableNotFound(f"no table named {name}", hint=f"known tables: {shown} (vaultline catalog list)")
