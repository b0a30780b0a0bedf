"""What runs that ended without committing left outside dataset directories, and gc's removal of it.

Before its commit a run writes two things that no dataset directory holds:

- landing copies of its inputs, `<landing root>/<run id>/<source>/<hash>-<file>.enc`, each written
  through a temp file `.<hash>-<file>.enc.<random>.tmp` beside it (run/landing.py);
- its quarantine file, `<quarantine root>/<run id>.parquet`, written through `.<run id>.parquet.tmp`
  beside it (the engine's `_write_quarantine`).

Both roots are recorded when the run starts (`RunCatalog.start`), normalised (absolute when local, s3://
verbatim), so gc finds them for a run killed before it wrote its report. A run that ended without
committing (failed, or abandoned: killed) and that no dataset version names is swept once it ended
longer ago than the grace period: its whole landing run directory and its quarantine file go. Nothing
references them: the quarantined rows were never part of a version, and a rerun lands and quarantines
its input again, under its own run id. A committed run's files (the raw zone, its quarantine evidence)
are never looked at here; retention ages quarantine files out.

Only names runs give are deleted: under a landing run directory, files one source directory deep named
as copies or their temp files (anything else there is counted and left); in a quarantine root, exactly
the run's two names. Paths are built only from run ids as runs make them. The log names a landing run
directory, never a copy: a copy's name holds its input's file name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from vaultline.catalog import cleanup
from vaultline.storage import locations

log = logging.getLogger("vaultline.catalog")

_LANDING_COPY = re.compile(r"[0-9a-f]{12}-[^/]+\.enc")
_LANDING_TEMP = re.compile(r"\.[0-9a-f]{12}-[^/]+\.enc\.[^/]+\.tmp")
_BUCKET_ROOT = re.compile(r"s3://[^/]+(?:/.*)?")


def landing_root(landing: str) -> str:
    """A source's `landing` as runs record it and write under it."""
    return cleanup.normalize(landing).rstrip("/")


def landing_run_directory(root: str, run_id: str) -> str:
    """Where one run's landing copies go, every source's."""
    return f"{root}/{run_id}"


def quarantine_root(configured: str | None, default_directory: str | os.PathLike[str], pipeline: str) -> str:
    """The pipeline's quarantine directory: `quarantine.path`, else `<state>/quarantine/<pipeline>`.
    Absolute (s3:// verbatim): reports record it, and retention and gc read them from anywhere."""
    return cleanup.normalize(configured or os.path.join(os.fspath(default_directory), pipeline)).rstrip("/")


def quarantine_locations(root: str, run_id: str) -> tuple[str, str]:
    """A run's quarantine file and the temp file it is written through."""
    return f"{root}/{run_id}.parquet", f"{root}/.{run_id}.parquet.tmp"


def _usable_root(root: Any) -> str | None:
    """A recorded root gc may build paths under: s3://BUCKET..., or an absolute local path. A relative
    one (never recorded by runs) would resolve against gc's working directory, not the run's."""
    if not isinstance(root, str):
        return None
    if locations.is_remote(root):
        return root.rstrip("/") if _BUCKET_ROOT.fullmatch(root) else None
    return cleanup.normalize(root) if os.path.isabs(root.removeprefix("file://")) else None


@dataclass(frozen=True)
class EndedRun:
    """A run that ended without committing, and where it wrote outside its outputs' directories."""

    run_id: str
    ended_at: str | None  # ISO 8601 as the catalog records it; None: found ended just now
    landing_roots: tuple[str, ...]
    quarantine_root: str | None

    @classmethod
    def from_report(cls, run_id: str, ended_at: str | None, report: Mapping[str, Any]) -> EndedRun:
        """From its catalog report: the roots recorded at its start and, for a report written before
        runs recorded them, the roots of the landing copies and quarantine file it names."""
        roots = [_usable_root(root) for root in report.get("landing_roots") or ()]
        for copy in report.get("landing") or ():
            location = copy.get("copy") if isinstance(copy, Mapping) else None
            parts = location.rsplit("/", 3) if isinstance(location, str) else []
            if len(parts) == 4 and parts[1] == run_id:  # <root>/<run id>/<source>/<copy>
                roots.append(_usable_root(parts[0]))
        quarantine = _usable_root(report.get("quarantine_root"))
        named = report.get("quarantine")
        if quarantine is None and isinstance(named, str) and named.endswith(f"/{run_id}.parquet"):
            quarantine = _usable_root(named.rsplit("/", 1)[0])
        return cls(run_id, ended_at, tuple(sorted({root for root in roots if root})), quarantine)


@dataclass
class LeftoverResult:
    """What gc removed (or would, in a dry run) of the runs that ended without committing."""

    ended_runs_swept: list[str] = field(default_factory=list)
    ended_runs_young: int = 0
    landing_copies_deleted: int = 0
    landing_bytes_deleted: int = 0
    landing_files_kept: int = 0
    quarantine_files_deleted: int = 0
    quarantine_bytes_deleted: int = 0
    run_files_failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sweep(
    runs: Iterable[EndedRun], *, grace_seconds: int, dry_run: bool, live: Collection[str] = ()
) -> LeftoverResult:
    """Delete the landing run directories and quarantine files of `runs` that ended more than
    `grace_seconds` ago. A run of `live` is skipped whatever its record says: its files are in use."""
    now = time.time()
    horizon = now - grace_seconds
    result = LeftoverResult()
    for run in runs:
        if not cleanup.is_run_id(run.run_id) or run.run_id in live:
            continue
        if not _ended_before(run.ended_at, horizon, now=now):
            result.ended_runs_young += 1
            continue
        before = result.landing_copies_deleted + result.quarantine_files_deleted
        for root in run.landing_roots:
            _sweep_landing(result, landing_run_directory(root, run.run_id), dry_run=dry_run)
        if run.quarantine_root is not None:
            outcome = cleanup.delete(quarantine_locations(run.quarantine_root, run.run_id), dry_run=dry_run)
            result.quarantine_files_deleted += outcome.deleted
            result.quarantine_bytes_deleted += outcome.bytes
            result.run_files_failed += outcome.failed
        if result.landing_copies_deleted + result.quarantine_files_deleted > before:
            result.ended_runs_swept.append(run.run_id)
    log.info(
        "gc: %d landing file(s) and %d quarantine file(s) of %d run(s) that ended without committing "
        "deleted%s; %d run(s) ended within the grace period",
        result.landing_copies_deleted, result.quarantine_files_deleted, len(result.ended_runs_swept),
        " (dry run)" if dry_run else "", result.ended_runs_young,
    )  # fmt: skip
    return result


def _ended_before(ended_at: str | None, horizon: float, *, now: float) -> bool:
    """Whether the run ended at or before `horizon` (POSIX seconds). A run found ended just now (None)
    ended `now`; an end the catalog spells in a way this cannot read is never old enough."""
    if ended_at is None:
        return now <= horizon
    try:
        moment = datetime.fromisoformat(ended_at)
    except ValueError:
        return False
    return moment.tzinfo is not None and moment.timestamp() <= horizon


def _sweep_landing(result: LeftoverResult, run_dir: str, *, dry_run: bool) -> None:
    """Delete the copies (and temp files) under one landing run directory, then, locally, the
    directories left empty."""
    try:
        found = _files_under(run_dir)
    except FileNotFoundError:
        return
    except OSError as exc:  # refused, out of reach: the next gc tries again
        log.warning("could not list the landing copies under %s (%s)", run_dir, type(exc).__name__)
        result.run_files_failed += 1
        return
    ours = [location for location in found if _named_as_a_landing_file(run_dir, location)]
    if len(ours) < len(found):
        result.landing_files_kept += len(found) - len(ours)
        log.warning(
            "gc left %d file(s) under %s that are not named as landing copies: remove them by hand if "
            "nothing else owns them", len(found) - len(ours), run_dir,
        )  # fmt: skip
    outcome = cleanup.delete(ours, dry_run=dry_run, shown_as=f"a landing copy under {run_dir}")
    result.landing_copies_deleted += outcome.deleted
    result.landing_bytes_deleted += outcome.bytes
    result.run_files_failed += outcome.failed
    if not dry_run and not locations.is_remote(run_dir):
        _remove_empty_directories(run_dir, ours)


def _files_under(run_dir: str) -> list[str]:
    """Every file below `run_dir`, normalised like the recorded roots (s3:// prefixed)."""
    fs = locations.filesystem(run_dir)
    if not fs.isdir(run_dir):
        raise FileNotFoundError(run_dir)
    remote = locations.is_remote(run_dir)
    found = [("s3://" + path if remote else cleanup.normalize(path)) for path in fs.find(run_dir)]
    # a listing by prefix may also return `<run id>x/...`: only what lies below the directory counts
    return sorted(location for location in found if location.startswith(run_dir + "/"))


def _named_as_a_landing_file(run_dir: str, location: str) -> bool:
    parts = location[len(run_dir) + 1 :].split("/")
    return len(parts) == 2 and any(name.fullmatch(parts[1]) for name in (_LANDING_COPY, _LANDING_TEMP))


def _remove_empty_directories(run_dir: str, deleted: Iterable[str]) -> None:
    """The source directories, then the run directory, once empty (a file gc kept keeps its own)."""
    for directory in [*sorted({os.path.dirname(location) for location in deleted}, reverse=True), run_dir]:
        with contextlib.suppress(OSError):
            os.rmdir(directory)
