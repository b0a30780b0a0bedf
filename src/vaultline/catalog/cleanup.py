"""The filesystem side of vacuum and gc: normalise locations, scan dataset roots, delete files.

Local paths and s3:// URLs both go through `storage.locations.filesystem` (fsspec, imported lazily).
Only locations, counts and sizes are handled here, never file contents.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vaultline.storage import locations

log = logging.getLogger("vaultline.catalog")

# The only names gc may delete: what a run's writer creates, `{pipeline}-{run id}.parquet` and its
# temporary `.{pipeline}-{run id}.parquet.tmp` (run ids as `run.runner.new_run_id` makes them). An input
# or another tool's file that shares an output directory never matches, whatever its suffix.
# Each may have its external key material beside it, `_KEY_MATERIAL_FOR_<name>.json` (pyarrow's name,
# `storage.parquet_footer.key_material_path`), which belongs to the data file: kept or deleted with it.
_RUN_ID = r"\d{8}T\d{6}Z-[0-9a-f]{6}"
_DATA = rf"(?:[^./_][^/]*-{_RUN_ID}\.parquet|\.[^/]+-{_RUN_ID}\.parquet\.tmp)"
_WRITTEN_BY_A_RUN = re.compile(rf"(?:_KEY_MATERIAL_FOR_(?P<data>{_DATA})\.json|{_DATA})")


def is_run_id(text: str) -> bool:
    """Whether `text` is a run id as runs make them: the only ids gc builds a path to delete from (an
    empty or odd id, `..` say, would name a directory above the run's own)."""
    return re.fullmatch(_RUN_ID, text) is not None


def written_by_a_run(location: str) -> bool:
    return _WRITTEN_BY_A_RUN.fullmatch(location.rsplit("/", 1)[-1]) is not None


def run_id_of(location: str) -> str | None:
    """The id of the run that wrote a run's file."""
    found = re.search(rf"-({_RUN_ID})\.parquet", location.rsplit("/", 1)[-1])
    return found.group(1) if found else None


def data_file_of(location: str) -> str:
    """The data file a run's file belongs to: itself, or the one whose key material it holds."""
    head, _, name = location.rpartition("/")
    found = _WRITTEN_BY_A_RUN.fullmatch(name)
    return f"{head}/{found['data']}" if found and found["data"] else location


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


def dataset_directories(roots: Iterable[str]) -> list[str]:
    """Normalised directories (no trailing slash), each once. The filesystem root is never a dataset
    directory: it is dropped, not scanned."""
    kept: list[str] = []
    for root in sorted({normalize(r).rstrip("/") for r in roots}):
        if root in ("", "s3:"):
            log.warning("gc skips the filesystem root: no dataset directory can be that wide")
            continue
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


def scan(directory: str) -> Iterator[Found]:
    """Every file directly in `directory`. Not below it: a subdirectory may hold inputs, another
    catalog's outputs or quarantine evidence, none of which this catalog can vouch for."""
    fs = locations.filesystem(directory)
    try:
        listing: list[dict[str, Any]] = fs.ls(directory, detail=True)
    except FileNotFoundError:
        return
    for info in sorted(listing, key=lambda entry: str(entry["name"])):
        if info.get("type", "file") != "file":
            continue
        path = str(info["name"])
        location = normalize("s3://" + path if locations.is_remote(directory) else path)
        if parent(location) != directory:
            continue
        yield Found(location, int(info.get("size") or 0), _modified(info))


@dataclass
class Deletion:
    deleted: int = 0
    bytes: int = 0
    missing: int = 0
    failed: int = 0


def delete(targets: Iterable[str], *, dry_run: bool, shown_as: str | None = None) -> Deletion:
    """Delete each location; a file already gone is counted as missing, a refused one as failed.

    Failures do not stop the others: the catalog already says these files are unreferenced, so a file
    left behind is only wasted space that the next gc collects. `shown_as` names the files in the log
    instead of their own names, when those may not be shown (a landing copy's holds its input's)."""
    outcome = Deletion()
    for location in targets:
        shown = location if shown_as is None else shown_as
        fs = locations.filesystem(location)
        try:
            size = int(fs.info(location).get("size") or 0)
            if not dry_run:
                fs.rm_file(location)
        except FileNotFoundError:
            outcome.missing += 1
            continue
        except OSError as exc:
            log.warning("could not delete %s (%s)", shown, type(exc).__name__)
            outcome.failed += 1
            continue
        log.debug("%s %s", "would delete" if dry_run else "deleted", shown)
        outcome.deleted += 1
        outcome.bytes += size
    return outcome
