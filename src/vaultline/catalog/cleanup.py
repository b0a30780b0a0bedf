"""The filesystem side of vacuum and gc: normalise locations, scan dataset roots, delete files.

Local paths and s3:// URLs both go through `storage.locations.filesystem` (fsspec, imported lazily).
Only locations, counts and sizes are handled here, never file contents.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vaultline.storage import locations

log = logging.getLogger("vaultline.catalog")

# Leftovers of the engine's local writes: `.{pipeline}-{run}.parquet.tmp` renamed only on success.
TEMP_SUFFIX = ".tmp"


def normalize(location: str) -> str:
    """One spelling per file, so catalog records and directory listings compare equal.

    Local paths become absolute (a relative output path is relative to the writer's working directory,
    which gc does not share) and `file://` is dropped. S3 URLs are kept verbatim: a key is a name, not
    a path, and `a//b` or `a/../b` name other objects than `a/b` or `b`."""
    if locations.is_remote(location):
        return location
    if location.startswith("file://"):
        location = location[len("file://") :]
    return os.path.normpath(os.path.abspath(location))


def parent(location: str) -> str:
    if locations.is_remote(location):
        return location.rsplit("/", 1)[0]
    return os.path.dirname(location)


def _inside(path: str, root: str) -> bool:
    return path.startswith(root + "/")


def collapse_roots(roots: Iterable[str]) -> list[str]:
    """Normalised roots (no trailing slash) without those nested in another: scanning the outer one
    covers them. The filesystem root is never a dataset root: it is dropped, not scanned."""
    kept: list[str] = []
    for root in sorted({normalize(r).rstrip("/") for r in roots}):
        if root in ("", "s3:"):
            log.warning("gc skips the filesystem root: no dataset directory can be that wide")
            continue
        if not any(root == k or _inside(root, k) for k in kept):
            kept.append(root)
    return kept


@dataclass(frozen=True)
class Found:
    location: str
    size: int
    modified: float | None  # POSIX seconds; None when the filesystem does not say (never deleted then)


def _modified(info: dict[str, Any]) -> float | None:
    # Local fsspec reports `mtime` (seconds); s3fs reports `LastModified` (an aware datetime).
    value = info.get("mtime", info.get("LastModified"))
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return None


def scan(root: str) -> Iterator[Found]:
    """Every file under `root`, skipping hidden directories below it (.vaultline state, .git): the
    engine never writes dataset files there, and quarantine evidence must not be collected."""
    fs = locations.filesystem(root)
    try:
        listing: dict[str, dict[str, Any]] = fs.find(root, detail=True)
    except FileNotFoundError:
        return
    for path, info in sorted(listing.items()):
        if info.get("type", "file") != "file":
            continue
        location = normalize("s3://" + path if locations.is_remote(root) else path)
        if not _inside(location, root):
            continue
        relative_dirs = location[len(root) + 1 :].split("/")[:-1]  # roots come from collapse_roots
        if any(part.startswith(".") for part in relative_dirs):
            continue
        yield Found(location, int(info.get("size") or 0), _modified(info))


@dataclass
class Deletion:
    deleted: int = 0
    bytes: int = 0
    missing: int = 0
    failed: int = 0


def delete(targets: Iterable[str], *, dry_run: bool) -> Deletion:
    """Delete each location; a file already gone is counted as missing, a refused one as failed.

    Failures do not stop the others: the catalog already says these files are unreferenced, so a file
    left behind is only wasted space that the next gc collects."""
    outcome = Deletion()
    for location in targets:
        fs = locations.filesystem(location)
        try:
            size = int(fs.info(location).get("size") or 0)
            if not dry_run:
                fs.rm_file(location)
        except FileNotFoundError:
            outcome.missing += 1
            continue
        except OSError as exc:
            log.warning("could not delete %s (%s)", location, type(exc).__name__)
            outcome.failed += 1
            continue
        log.debug("%s %s", "would delete" if dry_run else "deleted", location)
        outcome.deleted += 1
        outcome.bytes += size
    return outcome
