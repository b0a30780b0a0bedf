"""Input files: listed (globs, local or s3://), fingerprinted (SHA-256, streamed) while their first bytes
are inspected, checked unchanged before they are read, and read as UTF-8 in large blocks."""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from vaultline.engines.polars.sources.ingest import where
from vaultline.errors import (
    S3_UNREACHABLE_HINT,
    SourceError,
    SourceUnavailableError,
    VaultlineError,
    is_transient,
)
from vaultline.storage import locations

BLOCK_BYTES = 16 << 20
"""Bytes read per block when streaming a file (a block is cut into one piece per core)."""

_HASH_CHUNK = 8 << 20
_HEAD_BYTES = 1 << 20
"""How much of each file's beginning is inspected (header, inferred types, JSON fields)."""
_T = TypeVar("_T")
_GLOB = re.compile(r"[*?\[]")
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class InputFile:
    location: str
    stamp: tuple[Any, ...]
    """What identified the file's content when it was fingerprinted (size, mtime or ETag)."""


def io_error(name: str, location: str, exc: BaseException) -> SourceError | SourceUnavailableError:
    if is_transient(exc):
        return SourceUnavailableError(
            f"{location} could not be reached ({type(exc).__name__})",
            hint=S3_UNREACHABLE_HINT,
            where=where(name),
        )
    if isinstance(exc, FileNotFoundError):
        return SourceError(
            f"{location} does not exist", hint="check the path, or the bucket and key", where=where(name)
        )
    if isinstance(exc, PermissionError):
        return SourceError(
            f"access to {location} was refused",
            hint="check the file permissions, or the S3 credentials' permissions on the bucket",
            where=where(name),
        )
    if isinstance(exc, IsADirectoryError):
        return SourceError(
            f"{location} is a directory", hint="use a glob such as dir/*.csv", where=where(name)
        )
    kind = type(exc).__name__
    hint = "check the location and, for s3://, the endpoint (VAULTLINE_S3_ENDPOINT) and network"
    if "Credential" in kind:
        hint = "set AWS credentials (environment, profile or instance role) for the S3 endpoint"
    return SourceError(f"{location} cannot be read ({kind})", hint=hint, where=where(name))


def _stamp(location: str) -> tuple[Any, ...]:
    if locations.is_remote(location):
        info = locations.filesystem(location).info(location)
        return (info.get("size"), info.get("ETag") or info.get("etag"))
    st = os.stat(location)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def expand(name: str, path: str) -> list[str]:
    """Every file a path or glob names, sorted; local paths made absolute."""
    remote = locations.is_remote(path)
    if not remote:
        path = os.path.abspath(os.path.expanduser(path))
    try:
        fs = locations.filesystem(path)
        if _GLOB.search(path):
            found = fs.glob(path, detail=True)
            names = sorted(n for n, info in found.items() if info.get("type") == "file")
            if not names:
                raise SourceError(
                    f"no file matches {path}",
                    hint="check the pattern and the directory or bucket (directories are not matched)",
                    where=where(name),
                )
            return [f"s3://{n}" if remote and not n.startswith("s3://") else n for n in names]
        info = fs.info(path)
        if info.get("type") != "file":
            raise IsADirectoryError(path)
        return [path]
    except VaultlineError:
        raise
    except Exception as exc:  # fsspec/s3fs raise many kinds; map them to one message without data
        raise io_error(name, path, exc) from None


def open_input(location: str) -> Any:
    if locations.is_remote(location):
        return locations.filesystem(location).open(location, "rb")
    return open(location, "rb")


@dataclass(frozen=True)
class Head:
    """The beginning of a file, seen while it was hashed (so reading a header costs no extra request)."""

    data: bytes
    complete: bool
    """The whole file (else `data` may end inside a line, or inside a character)."""


def _fingerprint(
    name: str, location: str, index: int, inspect: Callable[[int, InputFile, Head], _T]
) -> tuple[dict[str, Any], InputFile, _T]:
    """SHA-256 of the file's bytes, streamed in chunks (a second read of the data, kept for lineage);
    `inspect` looks at the file's first bytes meanwhile and returns what the reader needs from them."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        stamp = _stamp(location)
        with open_input(location) as handle:
            while chunk := handle.read(_HASH_CHUNK):
                if len(head) < _HEAD_BYTES:
                    head += chunk[: _HEAD_BYTES - len(head)]
                digest.update(chunk)
                size += len(chunk)
    except Exception as exc:
        raise io_error(name, location, exc) from None
    file = InputFile(location, stamp)
    seen = inspect(index, file, Head(head, len(head) == size))
    return {"location": location, "sha256": digest.hexdigest(), "bytes": size}, file, seen


def fingerprint_files(
    name: str, files: list[str], inspect: Callable[[int, InputFile, Head], _T]
) -> tuple[list[dict[str, Any]], list[InputFile], list[_T]]:
    """Fingerprint every file (in parallel: hashing releases the GIL)."""
    if len(files) == 1:
        results = [_fingerprint(name, files[0], 0, inspect)]
    else:
        with ThreadPoolExecutor(workers(), thread_name_prefix="vaultline-sha256") as pool:
            results = list(
                pool.map(lambda item: _fingerprint(name, item[1], item[0], inspect), enumerate(files))
            )
    return [r[0] for r in results], [r[1] for r in results], [r[2] for r in results]


def no_inspection(_index: int, _file: InputFile, _head: Head) -> None:
    return None


def check_unchanged(name: str, file: InputFile) -> None:
    try:
        now = _stamp(file.location)
    except Exception as exc:
        raise io_error(name, file.location, exc) from None
    if now != file.stamp:
        raise SourceError(
            f"{file.location} changed after it was fingerprinted",
            hint="make sure nothing rewrites the input while a run reads it",
            where=where(name),
        )


class Utf8:
    """Incremental conversion of a file's bytes to UTF-8: transcoded when the file uses another encoding,
    a leading byte order mark removed. Undecodable bytes are a SourceError (with an offset, not a value)."""

    def __init__(self, name: str, location: str, encoding: str) -> None:
        self.name = name
        self.location = location
        self.encoding = encoding
        codec = codecs.lookup(encoding).name
        self.decoder = None if codec == "utf-8" else codecs.getincrementaldecoder(codec)("strict")
        self.consumed = 0
        self.first = True

    def feed(self, raw: bytes, *, final: bool) -> bytes:
        data = raw
        if self.decoder is not None:
            try:
                data = self.decoder.decode(raw, final=final).encode("utf-8")
            except UnicodeDecodeError as exc:
                raise SourceError(
                    f"{self.location} is not valid {self.encoding} text "
                    f"(undecodable byte near offset {self.consumed + exc.start})",
                    hint="set csv.encoding to the file's encoding (for example latin-1 or cp1252)",
                    where=where(self.name),
                ) from None
        self.consumed += len(raw)
        if self.first and data:
            self.first = False
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
        return data


def first_invalid_byte(data: bytes | bytearray, start: int) -> str:
    """Where the first byte that is not UTF-8 is in `data` (at offset `start` of the file's text), as a
    clause for an error message ("" when `data` is valid)."""
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        return f" (an invalid byte near offset {start + exc.start})"
    return ""


class Reader:
    """A file's content as UTF-8, in blocks of about BLOCK_BYTES appended to what the caller carries over.

    UTF-8 files are read straight into the block (`readinto`): one copy per byte, no concatenation.
    """

    def __init__(self, name: str, location: str, handle: Any, encoding: str) -> None:
        self.name = name
        self.location = location
        self.handle = handle
        self.text = Utf8(name, location, encoding)
        self.direct = self.text.decoder is None and hasattr(handle, "readinto")
        self.done = False

    def extend(self, carry: bytes | bytearray) -> bytearray | None:
        """`carry` followed by the next block, or None at the end of the file."""
        try:
            return self._direct(carry) if self.direct else self._decoded(carry)
        except VaultlineError:
            raise
        except Exception as exc:
            raise io_error(self.name, self.location, exc) from None

    def _direct(self, carry: bytes | bytearray) -> bytearray | None:
        if self.done:
            return None
        start = len(carry)
        buf = bytearray(start + BLOCK_BYTES)
        buf[:start] = carry
        filled = start
        with memoryview(buf) as view:
            while filled < len(buf):
                n = self.handle.readinto(view[filled:])
                if not n:
                    self.done = True
                    break
                filled += n
        if filled == start:
            return None
        del buf[filled:]
        if self.text.first:
            self.text.first = False
            if buf[start : start + len(_BOM)] == _BOM:
                del buf[start : start + len(_BOM)]
        return buf

    def _decoded(self, carry: bytes | bytearray) -> bytearray | None:
        while not self.done:
            raw = self.handle.read(BLOCK_BYTES)
            self.done = not raw
            data = self.text.feed(raw, final=self.done)
            if data:
                return bytearray(carry) + data
        return None

    def rest(self) -> Iterator[bytes | bytearray]:
        """The remaining blocks."""
        while (block := self.extend(b"")) is not None:
            yield block


def workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))
