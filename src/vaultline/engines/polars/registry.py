"""Which module implements each transform on the Polars engine: an explicit table, imported lazily."""

from __future__ import annotations

from importlib import import_module

from vaultline.engines.polars.base import StepImplementation
from vaultline.errors import TransformError

IMPLEMENTATIONS: dict[str, str] = {
    "clean": "vaultline.engines.polars.clean",
    "tokenize": "vaultline.engines.polars.tokenize",
    "encrypt_deterministic": "vaultline.engines.polars.encrypt_deterministic",
    "format_preserving": "vaultline.engines.polars.format_preserving",
    "hash": "vaultline.engines.polars.hash",
    "mask": "vaultline.engines.polars.mask",
    "redact": "vaultline.engines.polars.redact",
    "drop": "vaultline.engines.polars.drop",
    "generalize": "vaultline.engines.polars.generalize",
    "bin": "vaultline.engines.polars.bin",
    "encode": "vaultline.engines.polars.encode",
    "derive": "vaultline.engines.polars.derive",
    "anomaly": "vaultline.engines.polars.anomaly",
}


def implementation(name: str) -> StepImplementation:
    if name not in IMPLEMENTATIONS:
        raise TransformError(f"the polars engine has no implementation of '{name}'")
    apply: StepImplementation = import_module(IMPLEMENTATIONS[name]).apply
    return apply
