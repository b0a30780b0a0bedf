"""Where the audit log's evidence lives, judged for `vaultline doctor`.

Checkpoint copies bound what an attacker who can write the state directory can undo: truncating the
tail after the last copied checkpoint is undetectable (docs/audit.md). A copy inside the state
directory, or on its disk, is lost with it; a bucket or another disk is not.
"""

from __future__ import annotations

import os
from pathlib import Path

from vaultline.audit.settings import COPY_ENV, URL_ENV, AuditSettings
from vaultline.storage.bucket_audit import Check

LOCATION = "audit log"


def placement_checks(state_root: Path) -> list[Check]:
    """The checkpoint copy's placement and whether closed segments are archived under Object Lock."""
    settings = AuditSettings.from_env(state_root)
    return [_copy_check(state_root, settings.copy_location), _archive_check(settings.archive_url)]


def _copy_check(state_root: Path, copy: str) -> Check:
    name = "checkpoint copies"
    fix = f"set {COPY_ENV} to a directory on another disk or an s3:// bucket the pipeline host cannot delete"
    if copy.startswith("s3://"):
        return Check(LOCATION, name, "pass", f"copied to {copy}")
    target, root = Path(copy).resolve(), state_root.resolve()
    if target == root or root in target.parents:
        return Check(LOCATION, name, "warn", "copied inside the state directory: lost with it", fix)
    if _device(target) == _device(root):
        return Check(LOCATION, name, "warn", "copied to the state directory's disk", fix)
    return Check(LOCATION, name, "pass", f"copied to another disk ({target})")


def _archive_check(archive_url: str | None) -> Check:
    name = "segment archive"
    if archive_url:
        return Check(
            LOCATION, name, "pass", f"closed segments archived write-once under Object Lock at {archive_url}"
        )
    return Check(
        LOCATION, name, "warn", "closed segments stay on local disk only",
        f"set {URL_ENV}=s3://bucket/prefix (a bucket created with Object Lock) to archive them write-once",
    )  # fmt: skip


def _device(path: Path) -> int | None:
    """The device of `path`, or of its nearest existing parent (the copy directory may not exist yet)."""
    for candidate in (path, *path.parents):
        try:
            return os.stat(candidate).st_dev
        except OSError:
            continue
    return None
