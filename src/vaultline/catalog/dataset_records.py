"""Tables, records and errors of versioned datasets, the checks a commit's input must pass, and the
small SQL helpers `datasets.py` and `maintenance.py` share (row lock, existence, "unknown" errors).

`catalog/datasets.py` (the DatasetCatalog API) re-exports the public names; the migrations in
`catalog/migrations/versions/0002_datasets.py` create these tables (a schema test keeps them equal).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from vaultline.catalog import cleanup
from vaultline.errors import RetryableError, TerminalError

COMMITTED = "committed"
VACUUMED = "vacuumed"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 500  # IN-list size: well under SQLite's and PostgreSQL's bound-parameter limits

metadata = sa.MetaData()
datasets = sa.Table(
    "vaultline_datasets",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)
versions = sa.Table(
    "vaultline_dataset_versions",
    metadata,
    sa.Column("dataset", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(64), index=True),
    sa.Column("committed_at", sa.String(40), nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("schema", sa.Text, nullable=False),
    sa.Column("classifications", sa.Text, nullable=False),
    sa.Column("protections", sa.Text, nullable=False),
    sa.Column("encryption", sa.Text, nullable=False),
    sa.Column("watermark", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("vacuumed_at", sa.String(40)),
    sa.PrimaryKeyConstraint("dataset", "version", name="pk_vaultline_dataset_versions"),
    sa.ForeignKeyConstraint(
        ["dataset"], ["vaultline_datasets.name"], name="fk_vaultline_dataset_versions_dataset"
    ),
    sa.CheckConstraint("status IN ('committed', 'vacuumed')", name="ck_vaultline_dataset_versions_status"),
)
files_table = sa.Table(
    "vaultline_dataset_files",
    metadata,
    sa.Column("dataset", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("location", sa.String(1024), nullable=False, index=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("dataset", "version", "location", name="pk_vaultline_dataset_files"),
    sa.ForeignKeyConstraint(
        ["dataset", "version"],
        ["vaultline_dataset_versions.dataset", "vaultline_dataset_versions.version"],
        name="fk_vaultline_dataset_files_version",
    ),
)


class DatasetError(TerminalError):
    """A dataset operation cannot proceed as asked (unknown name or version, invalid commit)."""


class DatasetNotFound(DatasetError):
    """No dataset of that name in the catalog."""


class VersionNotFound(DatasetError):
    """The dataset exists but has no version of that number."""


class VersionVacuumed(DatasetError):
    """The version's record is kept for the audit trail, but its files were deleted by vacuum."""


class VersionConflict(RetryableError):
    """Another writer committed the dataset first; re-read the latest version and commit again."""


@dataclass(frozen=True)
class FileEntry:
    location: str
    sha256: str
    rows: int
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DatasetVersion:
    dataset: str
    version: int
    run_id: str | None
    committed_at: str
    row_count: int
    status: str
    vacuumed_at: str | None
    schema: dict[str, Any]
    classifications: dict[str, Any]
    protections: dict[str, Any]
    encryption: dict[str, Any]
    # May hold a data value (the newest timestamp read): kept out of repr() so logs never show it.
    watermark: dict[str, Any] | None = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """For display and JSON output: everything but the watermark's value."""
        data = {k: v for k, v in asdict(self).items() if k != "watermark"}
        data["has_watermark"] = self.watermark is not None
        return data


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    created_at: str
    latest_version: int
    latest_committed_at: str
    latest_run_id: str | None
    row_count: int
    versions: int
    retained: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VacuumResult:
    dataset: str
    keep: int
    retained: list[int]
    vacuumed: list[int]
    files_deleted: int
    bytes_deleted: int
    files_missing: int
    files_failed: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GcResult:
    roots: list[str]
    grace_seconds: int
    files_scanned: int
    files_referenced: int
    files_young: int
    files_deleted: int
    bytes_deleted: int
    files_failed: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def names(items: Iterable[str], limit: int = 20) -> str:
    shown = list(items)
    text = ", ".join(shown[:limit])
    return f"{text} and {len(shown) - limit} more" if len(shown) > limit else text


def ranges(numbers: Iterable[int]) -> str:
    """1, 2, 3, 5 → '1-3, 5': a long history stays one readable line."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


_VERSION = re.compile(r"[0-9]{1,10}")


def split_ref(ref: str) -> tuple[str, int | None]:
    """'sales@3' → ('sales', 3); 'sales' → ('sales', None). Syntax only: see DatasetCatalog.parse_ref."""
    name, sep, number = ref.partition("@")
    # ASCII digits only (`'²'.isdigit()` holds), and within the catalog's 32-bit INTEGER column
    if not NAME.fullmatch(name) or (sep and not (_VERSION.fullmatch(number) and 1 <= int(number) < 2**31)):
        raise DatasetError(
            f"'{ref}' is not a dataset reference",
            hint="write DATASET or DATASET@VERSION, e.g. sales or sales@3 (versions count from 1)",
        )
    return name, int(number) if sep else None


def check_name(dataset: str) -> None:
    if not NAME.fullmatch(dataset):
        raise DatasetError(
            f"'{dataset}' is not a valid dataset name",
            hint="use letters, digits, '_', '.', '-' (first a letter or digit), at most 128 characters",
        )


def checked_files(dataset: str, files: Sequence[FileEntry]) -> list[FileEntry]:
    entries = [FileEntry(cleanup.normalize(f.location), f.sha256, f.rows, f.bytes) for f in files]
    for index, entry in enumerate(entries):
        if not SHA256.fullmatch(entry.sha256) or entry.rows < 0 or entry.bytes < 0:
            raise DatasetError(
                f"file {index} of the commit to dataset {dataset} has an invalid sha256, rows or bytes",
                hint="sha256 is 64 lowercase hex digits; rows and bytes are counts (>= 0)",
            )
    seen = [e.location for e in entries]
    if len(set(seen)) != len(seen):
        raise DatasetError(
            f"the commit to dataset {dataset} lists a file location more than once",
            hint="each file of a version is listed once",
        )
    return entries


def document(dataset: str, what: str, value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        # Only the exception's type: its message can quote the offending value.
        raise DatasetError(
            f"the {what} of the commit to dataset {dataset} cannot be stored as JSON ({type(exc).__name__})",
            hint="documents hold only strings, numbers, booleans, lists and objects",
        ) from None


def loaded(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def version_of(row: sa.Row[Any]) -> DatasetVersion:
    m = row._mapping
    return DatasetVersion(
        dataset=m["dataset"],
        version=m["version"],
        run_id=m["run_id"],
        committed_at=m["committed_at"],
        row_count=m["row_count"],
        status=m["status"],
        vacuumed_at=m["vacuumed_at"],
        schema=loaded(m["schema"]),
        classifications=loaded(m["classifications"]),
        protections=loaded(m["protections"]),
        encryption=loaded(m["encryption"]),
        watermark=loaded(m["watermark"]),
    )


def same_version() -> sa.ColumnElement[bool]:
    return sa.and_(files_table.c.dataset == versions.c.dataset, files_table.c.version == versions.c.version)


def lock_dataset(conn: sa.Connection, dataset: str, *, create: bool) -> bool:
    """Lock the dataset's row until the transaction ends (creating it first when asked).

    On SQLite the immediate transaction already holds the database's write lock, and FOR UPDATE
    is not rendered. Returns whether the dataset exists."""
    if create:
        insert = _insert_ignoring_duplicates(conn).values(name=dataset, created_at=now())
        conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
    query = sa.select(datasets.c.name).where(datasets.c.name == dataset).with_for_update()
    return conn.execute(query).first() is not None


def dataset_exists(conn: sa.Connection, dataset: str) -> bool:
    return conn.scalar(sa.select(datasets.c.name).where(datasets.c.name == dataset)) is not None


def unknown_dataset(conn: sa.Connection, dataset: str) -> DatasetNotFound:
    known = list(conn.scalars(sa.select(datasets.c.name).order_by(datasets.c.name)))
    if not known:
        return DatasetNotFound(
            f"no dataset named {dataset}: the catalog has no datasets yet",
            hint="a dataset appears when a run commits its first version",
        )
    return DatasetNotFound(
        f"no dataset named {dataset}",
        hint=f"known datasets: {names(known)} (vaultline datasets list)",
    )


def _insert_ignoring_duplicates(conn: sa.Connection) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect (the catalog supports these two)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(datasets)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(datasets)
