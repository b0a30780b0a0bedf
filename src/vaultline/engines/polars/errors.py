"""Turn engine exceptions into Vaultline errors without the data values they often quote."""

from __future__ import annotations

import re

from vaultline.errors import TransformError

# Polars quotes offending values in brackets, backticks or quotes; keep the structure, drop the values.
_QUOTED = re.compile(r"(\[[^\]]*\]|`[^`]*`|\"[^\"]*\"|'[^']*')")


def scrub(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else ""
    return _QUOTED.sub("<…>", first)[:300]


def engine_failure(exc: BaseException, during: str) -> TransformError:
    return TransformError(
        f"the polars engine failed during {during}: {type(exc).__name__}: {scrub(str(exc))}",
        hint="values are never shown; check the column types the spec expects (is a `clean` cast missing?)",
    )
