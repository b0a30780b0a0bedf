"""Turn engine exceptions into Vaultline errors without the data values they often quote."""

from __future__ import annotations

from vaultline.errors import TransformError, without_values


def engine_failure(exc: BaseException, during: str) -> TransformError:
    return TransformError(
        f"the polars engine failed during {during}: {type(exc).__name__}: {without_values(str(exc))}",
        hint="values are never shown; check the column types the spec expects (is a `clean` cast missing?)",
    )
