"""Versioned datasets: every commit of a dataset is a new, immutable, numbered version.

A version records the files written (location, SHA-256, rows, bytes) and value-free documents: the
schema, classifications, protections, encryption references, and the incremental watermark. The
watermark may hold a data value (the newest timestamp read), so it is never printed, rendered or
put in an error; `DatasetVersion.as_dict` only says whether one is set.

Concurrency: a commit is one transaction that locks the dataset's row (PostgreSQL `FOR UPDATE`;
SQLite `BEGIN IMMEDIATE` locks the database), reads the latest version and inserts the next. The
(dataset, version) primary key is the backstop: two writers can never both create version N, the
loser gets `VersionConflict`. Vacuum takes the same lock, so a commit that reuses an older version's
file and a vacuum that deletes it cannot interleave; a commit that references a file only vacuumed
versions held is refused (the file may be gone).
"""

from __future__ import annotations

import builtins
import logging
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from vaultline.catalog import cleanup, maintenance
from vaultline.catalog.dataset_records import (
    COMMITTED,
    VACUUMED,
    DatasetError,
    DatasetNotFound,
    DatasetSummary,
    DatasetVersion,
    FileEntry,
    GcResult,
    VacuumResult,
    VersionConflict,
    VersionNotFound,
    VersionVacuumed,
    check_name,
    checked_files,
    chunks,
    dataset_exists,
    datasets,
    document,
    files_table,
    lock_dataset,
    metadata,
    now,
    ranges,
    same_version,
    split_ref,
    unknown_dataset,
    version_of,
    versions,
)
from vaultline.catalog.schema import CatalogBusy, CatalogHandle, catalog_failure, for_writing, reading

__all__ = [
    "DatasetCatalog",
    "DatasetError",
    "DatasetNotFound",
    "DatasetSummary",
    "DatasetVersion",
    "FileEntry",
    "GcResult",
    "VacuumResult",
    "VersionConflict",
    "VersionNotFound",
    "VersionRequest",
    "VersionVacuumed",
    "metadata",
    "split_ref",
]

log = logging.getLogger("vaultline.catalog")


@dataclass(frozen=True)
class VersionRequest:
    """One dataset version a run asks to commit. `append`: keep the latest version's files too."""

    dataset: str
    files: Sequence[FileEntry]
    schema: Mapping[str, Any] = field(default_factory=dict)
    classifications: Mapping[str, Any] = field(default_factory=dict)
    protections: Mapping[str, Any] = field(default_factory=dict)
    encryption: Mapping[str, Any] = field(default_factory=dict)
    watermark: Mapping[str, Any] | None = None
    append: bool = False

    def documents(self) -> dict[str, str | None]:
        return {
            what: document(self.dataset, what, getattr(self, what))
            for what in ("schema", "classifications", "protections", "encryption", "watermark")
        }


class DatasetCatalog(CatalogHandle):
    """Datasets and their versions in the catalog at `url` (the same database as the run catalog)."""

    # ---- commit -------------------------------------------------------------------------------

    def commit(
        self,
        dataset: str,
        *,
        files: Sequence[FileEntry],
        run_id: str | None,
        schema: Mapping[str, Any],
        classifications: Mapping[str, Any],
        protections: Mapping[str, Any],
        encryption: Mapping[str, Any],
        watermark: Mapping[str, Any] | None,
        expected_version: int | None = None,
    ) -> int:
        """Record a new version of `dataset` (created on its first commit); returns its number.

        `expected_version` is the version the caller built on (0: the dataset must not exist yet);
        when the latest differs, `VersionConflict` is raised and nothing is written."""
        request = VersionRequest(
            dataset, files, schema=schema, classifications=classifications, protections=protections,
            encryption=encryption, watermark=watermark,
        )  # fmt: skip
        try:
            with for_writing(self.engine).begin() as conn:
                number = self._commit_in(conn, request, run_id, expected_version)
        except sa.exc.SQLAlchemyError as exc:
            raise catalog_failure(self.url, exc, f"committing dataset {dataset}") from None
        return number

    def commit_run(
        self,
        requests: Sequence[VersionRequest],
        *,
        run_id: str,
        also: Callable[[sa.Connection], None] | None = None,
        attempts: int = 5,
    ) -> dict[str, int]:
        """Commit a new version of every dataset a run wrote, and whatever `also` writes (the run's
        bookmarks), in ONE transaction: all of it becomes visible together or none of it does.

        Datasets are locked in name order, so two runs committing overlapping outputs cannot deadlock.
        Retried like `commit_with_retry` on a version conflict or a busy catalog; `also` runs again in
        each attempt and may raise to roll everything back."""
        ordered = sorted(requests, key=lambda r: r.dataset)
        for attempt in range(1, attempts + 1):
            try:
                with for_writing(self.engine).begin() as conn:
                    numbers = {r.dataset: self._commit_in(conn, r, run_id, None) for r in ordered}
                    if also is not None:
                        also(conn)
                return numbers
            except sa.exc.SQLAlchemyError as exc:
                error = catalog_failure(self.url, exc, f"committing the outputs of run {run_id}")
                if not isinstance(error, CatalogBusy) or attempt >= attempts:
                    raise error from None
            except VersionConflict:
                if attempt >= attempts:
                    raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 (not cryptographic)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _commit_in(
        self, conn: sa.Connection, request: VersionRequest, run_id: str | None, expected_version: int | None
    ) -> int:
        dataset = request.dataset
        check_name(dataset)
        entries = checked_files(dataset, request.files)
        documents = request.documents()
        lock_dataset(conn, dataset, create=True)
        latest = self._latest_number(conn, dataset) or 0
        if expected_version is not None and latest != expected_version:
            raise VersionConflict(
                f"dataset {dataset} is at version {latest}, not the expected {expected_version}",
                hint="another run committed first: re-read the latest version and build on it",
            )
        if request.append and latest:
            entries = self._appended(conn, request, latest) + entries
        self._refuse_vacuumed_files(conn, dataset, [e.location for e in entries])
        number = latest + 1
        self._insert_version(
            conn, dataset=dataset, number=number, run_id=run_id, documents=documents, entries=entries
        )
        log.info("committed dataset %s version %d (%d files)", dataset, number, len(entries))
        return number

    def _appended(
        self, conn: sa.Connection, request: VersionRequest, latest: int
    ) -> builtins.list[FileEntry]:
        """The files of the latest version, which an appending commit keeps; its schema must match."""
        previous = self._fetch(conn, request.dataset, latest)
        if previous.status == COMMITTED and (differs := _schema_change(previous.schema, request.schema)):
            raise DatasetError(
                f"cannot append to dataset {request.dataset}: {differs} differ from version {latest}'s",
                hint="make the output's columns match, or write with `mode: overwrite` to start a new layout",
            )
        query = sa.select(
            files_table.c.location, files_table.c.sha256, files_table.c.rows, files_table.c.bytes
        ).where(files_table.c.dataset == request.dataset, files_table.c.version == latest)
        return [FileEntry(**row._mapping) for row in conn.execute(query)]

    def commit_with_retry(
        self,
        dataset: str,
        *,
        files: Sequence[FileEntry],
        run_id: str | None,
        schema: Mapping[str, Any],
        classifications: Mapping[str, Any],
        protections: Mapping[str, Any],
        encryption: Mapping[str, Any],
        watermark: Mapping[str, Any] | None,
        expected_version: int | None = None,
        attempts: int = 5,
    ) -> int:
        """`commit`, retried on a conflict or a busy catalog: each attempt re-reads the latest version.

        With `expected_version` the caller built on one version, so a conflict is final (raised)."""
        for attempt in range(1, attempts + 1):
            try:
                return self.commit(
                    dataset,
                    files=files,
                    run_id=run_id,
                    schema=schema,
                    classifications=classifications,
                    protections=protections,
                    encryption=encryption,
                    watermark=watermark,
                    expected_version=expected_version,
                )
            except (VersionConflict, CatalogBusy) as exc:
                final = attempt >= attempts or (
                    isinstance(exc, VersionConflict) and expected_version is not None
                )
                if final:
                    raise
                # Jittered backoff, so writers that collided do not collide again in lockstep.
                time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 (not cryptographic)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _latest_number(self, conn: sa.Connection, dataset: str) -> int | None:
        latest: int | None = conn.scalar(
            sa.select(sa.func.max(versions.c.version)).where(versions.c.dataset == dataset)
        )
        return latest

    def _refuse_vacuumed_files(self, conn: sa.Connection, dataset: str, locations: Sequence[str]) -> None:
        """A file known only to vacuumed versions may already be deleted: never commit it again."""
        committed = sa.func.sum(sa.case((versions.c.status == COMMITTED, 1), else_=0))
        for chunk in chunks(locations):
            query = (
                sa.select(files_table.c.location)
                .join(versions, same_version())
                .where(files_table.c.location.in_(chunk))
                .group_by(files_table.c.location)
                .having(committed == 0)
            )
            stale = sorted(conn.scalars(query))
            if stale:
                raise DatasetError(
                    f"the commit to dataset {dataset} references {len(stale)} file(s) that only vacuumed "
                    f"versions held and that may already be deleted (first: {stale[0]})",
                    hint="write those files again under new names; vacuum deletes the files of old versions",
                )

    def _insert_version(
        self,
        conn: sa.Connection,
        *,
        dataset: str,
        number: int,
        run_id: str | None,
        documents: Mapping[str, str | None],
        entries: Sequence[FileEntry],
    ) -> None:
        try:
            conn.execute(
                versions.insert().values(
                    dataset=dataset,
                    version=number,
                    run_id=run_id,
                    committed_at=now(),
                    row_count=sum(e.rows for e in entries),
                    status=COMMITTED,
                    **documents,
                )
            )
        except sa.exc.IntegrityError:
            # The primary key: a concurrent writer inserted this version number first.
            raise VersionConflict(
                f"another writer committed version {number} of dataset {dataset} at the same time",
                hint="re-read the latest version and commit again (commit_with_retry does)",
            ) from None
        if entries:
            conn.execute(
                files_table.insert(),
                [{"dataset": dataset, "version": number, **e.as_dict()} for e in entries],
            )

    # ---- reading ------------------------------------------------------------------------------

    def _fetch(self, conn: sa.Connection, dataset: str, number: int | None) -> DatasetVersion:
        query = sa.select(versions).where(versions.c.dataset == dataset)
        query = (
            query.where(versions.c.version == number)
            if number is not None
            else query.order_by(versions.c.version.desc())
        )
        row = conn.execute(query.limit(1)).first()
        if row is not None:
            return version_of(row)
        if not dataset_exists(conn, dataset):
            raise unknown_dataset(conn, dataset)
        numbers = builtins.list(
            conn.scalars(sa.select(versions.c.version).where(versions.c.dataset == dataset))
        )
        raise VersionNotFound(
            f"dataset {dataset} has no version {number}",
            hint=f"its versions: {ranges(numbers)} (vaultline datasets history {dataset})",
        )

    def _readable(self, conn: sa.Connection, record: DatasetVersion) -> DatasetVersion:
        if record.status == VACUUMED:
            retained = conn.scalars(
                sa.select(versions.c.version).where(
                    versions.c.dataset == record.dataset, versions.c.status == COMMITTED
                )
            )
            raise VersionVacuumed(
                f"version {record.version} of dataset {record.dataset} was vacuumed at {record.vacuumed_at}: "
                "its files are deleted",
                hint=f"read a retained version ({ranges(retained)}); its record stays in "
                f"`vaultline datasets history {record.dataset}`",
            )
        return record

    def latest(self, dataset: str) -> DatasetVersion:
        """The newest version (vacuum always retains it)."""
        with reading(self.engine, self.url, f"reading dataset {dataset}") as conn:
            return self._readable(conn, self._fetch(conn, dataset, None))

    def version(self, dataset: str, number: int, *, include_vacuumed: bool = False) -> DatasetVersion:
        """One version; a vacuumed one raises `VersionVacuumed` unless `include_vacuumed` (audit)."""
        with reading(self.engine, self.url, f"reading dataset {dataset}") as conn:
            record = self._fetch(conn, dataset, number)
            return record if include_vacuumed else self._readable(conn, record)

    def history(self, dataset: str) -> builtins.list[DatasetVersion]:
        """Every version, vacuumed ones included, newest first."""
        with reading(self.engine, self.url, f"reading dataset {dataset}") as conn:
            query = (
                sa.select(versions).where(versions.c.dataset == dataset).order_by(versions.c.version.desc())
            )
            records = [version_of(row) for row in conn.execute(query)]
            if not records:
                raise unknown_dataset(conn, dataset)
            return records

    def files(self, dataset: str, number: int) -> builtins.list[FileEntry]:
        """The files of a readable (not vacuumed) version, by location."""
        with reading(self.engine, self.url, f"reading dataset {dataset}") as conn:
            self._readable(conn, self._fetch(conn, dataset, number))
            query = (
                sa.select(
                    files_table.c.location, files_table.c.sha256, files_table.c.rows, files_table.c.bytes
                )
                .where(files_table.c.dataset == dataset, files_table.c.version == number)
                .order_by(files_table.c.location)
            )
            return [FileEntry(**row._mapping) for row in conn.execute(query)]

    def parse_ref(self, ref: str) -> tuple[str, int]:
        """'sales@3' → ('sales', 3); 'sales' → ('sales', latest). Unknown or vacuumed: a clear error."""
        name, number = split_ref(ref)
        record = self.latest(name) if number is None else self.version(name, number)
        return record.dataset, record.version

    def referenced_locations(self, dataset: str | None = None) -> set[str]:
        """Locations of every file a committed (not vacuumed) version references: what gc must keep."""
        query = (
            sa.select(files_table.c.location)
            .join(versions, same_version())
            .where(versions.c.status == COMMITTED)
            .distinct()
        )
        if dataset is not None:
            query = query.where(files_table.c.dataset == dataset)
        with reading(self.engine, self.url, "listing referenced files") as conn:
            return set(conn.scalars(query))

    def roots(self) -> builtins.list[str]:
        """Every directory that holds (or held) a file of any version: where gc looks for leftovers."""
        with reading(self.engine, self.url, "listing dataset directories") as conn:
            known = conn.scalars(sa.select(files_table.c.location).distinct())
            return cleanup.dataset_directories(cleanup.parent(location) for location in known)

    def list(self) -> builtins.list[DatasetSummary]:
        """Every dataset with its latest version, by name."""
        retained = sa.func.sum(sa.case((versions.c.status == COMMITTED, 1), else_=0))
        agg = (
            sa.select(
                versions.c.dataset,
                sa.func.max(versions.c.version).label("latest"),
                sa.func.count().label("versions"),
                retained.label("retained"),
            )
            .group_by(versions.c.dataset)
            .subquery()
        )
        query = (
            sa.select(
                datasets.c.name,
                datasets.c.created_at,
                agg.c.latest,
                agg.c.versions,
                agg.c.retained,
                versions.c.committed_at,
                versions.c.run_id,
                versions.c.row_count,
            )
            .join(agg, agg.c.dataset == datasets.c.name)
            .join(versions, sa.and_(versions.c.dataset == agg.c.dataset, versions.c.version == agg.c.latest))
            .order_by(datasets.c.name)
        )
        with reading(self.engine, self.url, "listing datasets") as conn:
            return [
                DatasetSummary(
                    name=row.name,
                    created_at=row.created_at,
                    latest_version=row.latest,
                    latest_committed_at=row.committed_at,
                    latest_run_id=row.run_id,
                    row_count=row.row_count,
                    versions=row.versions,
                    retained=int(row.retained),
                )
                for row in conn.execute(query)
            ]

    # ---- vacuum and gc (catalog/maintenance.py) -------------------------------------------------

    def vacuum(self, dataset: str, keep: int, *, dry_run: bool = False) -> VacuumResult:
        """Keep the newest `keep` committed versions; delete the files only older versions reference
        (local or S3); the older versions are marked vacuumed, their records kept for the audit trail."""
        return maintenance.vacuum(self, dataset, keep, dry_run=dry_run)

    def gc(
        self,
        roots: Sequence[str],
        *,
        grace_seconds: int,
        dry_run: bool = False,
        live_runs: Collection[str] = (),
    ) -> GcResult:
        """Delete files under `roots` no committed version references, older than the grace period,
        and not written by one of `live_runs`."""
        return maintenance.gc(self, roots, grace_seconds=grace_seconds, dry_run=dry_run, live_runs=live_runs)


def _schema_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """What of an appending version's schema differs from the latest's ("" when nothing): the column
    names, or the types of named columns (versions committed before types were kept have none)."""
    if list(before.get("columns") or []) != list(after.get("columns") or []):
        return "its columns"
    old, new = before.get("types") or {}, after.get("types") or {}
    changed = sorted(c for c in old.keys() & new.keys() if old[c] != new[c])
    return f"the types of {', '.join(changed)}" if changed else ""
