"""Sensitive-data discovery: which columns hold PII, PHI, PCI or credentials, with evidence and profiles.

`classify_frame` classifies a sample already in memory; `sample.classify_source` samples a source
(CSV, Parquet, JSON Lines, local or S3) first. See `docs/classify.md` for the method and catalogue.
"""

from vaultline.classify.classifier import ColumnFinding, classify_frame

__all__ = ["ColumnFinding", "classify_frame"]
