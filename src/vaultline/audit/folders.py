"""Write-once folders, local or S3: the checkpoint copy location, the S3 archive and export targets.

A file is written once: writing the same bytes again is a no-op, writing different bytes under an
existing name is refused. Local files are written through a temporary file, fsynced, renamed and made
read-only; S3 objects are written with `IfNoneMatch='*'` (and Object Lock when the folder has a
retention, see s3_store.py).
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Protocol

from vaultline.errors import AuditUnavailableError
from vaultline.storage.locations import is_remote

READ_ONLY = 0o444


class Folder(Protocol):
    """Where audit files are copied; `relative` names look like `checkpoints/000001.json`."""

    location: str

    def put(self, relative: str, data: bytes) -> bool:
        """Write once; True when written now, False when the same bytes were already there."""
        ...

    def get(self, relative: str) -> bytes | None: ...

    def names(self, subfolder: str) -> list[str]:
        """File names directly under `subfolder` (empty when it does not exist)."""
        ...

    def retained_until(self, relative: str) -> datetime | None:
        """The Object Lock retain-until date of an object (None: not locked, or a local folder)."""
        ...

    def delete(self, relative: str) -> None:
        """Remove a file (every version of an S3 object); refused for locked objects."""
        ...

    def check_writable(self) -> None:
        """Raise AuditUnavailableError now, rather than at the next checkpoint, if files cannot be added."""
        ...


def conflict(location: str, relative: str) -> AuditUnavailableError:
    return AuditUnavailableError(
        f"{relative} already exists in {location} with different content; the audit files there belong "
        "to another log or were altered",
        hint="point the location at an empty folder or prefix for this state directory, and run "
        "`vaultline audit verify`",
        where="audit copy",
        retryable=False,
    )


class LocalFolder:
    """A directory (another disk in production)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def put(self, relative: str, data: bytes) -> bool:
        target = self.root / relative
        try:
            if target.exists():
                if target.read_bytes() == data:
                    return False
                raise conflict(self.location, relative)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_read_only(target, data)
        except OSError as exc:
            raise AuditUnavailableError(
                f"could not write {relative} under {self.location} ({type(exc).__name__}: {exc.strerror})",
                hint="make the copy location writable (or point VAULTLINE_AUDIT_COPY elsewhere)",
                where="audit copy",
            ) from None
        return True

    def get(self, relative: str) -> bytes | None:
        target = self.root / relative
        return target.read_bytes() if target.is_file() else None

    def names(self, subfolder: str) -> list[str]:
        folder = self.root / subfolder
        return sorted(path.name for path in folder.iterdir() if path.is_file()) if folder.is_dir() else []

    def retained_until(self, relative: str) -> datetime | None:
        return None

    def delete(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)

    def check_writable(self) -> None:
        # A probe file, since permission bits do not tell (root ignores them, read-only mounts do not).
        folder = self.root / "checkpoints"
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            probe = folder / f".probe-{secrets.token_hex(4)}.tmp"
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
        except OSError as exc:
            raise AuditUnavailableError(
                f"cannot add files under {folder} ({type(exc).__name__}: {exc.strerror})",
                hint="make the copy location writable (or point VAULTLINE_AUDIT_COPY elsewhere); audited "
                "operations stay stopped until checkpoints can be copied",
                where="audit copy",
                retryable=not isinstance(exc, PermissionError),
            ) from None


def write_read_only(target: Path, data: bytes) -> None:
    """Write `data` to `target` through a temp file (fsync, rename, directory fsync), then 0o444."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, READ_ONLY)
    os.replace(tmp, target)
    fsync_directory(target.parent)


def write_all(fd: int, data: bytes) -> None:
    """`os.write` until every byte is written (a regular file may accept a write in parts)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_directory(folder: Path) -> None:
    """Make a new or renamed directory entry durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_folder(location: str, *, retain_days: int | None = None) -> Folder:
    """A folder for a local path or `s3://bucket/prefix`; `retain_days` adds Object Lock (S3 only)."""
    if is_remote(location):
        from vaultline.audit.s3_store import S3Folder

        return S3Folder(location, retain_days=retain_days)
    return LocalFolder(Path(location))


def download(folder: Folder, target: Path, subfolders: tuple[str, ...] = ("segments", "checkpoints")) -> None:
    """Copy a folder's audit files (read-only) into `target`, e.g. an S3 archive before verifying it."""
    for subfolder in subfolders:
        (target / subfolder).mkdir(parents=True, exist_ok=True)
        for name in folder.names(subfolder):
            data = folder.get(f"{subfolder}/{name}")
            if data is not None:
                write_read_only(target / subfolder / name, data)
