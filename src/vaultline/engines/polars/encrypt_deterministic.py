"""encrypt_deterministic on Polars: AES-SIV (RFC 5297), vectorized, reversible with the domain key.

Ciphertext format (every engine must reproduce it; `cryptography`'s `AESSIV` is the reference)::

    K    = ctx.domain_key(domain, "siv")                      # 32 bytes
    key  = HKDF-SHA256(K, salt=none, info=SIV_KEY_INFO, 64)   # AES-SIV-512: two AES-256 keys
    out  = base64url_nopad(AESSIV(key).encrypt(utf8(text), associated_data=None))

`text` is the canonical text of the value (`tokenize.canonical_text`: integers, dates, booleans...).
No associated data: the domain already selects the key. Equal texts give equal outputs within a
domain; the output reveals the length of the text. Nulls stay null; output is String.

The kernel (`vaultline.crypto.siv`) runs per batch on the column's Arrow buffers; the base64 step
is Polars' own vectorized encoder, made URL-safe with two literal replacements.
`decrypt_column` is the inverse, used by detokenization and by the tests.
"""

from __future__ import annotations

from typing import Any, NoReturn

import polars as pl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vaultline.crypto import siv
from vaultline.engines.polars.base import StepContext, StepResult, key_version, require_columns
from vaultline.engines.polars.format_preserving import from_ragged, map_non_null, ragged
from vaultline.engines.polars.text import canonical_text
from vaultline.keys.secret import SecretBytes
from vaultline.transforms.encrypt_deterministic import Params

STEP = "encrypt_deterministic"
ALGORITHM = "AES-SIV-512"
PURPOSE = "siv"
SIV_KEY_INFO = b"vaultline/v1/aes-siv-512"
"""HKDF info that stretches the 32-byte domain key to the 64 bytes AES-SIV-512 needs."""


def siv_key(ctx: StepContext, domain: str) -> SecretBytes:
    """The 64-byte AES-SIV key of `domain`, derived deterministically from its 32-byte "siv" key."""
    base = ctx.domain_key(domain, PURPOSE)
    derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=SIV_KEY_INFO).derive(base.reveal())
    return SecretBytes(derived, f"{ALGORITHM}/{domain}")


class SivKernel:
    """The per-batch function handed to Polars; holds the key, refuses to be printed or pickled."""

    __slots__ = ("_decrypting", "_key")

    def __init__(self, key: SecretBytes, *, decrypting: bool) -> None:
        self._key = key
        self._decrypting = decrypting

    def __call__(self, series: pl.Series) -> pl.Series:
        return map_non_null(series, self._values, pl.String if self._decrypting else pl.Binary)

    def _values(self, series: pl.Series) -> pl.Series:
        if self._decrypting:
            data, offsets = siv.decrypt_ragged(self._key.reveal(), ragged(series))
            return from_ragged(series.name, data, offsets, pl.String)
        data, offsets = siv.encrypt_ragged(self._key.reveal(), ragged(series))
        return from_ragged(series.name, data, offsets, pl.Binary)

    def __repr__(self) -> str:
        return "SivKernel(<hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("SivKernel cannot be pickled: key material must not leave the process")


def encrypt_expr(text: pl.Expr, key: SecretBytes) -> pl.Expr:
    """URL-safe, unpadded base64 of the AES-SIV ciphertext of a String expression."""
    cipher = text.map_batches(SivKernel(key, decrypting=False), return_dtype=pl.Binary, is_elementwise=True)
    encoded = cipher.bin.encode("base64")
    return (
        encoded.str.replace_all("+", "-", literal=True)
        .str.replace_all("/", "_", literal=True)
        .str.strip_chars_end("=")
    )


def decrypt_expr(text: pl.Expr, key: SecretBytes) -> pl.Expr:
    """The plaintext text of an `encrypt_expr` output; a TransformError if any value is not authentic."""
    standard = text.str.replace_all("-", "+", literal=True).str.replace_all("_", "/", literal=True)
    padded = standard.str.pad_end((standard.str.len_bytes() + 3) // 4 * 4, "=")
    cipher = padded.str.decode("base64")
    return cipher.map_batches(SivKernel(key, decrypting=True), return_dtype=pl.String, is_elementwise=True)


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    columns = list(dict.fromkeys(params.columns))
    schema = require_columns(frame, columns, ctx, STEP)
    key = siv_key(ctx, params.domain)
    out = frame.with_columns(
        encrypt_expr(canonical_text(c, schema[c], ctx, STEP), key).alias(c) for c in columns
    )
    facts: dict[str, Any] = {
        "columns": columns,
        "domain": params.domain,
        "algorithm": ALGORITHM,
        "encoding": "base64url-nopad",
        "key_version": key_version(ctx, PURPOSE, params.domain),
    }
    return StepResult(out, facts=facts)


def decrypt_column(column: str, domain: str, ctx: StepContext) -> pl.Expr:
    """An expression giving back the canonical text of an `encrypt_deterministic` output column."""
    return decrypt_expr(pl.col(column), siv_key(ctx, domain)).alias(column)
