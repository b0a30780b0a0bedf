"""Which module implements each transform on the Polars engine: an explicit table, imported lazily."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
    "k_anonymity": "vaultline.engines.polars.k_anonymity",
    "expect": "vaultline.engines.polars.expect",
}


# Slow imports a step will need (third-party, or our numba kernels), started in a background thread
# when the run begins so they overlap with reading and fitting (scikit-learn alone costs 1.5-2.5 s of
# start-up, numba 0.5 s). A module that defines `warm()` has it called right after its import.
PREFETCH: dict[str, tuple[str, ...]] = {
    "format_preserving": ("vaultline.crypto._ff1_short", "vaultline.engines.polars._ragged"),
    "mask": ("vaultline.engines.polars._ragged",),
    "anomaly": ("sklearn.ensemble", "numba"),
    "k_anonymity": ("pycanon.anonymity",),
    "expect": ("pandera.polars",),
}


def prefetch(step_names: list[str]) -> None:
    modules = [m for name in dict.fromkeys(step_names) for m in PREFETCH.get(name, ())]
    if modules:
        threading.Thread(target=_import_quietly, args=(modules,), daemon=True).start()


def _import_quietly(modules: list[str]) -> None:
    # A failure is reported by the step that needs the module, with a fix; not as a thread traceback.
    with _collector_paused():
        for module in modules:
            try:
                warm = getattr(import_module(module), "warm", None)
                if warm is not None:
                    warm()
            except Exception:  # noqa: S112 - the step that needs it raises it again, and reports it
                continue


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the prefetch imports run; as it was after.

    Importing scikit-learn, pandera and numba creates some 150,000 objects the collector tracks,
    none of them garbage, and its full passes over that growing heap cost 0.57 s of a run (four
    passes, each holding the GIL the run's own threads need). Objects freed by reference counting
    still go at once; cycles made meanwhile wait for the next collection."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def implementation(name: str) -> StepImplementation:
    if name not in IMPLEMENTATIONS:
        raise TransformError(f"the polars engine has no implementation of '{name}'")
    apply: StepImplementation = import_module(IMPLEMENTATIONS[name]).apply
    return apply
