"""Outputs on Polars: one Parquet file per output and run, encrypted at rest unless the spec says not.

An encrypted output streams: Polars hands record batches to a pyarrow `ParquetWriter` that applies
Parquet Modular Encryption (`storage/encrypted_parquet.py`), so the rows are never held twice. A
plain output uses Polars' own Parquet sink. Either way the file is written under a hidden
temporary name (`.PIPELINE-RUN.parquet.tmp`, and its `_KEY_MATERIAL_FOR_` file with external key
material) and moved to its final name only when the whole run succeeded: renamed after fsync on a
local disk, copied server-side then deleted on S3. S3 has no rename, and an object written under its
final name would be there, complete and valid, even when the run fails after writing it (a quarantine
fraction exceeded, a quarantine bucket missing): deleting it then is one more request that can fail,
and a crash before it leaves a finished-looking file. A failed run aborts its writers (an S3
multipart upload is aborted, never completed) and deletes what it wrote. The file name carries the
run id, so files of different runs never collide, and only the catalog commit that follows makes a
file part of a dataset version; a crash before it leaves files `vaultline gc` removes.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs

from vaultline.engines.polars import backpressure
from vaultline.errors import (
    S3_UNREACHABLE_HINT,
    OutputError,
    OutputUnavailableError,
    TransformError,
    VaultlineError,
    aws_error_code,
    is_transient,
)
from vaultline.spec.models import Pipeline
from vaultline.storage import locations
from vaultline.storage.encrypted_parquet import key_material_path
from vaultline.storage.output_keys import ColumnKeys, column_keys

log = logging.getLogger("vaultline.run.outputs")

DOCTOR_HINT = "`vaultline doctor SPEC` checks every location the spec writes to"

# Rows handed to the encrypting writer at a time: each call becomes a Parquet row group.
BATCH_ROWS = 262_144
DICTIONARY_SAMPLE_ROWS = 10_000
"""A first batch at least this long decides which columns are dictionary-encoded."""


def dictionary_columns(first: pl.DataFrame) -> bool | list[str]:
    """The columns worth a Parquet dictionary, judged on the first batch written: those with at most
    one distinct value in two rows. Dictionary-encoding a column of distinct values (identifiers,
    timestamps, scores) hashes every value to end up no smaller: in the fraud example's output, 19%
    of the writer's time. Nested columns get none (a named column is a top-level one); a short first
    batch says too little to judge, and every column keeps a dictionary."""
    if first.height < DICTIONARY_SAMPLE_ROWS:
        return True
    flat = [name for name, dtype in first.schema.items() if not dtype.is_nested()]
    distinct = first.select(pl.col(flat).n_unique()).row(0, named=True)
    return [name for name in flat if distinct[name] * 2 <= first.height]


@dataclass
class OutputReport:
    name: str
    location: str
    rows: int
    sha256: str
    bytes: int
    columns: list[str]
    types: dict[str, str]
    """Each column's Polars type, as text: an appending commit refuses a version whose types differ."""
    encryption: dict[str, Any] | None


class _AbortableFiles(pafs.FSSpecHandler):  # type: ignore[misc]  # pyarrow ships no type stubs
    """The fsspec filesystem the encrypting writer writes S3 objects through, keeping each file it
    opens: pyarrow cannot abandon a writer (closing one writes the footer and completes the upload,
    a truncated file that reads as valid), so a failed run aborts the files themselves."""

    def __init__(self, fs: Any) -> None:
        super().__init__(fs)
        self.files: list[Any] = []

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        handle = self.fs.open(path, mode="wb")
        self.files.append(handle)
        return pa.PythonFile(handle, mode="w")

    def abort(self) -> None:
        for handle in self.files:
            if not handle.closed:
                handle.discard()  # s3fs aborts the multipart upload; a smaller file was never sent
                handle.closed = True  # a later close (the writer's, a finalizer's) must not upload it


class _EncryptingSink:
    """The callback Polars streams batches into; opens the encrypting writer on the first batch."""

    def __init__(
        self, target: str, keys: ColumnKeys, provider: Any, compression: str, schema: Any, *, drains: bool,
        output: str = "",
    ) -> None:  # fmt: skip
        """`drains`: the sink reports the rows it wrote to the run's backpressure gate (one output
        does: every output receives the same rows). `output`: its name, for errors."""
        self.target, self.keys, self.provider, self.compression = target, keys, provider, compression
        self.schema = schema
        self.drains = drains
        self.what = f"output {output}" if output else "an output"
        self.writer: Any = None
        self.files: _AbortableFiles | None = None

    def _open(self, dictionary: bool | list[str] = True) -> Any:
        from vaultline.storage.encrypted_parquet import EncryptionPlan, open_writer

        keys = self.keys
        plan = EncryptionPlan(
            keys.footer_key, keys.column_keys, keys.plaintext_footer, keys.external_key_material
        )
        filesystem = None
        if locations.is_remote(self.target):
            self.files = _AbortableFiles(locations.filesystem(self.target))
            filesystem = pafs.PyFileSystem(self.files)
        return open_writer(self.target, self.schema, plan, self.provider, compression=self.compression,
                           filesystem=filesystem, dictionary=dictionary)  # fmt: skip

    def __call__(self, batch: pl.DataFrame) -> None:
        # Polars hands an exception raised here to the caller of `collect_all` as it is, which could
        # not tell which output failed.
        with writing(self.what, self.target.rpartition("/")[0]):
            if self.writer is None:
                self.writer = self._open(dictionary_columns(batch))
            self.writer.write_table(batch.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(self.schema))
        if self.drains:
            backpressure.drained(batch.height)

    def close(self) -> None:
        if self.writer is None:  # no rows: still a valid, encrypted, empty file
            self.writer = self._open()
        self.writer.close()

    def abort(self) -> None:
        """Abandon the file: an S3 upload is aborted, never completed; the caller deletes the rest."""
        if self.files is not None:  # also when the writer failed to open after its file had
            self.files.abort()
        if self.writer is None:
            return
        with contextlib.suppress(Exception):  # an aborted file refuses the footer; a local one is deleted
            self.writer.close()
        self.writer.is_open = False  # its finalizer would try to close it again


@dataclass
class PendingOutput:
    name: str
    target: str
    """The temporary name the run writes to: `.PIPELINE-RUN.parquet.tmp` beside the final name."""
    final: str
    columns: list[str]
    types: dict[str, str]
    keys: ColumnKeys | None
    sink: _EncryptingSink | None
    moving: bool = False
    """Files started moving to their final names: a failure from then on removes those too."""

    @property
    def remote(self) -> bool:
        return locations.is_remote(self.final)

    @property
    def directory(self) -> str:
        return self.final.rpartition("/")[0]

    def moves(self) -> list[tuple[str, str]]:
        """(temporary, final) names, the key material first: a file never shows without it."""
        pairs = [(self.target, self.final)]
        if self.keys is not None and self.keys.external_key_material:
            pairs.insert(0, (key_material_path(self.target), key_material_path(self.final)))
        return pairs


def _arrow_schema(schema: pl.Schema) -> Any:
    return pl.DataFrame(schema=schema).to_arrow(compat_level=pl.CompatLevel.oldest()).schema


def plan_outputs(
    pipeline: Pipeline, frame: pl.LazyFrame, run_id: str, visible: list[str], *, provider: Any,
    classes: dict[str, str],
) -> tuple[list[pl.LazyFrame], list[PendingOutput]]:  # fmt: skip
    """Lazy sinks for `collect_all`, and what to finish once they ran. `classes`: column -> the
    sensitivity class the sources' classification found (see storage/output_keys.py)."""
    sinks: list[pl.LazyFrame] = []
    pending: list[PendingOutput] = []
    for name, output in pipeline.outputs.items():
        columns = output.columns or visible
        missing = [c for c in columns if c not in visible]
        if missing:
            raise TransformError(f"output {name} asks for column(s) {', '.join(missing)} the flow lacks")
        directory = output.path.rstrip("/")
        final = f"{directory}/{pipeline.name}-{run_id}.parquet"
        target = f"{directory}/.{pipeline.name}-{run_id}.parquet.tmp"
        if not locations.is_remote(final):
            _make_directory(name, directory)
        selected = frame.select(columns)
        schema = selected.collect_schema()
        keys = column_keys(output.encryption, columns, classes, output=name)
        if keys is not None and not keys.column_keys:
            # Nothing classified: every column under the footer key (pyarrow cannot encrypt a footer
            # alone, and an output of only plain columns is still data at rest).
            keys = ColumnKeys(
                keys.footer_key, {keys.footer_key: list(columns)}, {}, keys.plaintext_footer,
                keys.external_key_material,
            )  # fmt: skip
        sink: _EncryptingSink | None = None
        if keys is None:
            sinks.append(
                selected.sink_parquet(
                    target,
                    compression=output.compression,
                    storage_options=locations.polars_storage_options(target),
                    lazy=True,
                )
            )
        else:
            drains = not any(p.sink is not None for p in pending)
            sink = _EncryptingSink(
                target, keys, provider, output.compression, _arrow_schema(schema), drains=drains,
                output=name,
            )  # fmt: skip
            sinks.append(selected.sink_batches(sink, chunk_size=BATCH_ROWS, lazy=True))
        types = {column: str(dtype) for column, dtype in schema.items()}
        pending.append(PendingOutput(name, target, final, list(columns), types, keys, sink))
    return sinks, pending


def finish_outputs(pending: list[PendingOutput], rows: int) -> list[OutputReport]:
    """Close the writers, move the files to their final names, and fingerprint them. A failure is
    an OutputError naming the output; the caller discards them all (`discard_outputs`)."""
    reports = []
    for output in pending:
        with writing(f"output {output.name}", output.directory):
            if output.sink is not None:
                output.sink.close()
            output.moving = True
            for temporary, final in output.moves():
                if output.remote:
                    _copy_into_place(temporary, final)
                else:
                    fsync_rename(temporary, final)
            digest, size = locations.sha256_of(output.final)
        encryption = output.keys.as_json() if output.keys else None
        reports.append(
            OutputReport(
                output.name, output.final, rows, digest, size, output.columns, output.types, encryption
            )
        )
    return reports


def _copy_into_place(temporary: str, final: str) -> None:
    """S3 has no rename: a server-side copy (multipart above 5 GB), then the temporary object goes."""
    fs = locations.filesystem(final)
    fs.cp_file(temporary, final)
    remove_file(temporary, "a temporary output object, already copied to its final name,")


def discard_outputs(pending: list[PendingOutput]) -> None:
    """A failed run leaves nothing under a final name, nor any temporary file: writers are aborted
    (an S3 upload is never completed), what they wrote is deleted. Never raises: the run already
    failed, and its error is the one to report; what cannot be deleted is logged for `vaultline gc`."""
    for output in pending:
        if output.sink is not None:
            with contextlib.suppress(Exception):
                output.sink.abort()
        names = [temporary for temporary, _ in output.moves()]
        if output.moving:
            names += [final for _, final in output.moves()]
        for name in names:
            remove_file(name, f"a file of output {output.name} of this failed run")
        if output.remote:
            _abort_uploads(output.target)


def remove_file(location: str, what: str) -> None:
    try:
        if locations.is_remote(location):
            locations.filesystem(location).rm_file(location)
        else:
            Path(location).unlink()
    except FileNotFoundError:
        pass
    except Exception as exc:  # a leftover is logged, never the failure that ends a run
        log.warning("could not remove %s (%s); `vaultline gc` will", what, type(exc).__name__)


def _abort_uploads(location: str) -> None:
    """Abort multipart uploads left at a temporary key (Polars' own sink, failing mid-stream): their
    parts are invisible but kept, and billed, until aborted. Best effort: the permission to list
    them (s3:ListBucketMultipartUploads) is often not granted to a writer."""
    fs = locations.filesystem(location)
    bucket, key, _ = fs.split_path(location)
    try:
        listing = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key)
        for upload in listing.get("Uploads", []):
            if upload.get("Key") == key:
                fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    except Exception as exc:  # see `remove_file`
        log.debug("multipart uploads at a temporary output key not checked (%s)", type(exc).__name__)


def check_buckets(pipeline: Pipeline) -> None:
    """Fail before any input is read when an output's or the quarantine's bucket does not exist, or
    cannot be reached at all: the writers would find out only once every row went through. One HEAD
    request a bucket; of S3's answers, only that the bucket is missing fails: credentials that may
    write but not list a bucket are refused HeadBucket, and the writes themselves will tell."""
    uses: list[tuple[str, str]] = [(f"output {name}", out.path) for name, out in pipeline.outputs.items()]
    if pipeline.quarantine.path:
        uses.append(("the quarantine", pipeline.quarantine.path))
    checked: set[str] = set()
    for what, location in uses:
        if not locations.is_remote(location):
            continue
        fs = locations.filesystem(location)
        bucket = fs.split_path(location)[0]
        if bucket in checked:
            continue
        checked.add(bucket)
        try:
            fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:
            raise OutputError(
                f"{what}: its bucket '{bucket}' does not exist",
                where=location.rstrip("/"),
                hint=f"create the bucket, or correct the path in the spec (or its --param); {DOCTOR_HINT}",
            ) from None
        except Exception as exc:
            if is_transient(exc):  # the writes would fail the same way, once every row went through
                raise write_failure(what, location.rstrip("/"), exc) from None
            # not an answer that the bucket is missing
            log.debug("bucket of %s not checked before the run (%s)", what, type(exc).__name__)


@contextlib.contextmanager
def writing(what: str, location: str) -> Iterator[None]:
    """Errors of writing `what` (an output, the quarantine) under `location` as an OutputError that
    names both. The message keeps only the error's type and kind: a storage error's text may quote
    a key or, from pyarrow, bytes of the file."""
    try:
        yield
    except VaultlineError:  # already says what and where (a key the writer could not wrap with)
        raise
    except Exception as exc:
        raise write_failure(what, location, exc) from None


def sink_failure(pending: list[PendingOutput], exc: OSError) -> VaultlineError | None:
    """An OSError out of `collect_all` as the failure of the output it belongs to, or None. Polars'
    own Parquet sink (a plain output) raises object-store errors as they are, naming the object it
    was writing, which is how the output is known (the longest name found: `out/` is in `archive/out/`);
    anything else (a source read) is not an output's."""
    text = str(exc)
    named = [output for output in pending if output.sink is None and output.target in text]
    if not named:
        return None
    output = max(named, key=lambda candidate: len(candidate.target))
    return write_failure(f"output {output.name}", output.directory, exc)


def write_failure(what: str, location: str, exc: BaseException) -> OutputError | OutputUnavailableError:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    code = aws_error_code(cause)
    detail = f"{type(exc).__name__}{f', {code}' if code else ''}"
    if is_transient(exc):
        return OutputUnavailableError(
            f"{what} cannot be written: its location could not be reached ({detail}); nothing was committed",
            where=location,
            hint=f"{S3_UNREACHABLE_HINT}; {DOCTOR_HINT}",
        )
    if isinstance(exc, FileNotFoundError):
        reason, hint = (
            "the bucket or directory does not exist",
            "create the bucket or directory, or correct the path",
        )
    elif isinstance(exc, PermissionError):
        reason, hint = (
            "access was refused",
            "let the run's credentials write there (s3:PutObject, s3:DeleteObject)",
        )
    else:
        reason, hint = "the write failed", "check that the location is reachable and writable, then run again"
    return OutputError(
        f"{what} cannot be written: {reason} ({detail})", where=location, hint=f"{hint}; {DOCTOR_HINT}"
    )


def _make_directory(output: str, directory: str) -> None:
    try:
        Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise OutputError(
            f"output {output}: its directory {directory} cannot be created ({exc.strerror})",
            hint="give the output a path where you can create directories",
        ) from None


def fsync_rename(tmp: str, final: str) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    # the rename itself is durable only once the directory entry is
    directory = os.open(os.path.dirname(final) or ".", os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
