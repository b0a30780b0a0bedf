"""Read a Parquet file Vaultline wrote, encrypted (PME) or not, with the keys of a state directory."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vaultline.keys.local import LocalKeyring
from vaultline.storage import locations


def is_encrypted(path: str | Path) -> bool:
    with locations.filesystem(str(path)).open(str(path), "rb") as handle:
        handle.seek(-4, 2)
        return bool(handle.read(4) == b"PARE")  # an encrypted footer; plain files end with PAR1


def read_parquet(path: str | Path, state_root: Path) -> pa.Table:
    remote = locations.is_remote(str(path))
    filesystem = locations.filesystem(str(path)) if remote else None
    if not is_encrypted(path):
        return pq.read_table(str(path), filesystem=filesystem)
    from vaultline.storage.encrypted_parquet import read_table

    return read_table(str(path), LocalKeyring(state_root, warn=False), filesystem=filesystem)
