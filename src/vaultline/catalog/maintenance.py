"""vacuum and gc of versioned datasets: which files may go, decided in the catalog; deleting them
is `cleanup`'s job. Reached through `DatasetCatalog.vacuum` and `DatasetCatalog.gc`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from vaultline.catalog import cleanup
from vaultline.catalog.dataset_records import (
    COMMITTED,
    VACUUMED,
    DatasetError,
    GcResult,
    VacuumResult,
    chunks,
    files_table,
    lock_dataset,
    now,
    same_version,
    unknown_dataset,
    versions,
)
from vaultline.catalog.schema import catalog_failure, for_writing, reading

if TYPE_CHECKING:
    from vaultline.catalog.datasets import DatasetCatalog

log = logging.getLogger("vaultline.catalog")


def vacuum(catalog: DatasetCatalog, dataset: str, keep: int, *, dry_run: bool = False) -> VacuumResult:
    """Keep the newest `keep` committed versions; delete the files only older versions reference.

    The versions are marked vacuumed (their records stay) in one transaction, then the files are
    deleted: a crash in between leaves unreferenced files, which gc collects, never a committed
    version whose files are gone."""
    if keep < 1:
        raise DatasetError(
            f"vacuum of dataset {dataset} must keep at least 1 version, not {keep}",
            hint="--keep N retains the newest N versions",
        )
    engine = catalog.engine if dry_run else for_writing(catalog.engine)
    try:
        with engine.begin() as conn:
            if not lock_dataset(conn, dataset, create=False):
                raise unknown_dataset(conn, dataset)
            committed = list(
                conn.scalars(
                    sa.select(versions.c.version)
                    .where(versions.c.dataset == dataset, versions.c.status == COMMITTED)
                    .order_by(versions.c.version.desc())
                )
            )
            retained, expired = committed[:keep], committed[keep:]
            # The expired versions are exactly the committed ones below the oldest retained version:
            # select them by that bound, not by an IN list that a long history would make huge.
            cutoff = min(retained, default=0)
            doomed = _only_in(conn, dataset, cutoff) if expired else []
            if expired and not dry_run:
                conn.execute(
                    versions.update()
                    .where(_expired(dataset, cutoff))
                    .values(status=VACUUMED, vacuumed_at=now())
                )
    except sa.exc.SQLAlchemyError as exc:
        raise catalog_failure(catalog.url, exc, f"vacuuming dataset {dataset}") from None
    outcome = cleanup.delete(doomed, dry_run=dry_run)
    log.info(
        "vacuum of dataset %s: %d version(s) vacuumed, %d file(s) deleted (%d bytes)%s",
        dataset, len(expired), outcome.deleted, outcome.bytes, " (dry run)" if dry_run else "",
    )  # fmt: skip
    return VacuumResult(
        dataset=dataset,
        keep=keep,
        retained=sorted(retained),
        vacuumed=sorted(expired),
        files_deleted=outcome.deleted,
        bytes_deleted=outcome.bytes,
        files_missing=outcome.missing,
        files_failed=outcome.failed,
        dry_run=dry_run,
    )


def _expired(dataset: str, cutoff: int) -> sa.ColumnElement[bool]:
    return sa.and_(versions.c.dataset == dataset, versions.c.version < cutoff, versions.c.status == COMMITTED)


def _only_in(conn: sa.Connection, dataset: str, cutoff: int) -> list[str]:
    """Locations the expired versions hold that no other committed version (of any dataset) holds."""
    query = sa.select(files_table.c.location).join(versions, same_version()).where(_expired(dataset, cutoff))
    candidates = sorted(set(conn.scalars(query)))
    still_used: set[str] = set()
    for chunk in chunks(candidates):
        still_used.update(
            conn.scalars(
                sa.select(files_table.c.location)
                .join(versions, same_version())
                .where(
                    files_table.c.location.in_(chunk),
                    versions.c.status == COMMITTED,
                    sa.not_(_expired(dataset, cutoff)),
                )
            )
        )
    return [location for location in candidates if location not in still_used]


def gc(
    catalog: DatasetCatalog,
    roots: Sequence[str],
    *,
    grace_seconds: int,
    dry_run: bool = False,
    live_runs: Collection[str] = (),
) -> GcResult:
    """Delete files in the directories `roots` that no committed version references and that are older
    than the grace period: outputs and temp files of runs that crashed before committing.

    Only files named as a run's writer names them are candidates (`cleanup.written_by_a_run`), and
    only directly in a root: an input, or any other file that shares an output directory, is left
    alone. The files of `live_runs` (still running: their files exist before their commit) are kept
    whatever their age; the grace period covers the runs of other hosts, which this one cannot see."""
    if grace_seconds < 0:
        raise DatasetError(f"the gc grace period must be >= 0 seconds, not {grace_seconds}")
    scanned = cleanup.dataset_directories(roots)
    referenced = {cleanup.normalize(location) for location in catalog.referenced_locations()}
    horizon = time.time() - grace_seconds
    counts = {"scanned": 0, "referenced": 0, "young": 0}
    candidates: list[str] = []
    for root in scanned:
        for found in cleanup.scan(root):
            if not cleanup.written_by_a_run(found.location):
                continue
            counts["scanned"] += 1
            if cleanup.data_file_of(found.location) in referenced:
                counts["referenced"] += 1
            elif (
                found.modified is None
                or found.modified > horizon
                or cleanup.run_id_of(found.location) in live_runs
            ):
                counts["young"] += 1
            else:
                candidates.append(found.location)
    # A run may have committed one of them since the listing above: ask again, just before deleting.
    late = _referenced_now(catalog, sorted({cleanup.data_file_of(c) for c in candidates}))
    kept = [c for c in candidates if cleanup.data_file_of(c) in late]
    counts["referenced"] += len(kept)
    outcome = cleanup.delete([c for c in candidates if c not in kept], dry_run=dry_run)
    log.info(
        "gc: %d file(s) scanned under %d root(s), %d deleted (%d bytes)%s",
        counts["scanned"], len(scanned), outcome.deleted, outcome.bytes, " (dry run)" if dry_run else "",
    )  # fmt: skip
    return GcResult(
        roots=scanned,
        grace_seconds=grace_seconds,
        files_scanned=counts["scanned"],
        files_referenced=counts["referenced"],
        files_young=counts["young"],
        files_deleted=outcome.deleted,
        bytes_deleted=outcome.bytes,
        files_failed=outcome.failed,
        dry_run=dry_run,
    )


def _referenced_now(catalog: DatasetCatalog, locations: Sequence[str]) -> set[str]:
    found: set[str] = set()
    with reading(catalog.engine, catalog.url, "checking files before deletion") as conn:
        for chunk in chunks(locations):
            found.update(
                conn.scalars(
                    sa.select(files_table.c.location)
                    .join(versions, same_version())
                    .where(files_table.c.location.in_(chunk), versions.c.status == COMMITTED)
                )
            )
    return found
