"""hash on Polars: unkeyed SHA-256 / SHA-512 of each value's UTF-8 text, lowercase hex.

Values are hashed in the canonical text form `tokenize` documents (integers as decimal digits,
dates as ISO 8601...), so a hash equals `hashlib.sha256(text.encode()).hexdigest()`. Nulls stay null.
"""

from __future__ import annotations

import polars as pl
import polars_hash as plh

from vaultline.engines.polars.base import StepContext, StepResult, require_columns
from vaultline.engines.polars.text import canonical_text
from vaultline.transforms.hash import Params


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    columns = list(dict.fromkeys(params.columns))
    schema = require_columns(frame, columns, ctx, "hash")
    texts = frame.with_columns(canonical_text(c, schema[c], ctx, "hash").alias(c) for c in columns)
    if params.algorithm == "sha256":
        digests = [plh.col(c).chash.sha2_256() for c in columns]
    else:
        digests = [plh.col(c).chash.sha2_512() for c in columns]
    return StepResult(texts.with_columns(digests), facts={"columns": columns, "algorithm": params.algorithm})
