"""Helpers of the source-reading tests: a Source from fields, a read collected as the executor does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources import Ingest
from vaultline.spec.sources import Source


def source(**fields: Any) -> Source:
    return Source.model_validate(fields)


def collect(ingest: Ingest) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Valid and quarantined rows, collected together as the executor does."""
    lazies = [ingest.frame] + ([ingest.quarantine] if ingest.quarantine is not None else [])
    frames = pl.collect_all(lazies)
    quarantine = frames[1] if len(frames) > 1 else pl.DataFrame(schema={ROW_ID: pl.UInt64, REASON: pl.String})
    return frames[0].sort(ROW_ID), quarantine.sort(ROW_ID)


def write(path: Path, text: str, encoding: str = "utf-8") -> str:
    path.write_bytes(text.encode(encoding))
    return str(path)
