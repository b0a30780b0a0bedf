"""tokenize on Polars: HMAC-SHA256 keyed deterministic tokens, vectorized with polars-hash.

Token format (every engine must reproduce it byte for byte; `vaultline.crypto.tokens` is the
pure-Python reference)::

    K     = ctx.domain_key(domain, "tokenize")   # 32 bytes; the local keyring derives it with HKDF-SHA256,
                                                  # info "vaultline/v1/tokenize/<domain>"
    key   = lowercase hex text of K               # 64 ASCII characters; its UTF-8 bytes are the HMAC key
    token = prefix + HMAC-SHA256(key, utf8(text)).hexdigest()[:length]

The HMAC key is the hex *text* (64 bytes), not the 32 raw bytes, because polars-hash takes its key
as a string. Nulls stay null; the output column is always String.

`text` is the canonical text form of the value defined in `engines/polars/text.py`.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import polars_hash as plh

from vaultline.engines.polars.base import StepContext, StepResult, key_version, require_columns
from vaultline.engines.polars.text import canonical_text
from vaultline.transforms.tokenize import Params

ALGORITHM = "HMAC-SHA256"


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    columns = list(dict.fromkeys(params.columns))
    schema = require_columns(frame, columns, ctx, "tokenize")
    texts = frame.with_columns(canonical_text(c, schema[c], ctx, "tokenize").alias(c) for c in columns)

    key = ctx.domain_key(params.domain, "tokenize")
    # SECURITY: polars-hash takes the key as a plugin kwarg, which is pickled into the query plan.
    # The plan returned here therefore holds the key: never call explain() on it, never log,
    # serialize or cache it (LazyFrame.serialize, .cache(), plan dumps in error reports).
    hmac_key = key.reveal().hex()
    tokens = [plh.col(c).chash.hmac_sha256(key=hmac_key).str.head(params.length) for c in columns]
    if params.prefix:
        tokens = [pl.concat_str(pl.lit(params.prefix), t) for t in tokens]
    out = texts.with_columns(t.alias(c) for t, c in zip(tokens, columns, strict=True))

    facts: dict[str, Any] = {
        "columns": columns,
        "algorithm": ALGORITHM,
        "domain": params.domain,
        "length": params.length,
        "key_version": key_version(ctx, "tokenize", params.domain),
    }
    return StepResult(out, facts=facts)
