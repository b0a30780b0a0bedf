"""The local segment files: the exclusive lock, the tail of the chain, durable appends.

Every writer (processes and threads alike) appends under an exclusive `fcntl.flock` on `audit/lock`, and
an append returns only after `os.fsync`. The tail (segment, size, last seq and hash) is cached and
re-read only when the open segment's size or the set of segments changed, so an append costs a few
`stat` calls, one write and one fsync.

A write that never completed (a crash or a full disk mid-line) leaves a line without its newline; the
next writer cuts it off under the lock and the log records that it did (`audit.recovered`). Such a line
was never acknowledged: `record()` had not returned. The cut waits until the writer has checked the
rest against the newest checkpoint: bytes a checkpoint covers (an entry whose newline alone was
removed) are never cut, the chain is refused as damaged instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vaultline.audit.folders import READ_ONLY, fsync_directory, write_all
from vaultline.audit.settings import AuditPaths, numbered_files
from vaultline.errors import AuditUnavailableError

SEGMENT_HEADER = "audit.segment.open"
"""The action of every segment's first entry; its details pin the identifier-key version."""
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Tail:
    """The newest segment and the last entry in it."""

    segment: int
    size: int
    first_seq: int
    last_seq: int
    last_hash: str
    key_version: int

    @property
    def entries(self) -> int:
        return self.last_seq - self.first_seq + 1


def disk_failure(exc: OSError, doing: str) -> AuditUnavailableError:
    return AuditUnavailableError(
        f"the audit log could not {doing} ({type(exc).__name__}: {exc.strerror or 'I/O error'})",
        hint="free disk space or fix the permissions of the state directory's audit/ folder; audited "
        "operations stay stopped until the audit log can be written",
        where="audit log",
        retryable=not isinstance(exc, PermissionError),  # a full disk may empty; permissions stay
    )


def corrupt(segment: int, what: str) -> AuditUnavailableError:
    return AuditUnavailableError(
        f"audit segment {segment} {what}; nothing more is appended to a damaged chain",
        hint="run `vaultline audit verify` and investigate; restore the segment from the export or the "
        "S3 archive",
        where="audit log",
        retryable=False,
    )


class SegmentStore:
    """Reads the tail and appends lines to `<audit>/segments/NNNNNN.jsonl`."""

    def __init__(self, paths: AuditPaths) -> None:
        self.paths = paths
        self._tail: Tail | None = None
        self._lock_handle: IO[bytes] | None = None
        self._depth = 0
        self.torn_bytes = 0
        """Bytes of an unfinished line cut off since the last `take_torn_bytes()`."""
        self._torn: tuple[Path, int] | None = None
        """The open segment and where its last complete line ends, while an unfinished line follows."""

    def open(self) -> None:
        try:
            self.paths.create()
            self._lock_handle = open(self.paths.lock, "ab")  # noqa: SIM115 - held for the log's life
        except OSError as exc:
            raise disk_failure(exc, f"open its directory {self.paths.root}") from None

    def close(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The exclusive inter-process lock. Callers serialize threads themselves (the writer's RLock);
        nesting is counted so an inner block does not release the outer one's lock."""
        if self._lock_handle is None:
            raise AuditUnavailableError("the audit log is closed", hint="open it again", where="audit log")
        if self._depth == 0:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                fcntl.flock(self._lock_handle, fcntl.LOCK_UN)

    def tail(self) -> Tail | None:
        """The current tail (call under the lock); None when no segment exists."""
        cached = self._tail
        if cached is not None and not self.paths.segment(cached.segment + 1).exists():
            with suppress(OSError):  # gone or unreachable: re-read from the directory, which tells
                if self.paths.segment(cached.segment).stat().st_size == cached.size:
                    return cached
        self._tail = self._read_tail()
        return self._tail

    def remember(self, tail: Tail) -> None:
        self._tail = tail

    def take_torn_bytes(self) -> int:
        torn, self.torn_bytes = self.torn_bytes, 0
        return torn

    def _read_tail(self) -> Tail | None:
        while True:
            files = numbered_files(self.paths.segments, "jsonl")
            if not files:
                return None
            number, path = files[-1]
            try:
                with open(path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    if size == 0:
                        path.unlink()  # created by a writer that crashed before its first line
                        continue
                    end = self._complete_end(handle, size)
                    if end == 0:
                        path.unlink()  # not even its header was written whole
                        continue
                    self._torn = (path, end) if end != size else None
                    handle.seek(0)
                    first = json.loads(handle.readline())
                    last = json.loads(_last_line(handle, end))
            except OSError as exc:
                raise disk_failure(exc, f"read audit segment {number}") from None
            except ValueError:
                raise corrupt(number, "ends in an unreadable entry") from None
            return _tail_of(number, end, first, last)

    def _complete_end(self, handle: IO[bytes], size: int) -> int:
        """The size up to the end of the last complete line."""
        position = size
        while position > 0:
            start = max(0, position - _CHUNK)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            position = start
        return 0

    def cut_torn(self) -> None:
        """Cut off the unfinished line the tail was read past (call under the lock, once the tail has
        been checked): no writer is mid-append, so it is a write that never completed."""
        if self._torn is None:
            return
        path, end = self._torn
        self._torn = None
        try:
            self.torn_bytes += path.stat().st_size - end
            os.truncate(path, end)
        except OSError as exc:
            raise disk_failure(exc, "cut an unfinished line off the audit log") from None

    def append(self, segment: int, data: bytes) -> int:
        """Append `data` (whole lines) to a segment, fsync, and return the new size."""
        path = self.paths.segment(segment)
        created = not path.exists()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise disk_failure(exc, f"open audit segment {segment} for writing") from None
        try:
            before = os.fstat(fd).st_size
            try:
                write_all(fd, data)
                os.fsync(fd)
            except OSError as exc:
                _undo(fd, before)
                raise disk_failure(exc, f"append to audit segment {segment}") from None
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if created:
            try:
                fsync_directory(path.parent)
            except OSError as exc:
                raise disk_failure(exc, "make a new audit segment durable") from None
        return size

    def seal(self, segment: int) -> None:
        """Make a closed segment read-only."""
        try:
            os.chmod(self.paths.segment(segment), READ_ONLY)
        except OSError as exc:
            raise disk_failure(exc, f"make audit segment {segment} read-only") from None

    def sha256(self, segment: int) -> str:
        digest = hashlib.sha256()
        with open(self.paths.segment(segment), "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


def _undo(fd: int, size: int) -> None:
    """Cut a failed append back off, so no half line is left behind (best effort: the disk failed)."""
    with suppress(OSError):
        os.ftruncate(fd, size)


def _last_line(handle: IO[bytes], end: int) -> bytes:
    """The last complete line before `end` (which ends with a newline)."""
    position = end - 1
    collected = b""
    while position > 0:
        start = max(0, position - _CHUNK)
        handle.seek(start)
        chunk = handle.read(position - start) + collected
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return chunk[newline + 1 :]
        collected, position = chunk, start
    handle.seek(0)
    return handle.read(end - 1)


def _tail_of(number: int, size: int, first: dict[str, object], last: dict[str, object]) -> Tail:
    details = first.get("details")
    version = details.get("identifier_key_version") if isinstance(details, dict) else None
    if first.get("action") != SEGMENT_HEADER or not isinstance(version, int):
        raise corrupt(number, "does not start with its header entry")
    first_seq, last_seq = first.get("seq"), last.get("seq")
    last_hash = last.get("hash")
    if not (isinstance(first_seq, int) and isinstance(last_seq, int) and isinstance(last_hash, str)):
        raise corrupt(number, "has entries without seq or hash")
    return Tail(
        segment=number,
        size=size,
        first_seq=first_seq,
        last_seq=last_seq,
        last_hash=last_hash,
        key_version=version,
    )
