"""Read a committed dataset version: its files from the catalog, decrypted with the caller's keys.

Only files a committed version lists are read (an uncommitted file of a crashed run is invisible).
Each file's SHA-256 is checked against the catalog before it is decrypted: a file changed or
replaced after the commit is refused. A column whose key the caller's key provider refuses is
refused by name, with the key (`ColumnKeyUnavailable`).
"""

from __future__ import annotations

from typing import Any

from vaultline.catalog.datasets import DatasetCatalog
from vaultline.errors import TerminalError
from vaultline.keys.provider import KeyProvider
from vaultline.storage import locations


class DatasetFileChanged(TerminalError):
    """A file of a committed version no longer matches the SHA-256 recorded at commit."""


def _verified(location: str, sha256: str) -> None:
    try:
        digest = locations.sha256_of(location)[0]
    except Exception as exc:  # a committed file gone, refused, or its store out of reach: named
        raise locations.unreadable(location, exc) from None
    if digest != sha256:
        raise DatasetFileChanged(
            f"{location} does not match the SHA-256 its dataset version recorded",
            hint="the file was modified or replaced after commit: restore it, or read another version",
        )


def read_dataset(
    catalog: DatasetCatalog, ref: str, provider: KeyProvider, *, columns: list[str] | None = None,
    limit: int | None = None,
) -> tuple[str, int, Any]:  # fmt: skip
    """(dataset, version, pyarrow Table) for `DATASET[@VERSION]`."""
    import pyarrow as pa

    from vaultline.storage.encrypted_parquet import read_table

    dataset, version = catalog.parse_ref(ref)
    tables: list[Any] = []
    rows = 0
    for entry in catalog.files(dataset, version):
        # The first file is read whatever the limit: reading it checks that the columns exist and that
        # the caller may decrypt them, and gives even a 0-row result their schema.
        if limit is not None and rows >= limit and tables:
            break
        _verified(entry.location, entry.sha256)
        filesystem = locations.filesystem(entry.location) if locations.is_remote(entry.location) else None
        table = read_table(entry.location, provider, columns=columns, filesystem=filesystem)
        tables.append(table)
        rows += table.num_rows
    table = pa.concat_tables(tables) if tables else pa.table({})
    return dataset, version, table.slice(0, limit) if limit is not None else table
