"""Outputs on Polars: one Parquet file per output and run, encrypted at rest unless the spec says not.

An encrypted output streams: Polars hands record batches to a pyarrow `ParquetWriter` that applies
Parquet Modular Encryption (`storage/encrypted_parquet.py`), so the rows are never held twice. A
plain output uses Polars' own Parquet sink. Either way a local file is written under a hidden
temporary name and renamed (after fsync) only when the whole run succeeded; an S3 object appears
whole when its upload completes. The file name carries the run id, so files of different runs
never collide, and only the catalog commit that follows makes a file part of a dataset version.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from vaultline.engines.polars import backpressure
from vaultline.errors import OutputError, TransformError
from vaultline.spec.models import Pipeline
from vaultline.storage import locations
from vaultline.storage.encrypted_parquet import key_material_path
from vaultline.storage.output_keys import ColumnKeys, column_keys

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
    encryption: dict[str, Any] | None


class _EncryptingSink:
    """The callback Polars streams batches into; opens the encrypting writer on the first batch."""

    def __init__(
        self, target: str, keys: ColumnKeys, provider: Any, compression: str, schema: Any, *, drains: bool
    ) -> None:
        """`drains`: the sink reports the rows it wrote to the run's backpressure gate (one output
        does: every output receives the same rows)."""
        self.target, self.keys, self.provider, self.compression = target, keys, provider, compression
        self.schema = schema
        self.drains = drains
        self.writer: Any = None

    def _open(self, dictionary: bool | list[str] = True) -> Any:
        from vaultline.storage.encrypted_parquet import EncryptionPlan, open_writer

        keys = self.keys
        plan = EncryptionPlan(
            keys.footer_key, keys.column_keys, keys.plaintext_footer, keys.external_key_material
        )
        filesystem = locations.filesystem(self.target) if locations.is_remote(self.target) else None
        return open_writer(self.target, self.schema, plan, self.provider, compression=self.compression,
                           filesystem=filesystem, dictionary=dictionary)  # fmt: skip

    def __call__(self, batch: pl.DataFrame) -> None:
        if self.writer is None:
            self.writer = self._open(dictionary_columns(batch))
        self.writer.write_table(batch.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(self.schema))
        if self.drains:
            backpressure.drained(batch.height)

    def close(self) -> None:
        if self.writer is None:  # no rows: still a valid, encrypted, empty file
            self.writer = self._open()
        self.writer.close()


@dataclass
class PendingOutput:
    name: str
    target: str
    final: str
    columns: list[str]
    keys: ColumnKeys | None
    sink: _EncryptingSink | None

    @property
    def is_temporary(self) -> bool:
        return self.target != self.final


def _arrow_schema(frame: pl.LazyFrame) -> Any:
    empty = pl.DataFrame(schema=frame.collect_schema())
    return empty.to_arrow(compat_level=pl.CompatLevel.oldest()).schema


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
        remote = locations.is_remote(final)
        target = final if remote else f"{directory}/.{pipeline.name}-{run_id}.parquet.tmp"
        if not remote:
            _make_directory(name, directory)
        selected = frame.select(columns)
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
                target, keys, provider, output.compression, _arrow_schema(selected), drains=drains
            )
            sinks.append(selected.sink_batches(sink, chunk_size=BATCH_ROWS, lazy=True))
        pending.append(PendingOutput(name, target, final, list(columns), keys, sink))
    return sinks, pending


def finish_outputs(pending: list[PendingOutput], rows: int) -> list[OutputReport]:
    """Close the writers, move local files to their final names, and fingerprint them."""
    reports = []
    for output in pending:
        if output.sink is not None:
            output.sink.close()
        if output.is_temporary:
            if output.keys is not None and output.keys.external_key_material:
                fsync_rename(key_material_path(output.target), key_material_path(output.final))
            fsync_rename(output.target, output.final)
        digest, size = locations.sha256_of(output.final)
        encryption = output.keys.as_json() if output.keys else None
        reports.append(
            OutputReport(output.name, output.final, rows, digest, size, output.columns, encryption)
        )
    return reports


def discard_outputs(pending: list[PendingOutput]) -> None:
    """A failed run leaves nothing under a final name: temporary files go, writers are abandoned."""
    for output in pending:
        if output.sink is not None and output.sink.writer is not None:
            with contextlib.suppress(Exception):  # the run already failed; the file is removed next
                output.sink.writer.close()
        if output.is_temporary:
            Path(output.target).unlink(missing_ok=True)
            Path(key_material_path(output.target)).unlink(missing_ok=True)


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
